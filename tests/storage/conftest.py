"""Fixtures for the storage driver tests: one ``driver`` fixture, parametrized over every driver.

The ``file`` driver writes to a temp folder; the ``s3`` (boto3) and ``minio`` (SDK) drivers talk
to the session's SeaweedFS server, each test under its own key prefix of the shared bucket.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from storage_drivers.base import StorageDriver
from storage_drivers.cache import BlobCache, CachingDriver
from storage_drivers.registry import BUILTIN_DRIVERS, open_storage
from tests.storage.targets import remote_url

DRIVER_KINDS = [
    pytest.param("file", id="local"),
    pytest.param("s3", id="s3", marks=pytest.mark.s3),
    pytest.param("minio", id="minio", marks=pytest.mark.s3),
    pytest.param("cached-s3", id="cached-s3", marks=pytest.mark.s3),
]


@pytest.fixture(params=DRIVER_KINDS)
def driver_kind(request: pytest.FixtureRequest) -> str:
    """The URL scheme of the driver under test."""
    kind: str = request.param
    return kind


@pytest.fixture
def driver_url(driver_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A storage URL for an empty namespace of the driver under test."""
    if driver_kind == "file":
        return f"file://{tmp_path / 'blobs'}"
    server = request.getfixturevalue("s3_server")
    bucket = request.getfixturevalue("s3_bucket")
    prefix = request.getfixturevalue("s3_prefix")
    return remote_url(driver_kind.removeprefix("cached-"), server, bucket, prefix)


@pytest.fixture
def driver(driver_url: str, driver_kind: str, tmp_path: Path) -> Iterator[StorageDriver]:
    """The driver under test, built through the registry like the app builds it.

    ``cached-s3`` is the s3 driver behind the read-through cache (storage_drivers.cache), which
    must keep the same contract.
    """
    built = open_storage(driver_url, BUILTIN_DRIVERS)
    if driver_kind.startswith("cached-"):
        built = CachingDriver(built, BlobCache(str(tmp_path / "cache"), 64 * 1024 * 1024))
    yield built
    built.close()
