"""A pass-through driver that counts the calls made to the real driver it wraps.

Not a mock: every call reaches the wrapped driver (a real S3 server in the tests that use it);
the wrapper only records which operations were asked for, so tests can state how many storage
round trips an operation costs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from typing import BinaryIO

from storage_drivers.base import BlobStat, StorageDriver


class CountingDriver(StorageDriver):
    """Delegates everything to ``inner`` and counts ``put``/``open``/``stat``/... calls."""

    scheme = "counting"

    def __init__(self, inner: StorageDriver, fail_after_chunks: int | None = None) -> None:
        self.inner = inner
        self.conditional_puts = inner.conditional_puts
        self.calls: Counter[str] = Counter()
        #: Make the next whole-object ``open`` raise after this many chunks (a stream that breaks).
        self.fail_after_chunks = fail_after_chunks

    @classmethod
    def from_url(cls, url: str) -> CountingDriver:
        raise NotImplementedError

    def reset(self) -> None:
        self.calls.clear()

    def put(self, key: str, stream: BinaryIO, size: int | None = None) -> None:
        self.calls["put"] += 1
        self.inner.put(key, stream, size)

    def put_if_absent(self, key: str, stream: BinaryIO, size: int) -> bool:
        self.calls["put_if_absent"] += 1
        return self.inner.put_if_absent(key, stream, size)

    def open(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        self.calls["open"] += 1
        chunks = self.inner.open(key, start, end)
        limit, self.fail_after_chunks = self.fail_after_chunks, None
        if limit is None:
            return chunks
        return _breaking(chunks, limit)

    def stat(self, key: str) -> BlobStat | None:
        self.calls["stat"] += 1
        return self.inner.stat(key)

    def delete(self, key: str) -> None:
        self.calls["delete"] += 1
        self.inner.delete(key)

    def iter_keys(self, prefix: str = "") -> Iterator[BlobStat]:
        self.calls["iter_keys"] += 1
        return self.inner.iter_keys(prefix)

    def presigned_get_url(
        self,
        key: str,
        expires_seconds: int = 300,
        response_headers: Mapping[str, str] | None = None,
    ) -> str | None:
        self.calls["presigned_get_url"] += 1
        return self.inner.presigned_get_url(key, expires_seconds, response_headers)

    def check(self, timeout: float = 2.0) -> None:
        self.calls["check"] += 1
        self.inner.check(timeout)

    def close(self) -> None:
        self.inner.close()


class StreamBroke(ConnectionError):
    """Raised by a stream that :class:`CountingDriver` was told to break."""


def _breaking(chunks: Iterator[bytes], limit: int) -> Iterator[bytes]:
    try:
        for index, chunk in enumerate(chunks):
            if index >= limit:
                raise StreamBroke("the storage stream broke mid-way")
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
