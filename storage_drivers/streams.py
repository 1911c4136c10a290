"""Stream helpers shared by the storage drivers: size-checked reading, closing iterators, ranges."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO, TypeVar, cast

T = TypeVar("T")

#: Size of the chunks :meth:`StorageDriver.open` iterators yield (the last one may be shorter).
CHUNK_SIZE = 64 * 1024


class SizeCheckingReader:
    """A read-only, non-seekable view of ``stream`` that enforces an announced size.

    With ``expected_size=None`` it only counts bytes. Otherwise ``read`` raises
    :class:`ValueError` as soon as the stream yields more bytes than announced, or ends with
    fewer, so a driver that is uploading aborts instead of storing a truncated object.
    Exceptions raised by ``stream`` itself pass through unchanged.
    """

    def __init__(self, stream: BinaryIO, expected_size: int | None) -> None:
        if expected_size is not None and expected_size < 0:
            raise ValueError(f"size must be >= 0 or None, not {expected_size}")
        self._stream = stream
        self._expected_size = expected_size
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        """Read up to ``size`` bytes (all remaining bytes if ``size`` < 0)."""
        data = self._stream.read(size)
        self.bytes_read += len(data)
        expected = self._expected_size
        if expected is not None:
            if self.bytes_read > expected:
                raise ValueError(f"stream is longer than the announced size of {expected} bytes")
            if not data and size != 0 and self.bytes_read < expected:
                raise ValueError(
                    f"stream ended after {self.bytes_read} bytes; {expected} were announced"
                )
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False


class ClosingIterator(Iterator[bytes]):
    """Iterate over ``chunks`` and call ``close`` exactly once: when exhausted, on error,
    on :meth:`close`, or when garbage-collected.

    WSGI servers call ``close()`` on response iterables, so a Flask response streaming from a
    driver releases the file or connection even when the client disconnects early.
    """

    def __init__(self, chunks: Iterator[bytes], close: Callable[[], None]) -> None:
        self._chunks = chunks
        self._close: Callable[[], None] | None = close

    def __iter__(self) -> ClosingIterator:
        return self

    def __next__(self) -> bytes:
        if self._close is None:
            raise StopIteration
        try:
            return next(self._chunks)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Release the underlying file or connection; later iteration yields nothing."""
        close, self._close = self._close, None
        if close is not None:
            close()

    def __enter__(self) -> ClosingIterator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


#: Pages :func:`read_ahead` fetches before the consumer asks for them.
READ_AHEAD_PAGES = 2
_DONE = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def read_ahead(
    pages: Callable[[], Iterable[list[T]]], depth: int = READ_AHEAD_PAGES
) -> Iterator[T]:
    """Yield the items of ``pages()`` in order, a background thread fetching ``depth`` pages ahead.

    For listings: while the caller works on one page, the next request is already on the wire,
    so a listing costs about max(requests, consumer) instead of their sum; memory stays bounded
    by ``depth + 2`` pages. ``pages`` is called in the thread, so it must be thread-safe to run
    there (boto3 and MinIO clients are). An exception it raises is raised to the caller after the
    items before it. Closing the returned iterator, or dropping it, stops the thread after at
    most the page in flight.
    """
    handoff: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def deliver(item: object) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for page in pages():
                if not deliver(page):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            deliver(_Failed(exc))
            return
        deliver(_DONE)

    def consume() -> Iterator[T]:
        thread = threading.Thread(target=produce, name="partsbin-read-ahead", daemon=True)
        thread.start()
        try:
            while True:
                item = handoff.get()
                if item is _DONE:
                    return
                if isinstance(item, _Failed):
                    raise item.error
                yield from cast(list[T], item)
        finally:
            stop.set()

    return consume()


def check_range(start: int, end: int | None) -> None:
    """Raise :class:`ValueError` unless ``0 <= start`` and (``end is None`` or ``start <= end``)."""
    if start < 0:
        raise ValueError(f"range start must be >= 0, not {start}")
    if end is not None and end < start:
        raise ValueError(f"range end {end} is before its start {start}")
