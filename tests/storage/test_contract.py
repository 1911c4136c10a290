"""The storage driver contract (storage_drivers.base.StorageDriver), run against every driver."""

from __future__ import annotations

import hashlib
import io
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from storage_drivers.base import BlobNotFound, BlobStat, InvalidKey, StorageDriver
from storage_drivers.streams import CHUNK_SIZE
from tests.storage.streams import MIB, FailingStream, GeneratedStream, StreamBroke

DATA = bytes(range(256)) * 4 + b"tail"  # 1,028 bytes
CAS_KEY = "cas/" + hashlib.sha256(b"partsbin").hexdigest()


def put_bytes(driver: StorageDriver, key: str, data: bytes) -> None:
    driver.put(key, io.BytesIO(data), len(data))


def read(driver: StorageDriver, key: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join(driver.open(key, start, end))


def keys_of(stats: object) -> set[str]:
    return {stat.key for stat in stats}  # type: ignore[attr-defined]


# --- put and open ------------------------------------------------------------------------


def test_put_then_open_returns_the_same_bytes_and_stat_their_size(driver: StorageDriver) -> None:
    put_bytes(driver, "docs/datasheet.pdf", DATA)

    assert read(driver, "docs/datasheet.pdf") == DATA
    assert driver.stat("docs/datasheet.pdf") == BlobStat("docs/datasheet.pdf", len(DATA))
    assert driver.exists("docs/datasheet.pdf")


def test_put_replaces_the_previous_object(driver: StorageDriver) -> None:
    put_bytes(driver, "thing", b"old contents that are longer")
    put_bytes(driver, "thing", b"new")

    assert read(driver, "thing") == b"new"
    assert driver.stat("thing") == BlobStat("thing", 3)


def test_put_accepts_a_stream_of_unknown_size(driver: StorageDriver) -> None:
    driver.put("unknown-size", io.BytesIO(DATA))

    assert read(driver, "unknown-size") == DATA


def test_put_stores_an_empty_object(driver: StorageDriver) -> None:
    put_bytes(driver, "empty", b"")

    assert read(driver, "empty") == b""
    assert driver.stat("empty") == BlobStat("empty", 0)


def test_cas_keys_round_trip_and_are_listed_under_their_own_name(driver: StorageDriver) -> None:
    put_bytes(driver, CAS_KEY, DATA)

    assert read(driver, CAS_KEY) == DATA
    assert list(driver.iter_keys("cas/")) == [BlobStat(CAS_KEY, len(DATA))]


def test_put_if_absent_stores_a_new_object_and_leaves_one_that_is_there(
    driver: StorageDriver,
) -> None:
    key = f"cas/{'c' * 64}"
    assert driver.put_if_absent(key, io.BytesIO(b"first bytes"), 11) is True
    assert b"".join(driver.open(key)) == b"first bytes"
    assert driver.put_if_absent(key, io.BytesIO(b"other bytes"), 11) is False
    assert b"".join(driver.open(key)) == b"first bytes"
    assert driver.stat(key) == BlobStat(key, 11)


def test_put_if_absent_with_a_wrong_size_raises_and_stores_nothing(
    driver: StorageDriver,
) -> None:
    key = f"cas/{'d' * 64}"
    with pytest.raises(ValueError):
        driver.put_if_absent(key, io.BytesIO(b"short"), 9)
    assert driver.stat(key) is None


@pytest.mark.parametrize("announced", [len(DATA) - 1, len(DATA) + 1])
def test_put_with_a_wrong_size_raises_and_stores_nothing(
    driver: StorageDriver, announced: int
) -> None:
    with pytest.raises(ValueError, match="announced"):
        driver.put("sized", io.BytesIO(DATA), announced)

    assert driver.stat("sized") is None


def test_a_stream_failing_midway_stores_nothing(driver: StorageDriver) -> None:
    # 9 MiB: past the multipart threshold of the s3 driver, so an upload has begun.
    with pytest.raises(StreamBroke):
        driver.put("broken", FailingStream(9 * MIB))  # type: ignore[arg-type]

    assert driver.stat("broken") is None
    assert list(driver.iter_keys()) == []


def test_a_failed_replacement_keeps_the_previous_object(driver: StorageDriver) -> None:
    put_bytes(driver, "keep", DATA)

    with pytest.raises(StreamBroke):
        driver.put("keep", FailingStream(100_000))  # type: ignore[arg-type]

    assert read(driver, "keep") == DATA


def test_a_large_streamed_object_round_trips_through_multipart_upload(
    driver: StorageDriver,
) -> None:
    size = 64 * MIB + 12_345
    stream = GeneratedStream(size, seed=7)

    driver.put("large.bin", stream)  # type: ignore[arg-type]

    digest, received = hashlib.sha256(), 0
    for chunk in driver.open("large.bin"):
        digest.update(chunk)
        received += len(chunk)
    assert received == size
    assert digest.hexdigest() == stream.sha256
    assert driver.stat("large.bin") == BlobStat("large.bin", size)


@pytest.mark.parametrize("size", [3 * MIB, 20 * MIB + 17], ids=["single-request", "multipart"])
def test_a_seekable_file_of_known_size_round_trips(driver: StorageDriver, tmp_path, size) -> None:
    path = tmp_path / "spooled.bin"
    stream = GeneratedStream(size, seed=3)
    with open(path, "wb") as out:
        while chunk := stream.read(MIB):
            out.write(chunk)
    expected = hashlib.sha256(path.read_bytes()).hexdigest()

    with open(path, "rb") as file:
        driver.put("spooled.bin", file, size)

    assert hashlib.sha256(read(driver, "spooled.bin")).hexdigest() == expected
    assert driver.stat("spooled.bin") == BlobStat("spooled.bin", size)


def test_a_seekable_file_shorter_than_announced_stores_nothing(
    driver: StorageDriver, tmp_path
) -> None:
    path = tmp_path / "short.bin"
    path.write_bytes(b"x" * (9 * MIB))

    with open(path, "rb") as file, pytest.raises(ValueError, match="announced"):
        driver.put("short.bin", file, 10 * MIB)

    assert driver.stat("short.bin") is None


# --- ranges ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        pytest.param(0, None, DATA, id="whole"),
        pytest.param(1000, None, DATA[1000:], id="start-only"),
        pytest.param(10, 19, DATA[10:20], id="start-and-end"),
        pytest.param(0, 0, DATA[:1], id="first-byte"),
        pytest.param(len(DATA) - 1, len(DATA) - 1, DATA[-1:], id="last-byte"),
        pytest.param(len(DATA) - 4, None, b"tail", id="suffix"),
        pytest.param(1020, 5000, DATA[1020:], id="end-past-the-end"),
        pytest.param(len(DATA), None, b"", id="start-past-the-end"),
    ],
)
def test_open_reads_the_requested_byte_range(
    driver: StorageDriver, start: int, end: int | None, expected: bytes
) -> None:
    put_bytes(driver, "ranged", DATA)

    assert read(driver, "ranged", start, end) == expected


@pytest.mark.parametrize(("start", "end"), [(-1, None), (5, 4)])
def test_open_rejects_an_invalid_range(driver: StorageDriver, start: int, end: int | None) -> None:
    put_bytes(driver, "ranged", DATA)

    with pytest.raises(ValueError, match="range"):
        driver.open("ranged", start, end)


def test_open_yields_chunks_of_at_most_64_kib(driver: StorageDriver) -> None:
    data = GeneratedStream(300 * 1024).read()
    put_bytes(driver, "chunky", data)

    chunks = list(driver.open("chunky", 5))

    assert b"".join(chunks) == data[5:]
    assert max(len(chunk) for chunk in chunks) <= CHUNK_SIZE


def test_closing_a_partly_read_stream_releases_it(driver: StorageDriver) -> None:
    data = GeneratedStream(300 * 1024).read()
    put_bytes(driver, "partial", data)

    for _ in range(25):  # more than the connection pool holds, if closing leaked connections
        stream = driver.open("partial")
        assert data.startswith(next(stream))
        stream.close()  # type: ignore[attr-defined]

    assert read(driver, "partial") == data


# --- missing keys and deletion -----------------------------------------------------------


def test_opening_a_missing_key_raises_blob_not_found_before_iterating(
    driver: StorageDriver,
) -> None:
    with pytest.raises(BlobNotFound):
        driver.open("no/such/key")


def test_stat_of_a_missing_key_is_none(driver: StorageDriver) -> None:
    assert driver.stat("no/such/key") is None
    assert not driver.exists("no/such/key")


def test_delete_removes_the_object_and_deleting_twice_is_fine(driver: StorageDriver) -> None:
    put_bytes(driver, "doomed", DATA)

    driver.delete("doomed")
    driver.delete("doomed")

    assert driver.stat("doomed") is None
    with pytest.raises(BlobNotFound):
        driver.open("doomed")


def test_deleting_a_key_that_never_existed_is_fine(driver: StorageDriver) -> None:
    driver.delete("never/existed")


def test_delete_many_removes_more_than_a_thousand_keys_and_ignores_missing_ones(
    driver: StorageDriver,
) -> None:
    keys = [f"batch/{index:05d}" for index in range(1100)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda key: put_bytes(driver, key, b"x"), keys))
    put_bytes(driver, "batch-kept", b"x")

    driver.delete_many([*keys, "batch/never-existed"])

    assert keys_of(driver.iter_keys("batch")) == {"batch-kept"}


# --- listing -----------------------------------------------------------------------------


def test_iter_sorted_keys_yields_hash_keys_and_thumbnails_in_ascending_order(
    driver: StorageDriver,
) -> None:
    hashes = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(40)]
    keys = [f"cas/{sha}" for sha in hashes]
    keys += [f"thumbs/{sha}-{n}.jpg" for sha in hashes[:5] for n in (100, 400)]
    # The earlier layout, one folder per blob, next to the flat one for the same blobs.
    keys += [f"thumbs/{sha}/{n}.jpg" for sha in hashes[3:8] for n in (100, 400)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda key: put_bytes(driver, key, b"x"), keys))

    for prefix in ("cas/", "thumbs/"):
        listed = [stat.key for stat in driver.iter_sorted_keys(prefix)]
        assert sorted(listed) == sorted(key for key in keys if key.startswith(prefix))
        # Ascending, except that a store keeping folders (SeaweedFS) may list a folder's keys
        # (thumbs/<h>/100.jpg) before a sibling key that shares the name (thumbs/<h>-100.jpg):
        # the hashes, what garbage collection merges on, never go backwards.
        assert [key for key in listed if key.count("/") == 1] == sorted(
            key for key in keys if key.startswith(prefix) and key.count("/") == 1
        )
        hashes_listed = [key.split("/")[1][:64] for key in listed]
        assert hashes_listed == sorted(hashes_listed)
        by_digit = [stat.key for stat in driver.iter_sorted_keys(prefix, "0123456789abcdef")]
        assert by_digit == listed


def test_a_listing_split_by_alphabet_crosses_pages_in_order_and_may_skip_other_keys(
    driver: StorageDriver,
) -> None:
    keys = [f"split/{digit}{index:04d}" for digit in "0af" for index in range(700)]
    keys += ["split/README", "split/x_9"]
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda key: put_bytes(driver, key, b"x"), keys))

    listed = [stat.key for stat in driver.iter_sorted_keys("split/", "fa0123")]

    wanted = sorted(key for key in keys if key[len("split/") : len("split/") + 1] in "fa0123")
    assert [key for key in listed if key in wanted] == wanted
    assert set(listed) <= set(keys)


def test_iter_keys_yields_keys_starting_with_the_prefix(driver: StorageDriver) -> None:
    for key in ["a/1", "a/2", "a/deep/3", "ab", "b/1"]:
        put_bytes(driver, key, key.encode())

    assert keys_of(driver.iter_keys("a/")) == {"a/1", "a/2", "a/deep/3"}
    assert keys_of(driver.iter_keys("a")) == {"a/1", "a/2", "a/deep/3", "ab"}
    assert set(driver.iter_keys("b")) == {BlobStat("b/1", 3)}
    assert keys_of(driver.iter_keys()) == {"a/1", "a/2", "a/deep/3", "ab", "b/1"}
    assert list(driver.iter_keys("zzz")) == []


def test_iter_keys_pages_past_a_thousand_keys(driver: StorageDriver) -> None:
    keys = {f"many/{index:05d}" for index in range(1100)}
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda key: put_bytes(driver, key, b"x"), keys))

    listed = list(driver.iter_keys("many/"))

    assert len(listed) == len(keys)
    assert keys_of(listed) == keys


@pytest.mark.parametrize("prefix", ["../", "/abs", "a//", ".hidden"])
def test_iter_keys_rejects_an_unsafe_prefix(driver: StorageDriver, prefix: str) -> None:
    with pytest.raises(InvalidKey):
        list(driver.iter_keys(prefix))


# --- keys --------------------------------------------------------------------------------

UNSAFE_KEYS = ["../x", "/abs", "a//b", ".hidden", "a/../b", "a/./b", "", "a/", "sp ace", "-dash"]


@pytest.mark.parametrize("key", UNSAFE_KEYS)
def test_unsafe_keys_are_rejected_by_every_operation(driver: StorageDriver, key: str) -> None:
    with pytest.raises(InvalidKey):
        driver.put(key, io.BytesIO(b"x"), 1)
    with pytest.raises(InvalidKey):
        driver.open(key)
    with pytest.raises(InvalidKey):
        driver.stat(key)
    with pytest.raises(InvalidKey):
        driver.delete(key)
    with pytest.raises(InvalidKey):
        driver.presigned_get_url(key)


# --- presigned URLs, health, threads -----------------------------------------------------


def test_presigned_get_url_serves_the_object_over_http(
    driver: StorageDriver, driver_kind: str
) -> None:
    put_bytes(driver, "shared/photo.jpg", DATA)

    url = driver.presigned_get_url("shared/photo.jpg", expires_seconds=60)

    if driver_kind == "file":
        assert url is None
        return
    assert url is not None
    with requests.Session() as http:
        http.trust_env = False  # never through a proxy: the server is on loopback
        response = http.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == DATA


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "image/png"},
        {
            "Content-Type": "application/pdf",
            "Content-Disposition": "attachment; filename=\"a b.pdf\"; filename*=UTF-8''a%20b.pdf",
            "Cache-Control": "public, max-age=31536000, immutable",
        },
    ],
    ids=["type", "type-disposition-cache"],
)
def test_presigned_get_url_signs_response_header_overrides(
    driver: StorageDriver, driver_kind: str, headers: dict[str, str]
) -> None:
    put_bytes(driver, "shared/overrides.bin", DATA)

    url = driver.presigned_get_url("shared/overrides.bin", 60, response_headers=headers)

    if driver_kind == "file":
        assert url is None
        return
    assert url is not None
    with requests.Session() as http:
        http.trust_env = False
        response = http.get(url, timeout=10)
    assert response.status_code == 200 and response.content == DATA
    for name, value in headers.items():
        assert response.headers[name] == value


def test_presigned_get_url_refuses_headers_it_cannot_sign(driver: StorageDriver) -> None:
    put_bytes(driver, "shared/csp.bin", DATA)

    headers = {"Content-Type": "image/png", "Content-Security-Policy": "sandbox"}
    assert driver.presigned_get_url("shared/csp.bin", 60, response_headers=headers) is None


def test_local_path_is_a_file_with_the_bytes_or_none(
    driver: StorageDriver, driver_kind: str
) -> None:
    put_bytes(driver, "docs/local.bin", DATA)

    path = driver.local_path("docs/local.bin")

    if driver_kind == "file":
        assert path is not None
        with open(path, "rb") as file:
            assert file.read() == DATA
    else:
        assert path is None
    assert driver.local_path("docs/missing.bin") is None


def test_check_passes_when_the_backend_answers(driver: StorageDriver) -> None:
    driver.check()
    driver.check(timeout=1.0)


def test_the_driver_can_be_shared_between_threads(driver: StorageDriver) -> None:
    def round_trip(index: int) -> bytes:
        key = f"threads/{index}"
        put_bytes(driver, key, DATA + str(index).encode())
        return read(driver, key)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(round_trip, range(32)))

    assert results == [DATA + str(index).encode() for index in range(32)]
