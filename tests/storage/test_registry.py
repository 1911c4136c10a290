"""Choosing a driver by URL scheme (storage_drivers.registry) and the built-in drivers plugin."""

from __future__ import annotations

import subprocess
import sys

import pluggy
import pytest

from core.testing.servers.seaweedfs import SeaweedServer
from storage_drivers import plugin
from storage_drivers.base import BlobStat, StorageDriver, StorageMisconfigured
from storage_drivers.local import LocalDriver
from storage_drivers.minio import MinioDriver
from storage_drivers.registry import BUILTIN_DRIVERS, LazyDriverMap, open_storage, url_scheme
from storage_drivers.s3 import S3Driver
from tests.storage.targets import remote_url


class RecordingDriver(StorageDriver):
    """A stand-in third-party driver that remembers the URL it was built from."""

    scheme = "memory"

    def __init__(self, url: str) -> None:
        self.url = url

    @classmethod
    def from_url(cls, url: str) -> RecordingDriver:
        return cls(url)

    def put(self, key, stream, size=None):  # pragma: no cover - never called
        raise NotImplementedError

    def open(self, key, start=0, end=None):  # pragma: no cover - never called
        raise NotImplementedError

    def stat(self, key) -> BlobStat | None:  # pragma: no cover - never called
        raise NotImplementedError

    def delete(self, key):  # pragma: no cover - never called
        raise NotImplementedError

    def iter_keys(self, prefix=""):  # pragma: no cover - never called
        raise NotImplementedError


def test_open_storage_builds_the_class_registered_for_the_scheme() -> None:
    driver = open_storage("memory://anything?x=1", {"memory": RecordingDriver})

    assert isinstance(driver, RecordingDriver)
    assert driver.url == "memory://anything?x=1"


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("file:///var/lib/blobs", "file"),
        ("/var/lib/blobs", "file"),
        ("s3://bucket?region=eu-west-1", "s3"),
        ("minio://host:9000/bucket", "minio"),
        ("relative/path", ""),
    ],
)
def test_url_scheme_treats_a_plain_absolute_path_as_file(url: str, scheme: str) -> None:
    assert url_scheme(url) == scheme


def test_a_file_url_and_a_plain_path_open_the_local_driver(tmp_path) -> None:
    assert isinstance(open_storage(f"file://{tmp_path}/a", BUILTIN_DRIVERS), LocalDriver)
    assert isinstance(open_storage(f"{tmp_path}/b", BUILTIN_DRIVERS), LocalDriver)


@pytest.mark.s3
@pytest.mark.parametrize(("kind", "driver_class"), [("s3", S3Driver), ("minio", MinioDriver)])
def test_remote_urls_open_their_drivers(
    kind: str, driver_class: type[StorageDriver], s3_server: SeaweedServer, s3_bucket: str
) -> None:
    driver = open_storage(remote_url(kind, s3_server, s3_bucket), BUILTIN_DRIVERS)

    assert type(driver) is driver_class


def test_an_unknown_scheme_is_a_configuration_error_listing_the_known_schemes() -> None:
    with pytest.raises(StorageMisconfigured) as caught:
        open_storage("ftp://host/blobs?secret_key=hunter2", BUILTIN_DRIVERS)

    message = str(caught.value)
    assert "unknown storage scheme 'ftp'" in message
    assert "known schemes: file, minio, s3" in message
    assert "hunter2" not in message


def test_a_relative_path_is_an_unknown_scheme() -> None:
    with pytest.raises(StorageMisconfigured, match="unknown storage scheme ''"):
        open_storage("blobs", BUILTIN_DRIVERS)


def test_builtin_drivers_map_each_scheme_to_its_class() -> None:
    assert dict(BUILTIN_DRIVERS) == {"file": LocalDriver, "s3": S3Driver, "minio": MinioDriver}
    for scheme, driver_class in BUILTIN_DRIVERS.items():
        assert driver_class.scheme == scheme


def test_a_lazy_map_imports_nothing_until_looked_up() -> None:
    lazy = LazyDriverMap({"broken": "no_such_module_anywhere:Driver"})

    assert "broken" in lazy
    assert list(lazy) == ["broken"]
    with pytest.raises(ModuleNotFoundError):
        lazy["broken"]


def test_a_lazy_map_refuses_a_target_that_is_not_a_driver() -> None:
    with pytest.raises(TypeError, match="not a StorageDriver"):
        LazyDriverMap({"bad": "storage_drivers.base:BlobStat"})["bad"]


def test_importing_the_registry_imports_neither_boto3_nor_minio() -> None:
    code = (
        "import sys, storage_drivers.registry\n"
        "loaded = [name for name in ('boto3', 'botocore', 'minio') if name in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_the_plugin_registers_the_builtin_drivers_through_the_hook() -> None:
    from core import hookspecs

    manager = pluggy.PluginManager("partsbin")
    manager.add_hookspecs(hookspecs)
    manager.register(plugin)

    [drivers] = manager.hook.register_storage_drivers()

    assert drivers == {
        "file": "storage_drivers.local:LocalDriver",
        "s3": "storage_drivers.s3:S3Driver",
        "minio": "storage_drivers.minio:MinioDriver",
    }
    assert dict(LazyDriverMap(drivers)) == {
        "file": LocalDriver,
        "s3": S3Driver,
        "minio": MinioDriver,
    }


def test_an_app_on_the_local_driver_imports_neither_boto3_nor_minio(tmp_path) -> None:
    code = (
        "import sys\n"
        "from core.app import create_app\n"
        f"create_app({{'database_url': 'sqlite:///{tmp_path}/x.db', "
        f"'storage_url': 'file://{tmp_path}/blobs'}})\n"
        "loaded = sorted(m for m in ('boto3', 'botocore', 'minio') if m in sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
