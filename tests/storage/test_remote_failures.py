"""How the s3 and minio drivers fail: bad credentials, missing buckets, outages, hung servers.

Outages use a SeaweedFS server of this module's own, never the session's shared one.
"""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from core.testing.servers.seaweedfs import SeaweedServer
from storage_drivers.base import StorageDriver, StorageMisconfigured, StorageUnavailable
from storage_drivers.registry import BUILTIN_DRIVERS, open_storage
from tests.storage.streams import MIB, GeneratedStream
from tests.storage.targets import REMOTE_KINDS, remote_url

pytestmark = pytest.mark.s3

DATA = b"survives the outage"
#: A failing call must give up within this many seconds (the drivers' budget is ~2-4 s).
FAIL_FAST_SECONDS = 10.0


@pytest.fixture(params=REMOTE_KINDS)
def remote_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


def elapsed_since(started: float) -> float:
    return time.monotonic() - started


# --- credentials and buckets (the shared server) -----------------------------------------


@pytest.mark.parametrize(
    ("credentials", "problem"),
    [
        pytest.param({"secret_key": "not-the-secret"}, "secret key is wrong", id="wrong-secret"),
        pytest.param(
            {"access_key": "nobody", "secret_key": "x"},
            "does not know the access key 'nobody'",
            id="unknown-access-key",
        ),
    ],
)
def test_refused_credentials_are_a_configuration_error_found_quickly(
    remote_kind: str,
    s3_server: SeaweedServer,
    s3_bucket: str,
    credentials: dict[str, str],
    problem: str,
) -> None:
    url = remote_url(remote_kind, s3_server, s3_bucket, **credentials)
    started = time.monotonic()

    with pytest.raises(StorageMisconfigured, match=problem) as caught:
        open_storage(url, BUILTIN_DRIVERS)

    assert elapsed_since(started) < FAIL_FAST_SECONDS
    assert credentials["secret_key"] not in str(caught.value)


def test_a_missing_bucket_is_a_configuration_error(
    remote_kind: str, s3_server: SeaweedServer
) -> None:
    url = remote_url(remote_kind, s3_server, f"partsbin-missing-{uuid.uuid4().hex[:8]}")

    with pytest.raises(StorageMisconfigured, match=r"does not exist.*create_bucket=true"):
        open_storage(url, BUILTIN_DRIVERS)


def test_create_bucket_true_creates_a_missing_bucket(
    remote_kind: str, s3_server: SeaweedServer
) -> None:
    bucket = f"partsbin-created-{uuid.uuid4().hex[:8]}"
    url = remote_url(remote_kind, s3_server, bucket, create_bucket="true")

    driver = open_storage(url, BUILTIN_DRIVERS)
    driver.put("hello", io.BytesIO(DATA), len(DATA))

    assert b"".join(driver.open("hello")) == DATA
    assert bucket in {entry["Name"] for entry in s3_server.client().list_buckets()["Buckets"]}


# --- outages (a server of this module's own) ---------------------------------------------

PRIVATE_BUCKET = "partsbin-outage"


@pytest.fixture(scope="module")
def private_server() -> Iterator[SeaweedServer]:
    with SeaweedServer() as server:
        server.create_bucket(PRIVATE_BUCKET)
        yield server


@pytest.fixture
def outage_server(private_server: SeaweedServer) -> Iterator[SeaweedServer]:
    """The module's own server, running; brought back up after the test whatever it did."""
    yield private_server
    private_server.resume()
    if not private_server.is_running:
        private_server.restart()


OPERATIONS: dict[str, Callable[[StorageDriver], object]] = {
    "put": lambda driver: driver.put("new", io.BytesIO(DATA), len(DATA)),
    "open": lambda driver: driver.open("before"),
    "stat": lambda driver: driver.stat("before"),
    "delete": lambda driver: driver.delete("before"),
    "iter_keys": lambda driver: list(driver.iter_keys()),
    "check": lambda driver: driver.check(),
}


def test_an_outage_makes_every_operation_unavailable_until_the_server_returns(
    remote_kind: str, outage_server: SeaweedServer, s3_prefix: str
) -> None:
    driver = open_storage(
        remote_url(remote_kind, outage_server, PRIVATE_BUCKET, s3_prefix), BUILTIN_DRIVERS
    )
    driver.put("before", io.BytesIO(DATA), len(DATA))
    driver.put("large", GeneratedStream(16 * MIB), 16 * MIB)  # type: ignore[arg-type]
    reading = driver.open("large")
    next(reading)

    outage_server.halt()

    with pytest.raises(StorageUnavailable):
        for _ in reading:  # a read in progress breaks off
            pass
    for name, operation in OPERATIONS.items():
        started = time.monotonic()
        with pytest.raises(StorageUnavailable, match="cannot reach"):
            operation(driver)
        assert elapsed_since(started) < FAIL_FAST_SECONDS, f"{name} took too long to fail"

    outage_server.restart()

    assert b"".join(driver.open("before")) == DATA  # the same driver, not rebuilt
    driver.put("after", io.BytesIO(DATA), len(DATA))
    assert driver.stat("after") is not None


def test_a_hung_server_times_out_instead_of_blocking(
    remote_kind: str, outage_server: SeaweedServer, s3_prefix: str
) -> None:
    url = remote_url(
        remote_kind,
        outage_server,
        PRIVATE_BUCKET,
        s3_prefix,
        connect_timeout="1",
        read_timeout="1",
    )
    driver = open_storage(url, BUILTIN_DRIVERS)
    driver.put("before", io.BytesIO(DATA), len(DATA))

    outage_server.pause()
    started = time.monotonic()
    with pytest.raises(StorageUnavailable, match="cannot reach"):
        driver.stat("before")
    assert elapsed_since(started) < FAIL_FAST_SECONDS
    outage_server.resume()

    assert driver.stat("before") is not None
