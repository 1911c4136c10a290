"""The read-through cache (storage_drivers.cache) in front of a real S3 server (SeaweedFS)."""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage_drivers.cache import STALE_TEMP_SECONDS, BlobCache, CachingDriver
from storage_drivers.registry import BUILTIN_DRIVERS, open_storage
from tests.storage.counting import CountingDriver, StreamBroke
from tests.storage.targets import remote_url

pytestmark = pytest.mark.s3

KIB = 1024


def blob(size: int, seed: bytes = b"") -> tuple[str, bytes]:
    """``(cas key, bytes)`` of ``size`` pseudo-random bytes."""
    data = hashlib.shake_256(seed + str(size).encode()).digest(size)
    return "cas/" + hashlib.sha256(data).hexdigest(), data


@pytest.fixture
def s3_url(s3_server, s3_bucket: str, s3_prefix: str) -> str:
    return remote_url("s3", s3_server, s3_bucket, s3_prefix)


@pytest.fixture
def store(s3_url: str) -> Iterator[CountingDriver]:
    """The real S3 driver, counting the calls the cache makes to it."""
    driver = CountingDriver(open_storage(s3_url, BUILTIN_DRIVERS))
    yield driver
    driver.close()


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def cached(store: CountingDriver, cache_dir: Path, max_bytes: int = 64 * 1024 * KIB):
    """The cache in front of ``store``; eviction runs only when a test calls it."""
    return CachingDriver(store, BlobCache(str(cache_dir), max_bytes, background=False))


def read(driver, key: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join(driver.open(key, start, end))


def temp_files(cache_dir: Path) -> list[Path]:
    return list((cache_dir / "tmp").iterdir())


# --- hits and misses --------------------------------------------------------------------------


def test_a_read_fills_the_cache_and_later_reads_ask_the_store_nothing(
    store: CountingDriver, cache_dir: Path
) -> None:
    key, data = blob(200 * KIB)
    store.inner.put(key, io.BytesIO(data), len(data))
    driver = cached(store, cache_dir)

    assert read(driver, key) == data
    store.reset()

    assert driver.stat(key).size == len(data)
    assert read(driver, key) == data
    assert read(driver, key, 10, 19) == data[10:20]
    assert driver.local_path(key) is not None
    assert store.calls == {}
    assert driver.cache.counters["hits"] >= 2


def test_a_ranged_read_of_a_missing_object_passes_through_without_filling(
    store: CountingDriver, cache_dir: Path
) -> None:
    key, data = blob(50 * KIB)
    store.inner.put(key, io.BytesIO(data), len(data))
    driver = cached(store, cache_dir)

    assert read(driver, key, 100, 199) == data[100:200]
    assert driver.local_path(key) is None


def test_keys_outside_the_immutable_prefixes_are_never_cached(
    store: CountingDriver, cache_dir: Path
) -> None:
    store.inner.put("docs/mutable.txt", io.BytesIO(b"v1"), 2)
    driver = cached(store, cache_dir)
    assert read(driver, "docs/mutable.txt") == b"v1"
    store.inner.put("docs/mutable.txt", io.BytesIO(b"v2"), 2)
    assert read(driver, "docs/mutable.txt") == b"v2"
    assert driver.local_path("docs/mutable.txt") is None


def test_a_thumbnail_put_through_the_cache_is_served_without_reading_it_back(
    store: CountingDriver, cache_dir: Path
) -> None:
    driver = cached(store, cache_dir)
    key = "thumbs/" + "a" * 64 + "-100.jpg"
    driver.put(key, io.BytesIO(b"jpeg bytes"), 10)
    store.reset()

    assert read(driver, key) == b"jpeg bytes"
    assert store.calls == {}


def test_a_fill_that_does_not_hash_to_its_name_is_not_kept(
    store: CountingDriver, cache_dir: Path
) -> None:
    key = "cas/" + "0" * 64  # these bytes do not hash to zeros
    store.inner.put(key, io.BytesIO(b"not the content"), 15)
    driver = cached(store, cache_dir)

    assert read(driver, key) == b"not the content"
    assert driver.local_path(key) is None
    assert driver.cache.counters["fills_discarded"] == 1
    assert temp_files(cache_dir) == []


def test_an_object_too_large_for_the_cache_is_streamed_not_kept(
    store: CountingDriver, cache_dir: Path
) -> None:
    key, data = blob(300 * KIB)
    store.inner.put(key, io.BytesIO(data), len(data))
    driver = cached(store, cache_dir, max_bytes=1024 * KIB)  # largest object: 256 KiB

    assert read(driver, key) == data
    assert driver.local_path(key) is None
    assert temp_files(cache_dir) == []


# --- eviction ---------------------------------------------------------------------------------


def test_eviction_keeps_the_cache_under_its_limit_and_the_recently_used_files(
    store: CountingDriver, cache_dir: Path
) -> None:
    driver = cached(store, cache_dir, max_bytes=500 * KIB)
    blobs = [blob(100 * KIB, bytes([i])) for i in range(8)]
    for key, data in blobs:
        store.inner.put(key, io.BytesIO(data), len(data))
        assert read(driver, key) == data
    long_ago = time.time() - 3600
    for index, (key, _data) in enumerate(blobs):  # oldest first, all older than a minute
        path = driver.cache.path(key)
        os.utime(path, (long_ago + index, os.stat(path).st_mtime))
    recently_used = blobs[0][0]
    assert driver.local_path(recently_used) is not None  # a hit refreshes its access time

    driver.cache.evict(wait=True)

    kept = [key for key, _ in blobs if os.path.exists(driver.cache.path(key))]
    total = sum(os.path.getsize(driver.cache.path(key)) for key in kept)
    assert total <= 500 * KIB * 0.9
    assert recently_used in kept
    assert blobs[1][0] not in kept  # the least recently used went first
    assert blobs[-1][0] in kept
    assert driver.cache.counters["evictions"] == len(blobs) - len(kept)
    for key, data in blobs:  # evicted or not, every object is still served
        assert read(driver, key) == data


# --- crashes and failures during a fill --------------------------------------------------------


def test_a_stream_that_fails_mid_fill_leaves_nothing_cached(
    store: CountingDriver, cache_dir: Path
) -> None:
    key, data = blob(512 * KIB)
    store.inner.put(key, io.BytesIO(data), len(data))
    driver = cached(store, cache_dir)
    store.fail_after_chunks = 3

    with pytest.raises(StreamBroke):
        read(driver, key)

    assert driver.local_path(key) is None
    assert temp_files(cache_dir) == []
    assert read(driver, key) == data  # the next read fills it whole
    assert driver.local_path(key) is not None


def test_a_reader_that_stops_early_leaves_nothing_cached(
    store: CountingDriver, cache_dir: Path
) -> None:
    key, data = blob(512 * KIB)
    store.inner.put(key, io.BytesIO(data), len(data))
    driver = cached(store, cache_dir)

    chunks = driver.open(key)
    next(chunks)
    chunks.close()  # type: ignore[attr-defined]  # the client went away

    assert driver.local_path(key) is None
    assert temp_files(cache_dir) == []


def _fill_halfway_then_die(s3_url: str, cache_dir: str, key: str) -> None:
    driver = CachingDriver(open_storage(s3_url, BUILTIN_DRIVERS), BlobCache(cache_dir, 2**26))
    chunks = driver.open(key)
    for _ in range(4):
        next(chunks)
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_worker_killed_mid_fill_leaves_a_temp_file_that_is_never_served_and_later_removed(
    store: CountingDriver, cache_dir: Path, s3_url: str
) -> None:
    key, data = blob(1024 * KIB)
    store.inner.put(key, io.BytesIO(data), len(data))
    driver = cached(store, cache_dir)

    child = multiprocessing.get_context("spawn").Process(
        target=_fill_halfway_then_die, args=(s3_url, str(cache_dir), key)
    )
    child.start()
    child.join(60)
    assert child.exitcode == -signal.SIGKILL

    (leftover,) = temp_files(cache_dir)
    assert 0 < leftover.stat().st_size < len(data)
    assert driver.local_path(key) is None
    assert read(driver, key) == data

    old = time.time() - STALE_TEMP_SECONDS - 60
    os.utime(leftover, (old, old))
    driver.cache.evict(wait=True)
    assert temp_files(cache_dir) == []


def _fill_at_the_same_time(s3_url: str, cache_dir: str, key: str, barrier) -> str:
    driver = CachingDriver(open_storage(s3_url, BUILTIN_DRIVERS), BlobCache(cache_dir, 2**26))
    chunks = driver.open(key)
    first = next(chunks)
    barrier.wait(30)  # both processes are mid-fill now
    data = first + b"".join(chunks)
    return hashlib.sha256(data).hexdigest()


def test_two_workers_filling_the_same_blob_both_succeed_and_one_copy_remains(
    store: CountingDriver, cache_dir: Path, s3_url: str
) -> None:
    key, data = blob(2048 * KIB)
    store.inner.put(key, io.BytesIO(data), len(data))
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        barrier = manager.Barrier(2)
        with context.Pool(2) as pool:
            results = pool.starmap(
                _fill_at_the_same_time, [(s3_url, str(cache_dir), key, barrier)] * 2
            )

    assert results == [key[4:], key[4:]]
    driver = cached(store, cache_dir)
    path = driver.local_path(key)
    assert path is not None
    assert Path(path).read_bytes() == data
    assert temp_files(cache_dir) == []


# --- damage -----------------------------------------------------------------------------------


def test_a_damaged_cache_file_is_detected_and_refetched(
    store: CountingDriver, cache_dir: Path
) -> None:
    key, data = blob(100 * KIB)
    store.inner.put(key, io.BytesIO(data), len(data))
    read(cached(store, cache_dir), key)
    path = Path(cached(store, cache_dir).cache.path(key))
    damaged = bytearray(path.read_bytes())
    damaged[1000] ^= 0xFF
    path.write_bytes(bytes(damaged))

    driver = cached(store, cache_dir)  # a process that has not verified the file yet
    store.reset()
    assert read(driver, key) == data
    assert driver.cache.counters["corrupt"] == 1
    assert store.calls["open"] == 1
    assert path.read_bytes() == data  # refilled


def test_a_file_damaged_after_this_process_verified_it_is_detected_too(
    store: CountingDriver, cache_dir: Path
) -> None:
    key, data = blob(100 * KIB)
    store.inner.put(key, io.BytesIO(data), len(data))
    driver = cached(store, cache_dir)
    read(driver, key)
    assert driver.local_path(key) is not None
    path = Path(driver.cache.path(key))
    path.write_bytes(data[:-1] + b"!")  # a new write: new mtime, so it is hashed again

    assert driver.local_path(key) is None
    assert read(driver, key) == data
