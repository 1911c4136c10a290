"""Streaming ingest: hashing, limits enforced while reading, type from content, dedup."""

from __future__ import annotations

import hashlib
import io

import pytest
from PIL import Image

from core.cas.ingest import cas_key, ingest, sha256_of_key
from core.cas.sniff import detect_content_type
from core.errors import PayloadTooLarge, UnsupportedMediaType
from storage_drivers.local import LocalDriver


class CountingStream:
    """Yields ``total`` bytes of ``fill`` after ``head``; records how many were read."""

    def __init__(self, head: bytes, total: int, fill: bytes = b"\x00") -> None:
        self.head = head
        self.total = total
        self.fill = fill
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        remaining = self.total - self.read_bytes
        n = remaining if size < 0 else min(size, remaining)
        if n <= 0:
            return b""
        start = self.read_bytes
        chunk = (self.head[start : start + n]).ljust(n, self.fill)
        self.read_bytes += n
        return chunk


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def storage(tmp_path) -> LocalDriver:
    return LocalDriver.from_url(f"file://{tmp_path}/blobs")


def test_ingest_stores_under_the_hash(storage) -> None:
    data = _png()
    blob = ingest(storage, io.BytesIO(data), lambda _t: 10**6)
    assert blob.sha256 == hashlib.sha256(data).hexdigest()
    assert blob.size == len(data)
    assert blob.content_type == "image/png"
    assert b"".join(storage.open(blob.key)) == data


def test_same_bytes_are_stored_once(storage) -> None:
    data = _png()
    first = ingest(storage, io.BytesIO(data), lambda _t: 10**6)
    second = ingest(storage, io.BytesIO(data), lambda _t: 10**6)
    assert first == second
    assert [s.key for s in storage.iter_keys("cas/")] == [first.key]


def test_reading_stops_right_after_the_limit(storage) -> None:
    stream = CountingStream(_png(), total=50 * 1024 * 1024)
    with pytest.raises(PayloadTooLarge, match="1048576-byte limit for image/png"):
        ingest(storage, stream, lambda _t: 1024 * 1024)
    assert stream.read_bytes < 1024 * 1024 + 128 * 1024
    assert list(storage.iter_keys("cas/")) == []


def test_disallowed_type_stops_after_the_first_bytes(storage) -> None:
    stream = CountingStream(b"PK\x03\x04", total=50 * 1024 * 1024)
    with pytest.raises(UnsupportedMediaType, match="application/zip"):
        ingest(storage, stream, lambda _t: 10**9, allowed_types={"image/png"})
    assert stream.read_bytes <= 64 * 1024
    assert list(storage.iter_keys("cas/")) == []


def test_type_comes_from_content() -> None:
    assert detect_content_type(_png()) == "image/png"
    assert detect_content_type(b"%PDF-1.7\n") == "application/pdf"
    assert detect_content_type(b'<?xml version="1.0"?><svg xmlns="x">') == "image/svg+xml"
    assert detect_content_type(b"<!doctype html><p>") == "text/html"
    assert detect_content_type(b"\x00\x01\x02binary") == "application/octet-stream"


@pytest.mark.parametrize(
    "value", ["a" * 63, "A" * 64, "g" * 64, "a" * 64 + "\n", "../" + "a" * 61, ""]
)
def test_cas_key_refuses_anything_but_64_lowercase_hex(value: str) -> None:
    with pytest.raises(ValueError):
        cas_key(value)
    assert sha256_of_key(f"cas/{value}") is None


def test_cas_key_round_trip() -> None:
    sha = "0123456789abcdef" * 4
    assert sha256_of_key(cas_key(sha)) == sha
