"""Stream helpers shared by the storage drivers: size-checked reading, closing iterators, ranges."""

from __future__ import annotations

import contextlib
import functools
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
#: Sub-listings :func:`split_listing` keeps fetching at once, and the pages each runs ahead.
LISTING_STREAMS = 8
LISTING_STREAM_PAGES = 4
_DONE = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class ReadAhead(Iterator[T]):
    """The items of a page source, in order, fetched by a background thread ``depth`` pages
    ahead (see :func:`read_ahead`). The thread starts on the first ``next()`` or on
    :meth:`start`; :meth:`close`, or dropping the iterator, stops it."""

    def __init__(self, pages: Callable[[], Iterable[list[T]]], depth: int) -> None:
        self._pages = pages
        self._handoff: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._page: Iterator[T] = iter(())
        self._finished = False

    def start(self) -> None:
        """Start fetching now (once), before anyone asks for an item."""
        if self._thread is None and not self._finished:
            # The thread must not reference ``self``, or dropping the iterator would not stop it.
            self._thread = threading.Thread(
                target=_produce, args=(self._pages, self._handoff, self._stop),
                name="partsbin-read-ahead", daemon=True,
            )
            self._thread.start()

    def __next__(self) -> T:
        while True:
            for item in self._page:
                return item
            if self._finished:
                raise StopIteration
            self.start()
            page = self._handoff.get()
            if page is _DONE or isinstance(page, _Failed):
                self.close()
                if isinstance(page, _Failed):
                    raise page.error
                raise StopIteration
            self._page = iter(cast(list[T], page))

    def close(self) -> None:
        """Stop the thread (after at most the page in flight); no more items come."""
        self._finished = True
        self._page = iter(())
        self._stop.set()

    def __del__(self) -> None:
        self._stop.set()


def _produce(
    pages: Callable[[], Iterable[list[object]]], handoff: queue.Queue[object],
    stop: threading.Event,
) -> None:
    def deliver(item: object) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    try:
        for page in pages():
            if not deliver(page):
                return
    except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
        deliver(_Failed(exc))
        return
    deliver(_DONE)


def read_ahead(
    pages: Callable[[], Iterable[list[T]]], depth: int = READ_AHEAD_PAGES
) -> ReadAhead[T]:
    """Yield the items of ``pages()`` in order, a background thread fetching ``depth`` pages ahead.

    For listings: while the caller works on one page, the next request is already on the wire,
    so a listing costs about max(requests, consumer) instead of their sum; memory stays bounded
    by ``depth + 2`` pages. ``pages`` is called in the thread, so it must be thread-safe to run
    there (boto3 and MinIO clients are). An exception it raises is raised to the caller after the
    items before it. Closing the returned iterator, or dropping it, stops the thread after at
    most the page in flight.
    """
    return ReadAhead(pages, depth)


def split_listing(
    pages_under: Callable[[str], Iterable[list[T]]], prefix: str, alphabet: str,
    streams: int = LISTING_STREAMS, depth: int = LISTING_STREAM_PAGES,
) -> Iterator[T]:
    """The items of ``pages_under(prefix + c)`` for each character ``c`` of ``alphabet`` in
    ascending order, one after the other, up to ``streams`` of these listings fetching at once.

    For remote stores whose listing waits on the server (SeaweedFS lists ``thumbs/`` one folder
    per hash): the next listings are already running while the caller reads the current one.
    Memory stays bounded by ``streams * (depth + 2)`` pages. Keys whose character after
    ``prefix`` is not in ``alphabet`` are not listed.
    """
    listings = [
        read_ahead(functools.partial(pages_under, prefix + char), depth)
        for char in sorted(set(alphabet))
    ]

    def consume() -> Iterator[T]:
        try:
            for index, listing in enumerate(listings):
                for ahead in listings[index : index + streams]:
                    ahead.start()
                yield from listing
        finally:
            for listing in listings:
                listing.close()

    return consume()


def check_range(start: int, end: int | None) -> None:
    """Raise :class:`ValueError` unless ``0 <= start`` and (``end is None`` or ``start <= end``)."""
    if start < 0:
        raise ValueError(f"range start must be >= 0, not {start}")
    if end is not None and end < start:
        raise ValueError(f"range end {end} is before its start {start}")
