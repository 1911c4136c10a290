"""``GET /api/testing/logs/stream`` (testing mode): the server's log records, live, as
server-sent events, so a browser test suite can show the backend's side of a failure.

Named events (an ``event:`` line, then one JSON ``data`` line):

* ``connection_open``, first: ``{"status": "connected", "pid": <the worker's process id>}``;
* ``log``, one per record of a ``partsbin.*`` logger at INFO or above (and at or above
  ``PARTSBIN_LOG_LEVEL``, below which nothing is logged at all): the fields of the JSON log
  line on stderr (``ts``, ``level``, ``logger``, ``message``, the record's extra fields,
  ``exception``) plus ``correlation_id``, the ``X-Request-ID`` of the request that logged it
  (``null`` outside a request);
* ``heartbeat``, every ``PARTSBIN_SSE_HEARTBEAT`` seconds without records: ``{"timestamp"}``;
* ``connection_close`` when the server shuts down: ``{"reason": "server shutdown"}``.

**Per process.** Log records are not shared between processes: a stream shows the records of
the worker process serving it (testing servers run one worker; with more, each stream sees one
worker's share). Nothing is stored.

**Bounded.** A stream holds at most :data:`MAX_PENDING` records waiting to be written, each at
most :data:`MAX_ENTRY_BYTES` (a longer one is cut, with ``"truncated": true``). A client that
falls further behind loses the oldest and is told how many with a ``log`` entry of logger
``partsbin.testing.logs`` carrying ``dropped``. The handler is attached to the ``partsbin``
logger only while a stream is open, so testing mode costs nothing when nobody listens.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
from collections import deque
from collections.abc import Mapping
from typing import Any

from flask import Flask, g, has_request_context

from core.events.streams import Scope, StreamRoute, Wake, sse_message
from core.logging_setup import JsonFormatter

LOGS_PATH = "/api/testing/logs/stream"
#: Records a stream may have waiting; beyond that the oldest are dropped (and counted).
MAX_PENDING = 256
#: Largest ``data`` of one ``log`` event, as UTF-8 JSON.
MAX_ENTRY_BYTES = 8192
#: The logger whose records are streamed (with its children).
SOURCE_LOGGER = "partsbin"
_EXTENSION = "partsbin.log_broadcaster"
_CUT_MESSAGE_CHARS = 2000


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def _event(name: str, data: Mapping[str, Any]) -> bytes:
    return sse_message(json.dumps(data, default=str, separators=(",", ":")), event=name)


class LogFeed:
    """One open log stream: a bounded queue of formatted ``log`` events."""

    label = "log stream"

    def __init__(self, broadcaster: LogBroadcaster, wake: Wake) -> None:
        self._broadcaster = broadcaster
        self._wake = wake
        self._lock = threading.Lock()
        self._pending: deque[bytes] = deque(maxlen=MAX_PENDING)
        self._dropped = 0
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def offer(self, chunk: bytes) -> None:
        """Queue one formatted record (dropping the oldest when full) and wake the stream."""
        with self._lock:
            if self._closed:
                return
            if len(self._pending) == MAX_PENDING:
                self._dropped += 1
            self._pending.append(chunk)
        self._wake()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._pending.clear()
        self._wake()

    def opening(self, grant: Mapping[str, Any]) -> bytes:
        return _event("connection_open", {"status": "connected", "pid": os.getpid()})

    def take(self) -> bytes:
        with self._lock:
            chunks, dropped = list(self._pending), self._dropped
            self._pending.clear()
            self._dropped = 0
        if dropped:
            note = {
                "ts": _now(),
                "level": "WARNING",
                "logger": "partsbin.testing.logs",
                "message": f"{dropped} log records dropped: the client fell behind",
                "dropped": dropped,
                "correlation_id": None,
            }
            chunks.insert(0, _event("log", note))
        return b"".join(chunks)

    def heartbeat(self) -> bytes:
        return _event("heartbeat", {"timestamp": _now()})

    def farewell(self) -> bytes:
        return _event("connection_close", {"reason": "server shutdown"})

    def release(self) -> None:
        self._broadcaster.unsubscribe(self)


class LogBroadcaster(logging.Handler):
    """Hands every record of :data:`SOURCE_LOGGER` to the open log streams of one app.

    Attached to the logger while at least one stream is open. ``emit`` never blocks on a
    stream: it formats the record once and queues it in each stream's bounded feed.
    """

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self._formatter = JsonFormatter()
        self._feeds: set[LogFeed] = set()
        self._feeds_lock = threading.Lock()

    @property
    def subscriber_count(self) -> int:
        with self._feeds_lock:
            return len(self._feeds)

    def subscribe(self, wake: Wake) -> LogFeed:
        """Open a feed; records logged from now on reach it."""
        feed = LogFeed(self, wake)
        with self._feeds_lock:
            first = not self._feeds
            self._feeds.add(feed)
        if first:
            logging.getLogger(SOURCE_LOGGER).addHandler(self)
        return feed

    def unsubscribe(self, feed: LogFeed) -> None:
        """Forget a feed (idempotent); the last one detaches the handler."""
        with self._feeds_lock:
            if feed not in self._feeds:
                return
            self._feeds.discard(feed)
            last = not self._feeds
        if last:
            logging.getLogger(SOURCE_LOGGER).removeHandler(self)

    def close_all(self) -> None:
        """Close every feed (server shutdown): each stream says ``connection_close`` and ends."""
        with self._feeds_lock:
            feeds = list(self._feeds)
        for feed in feeds:
            feed.close()

    def emit(self, record: logging.LogRecord) -> None:
        with self._feeds_lock:
            feeds = list(self._feeds)
        if not feeds:
            return
        try:
            chunk = _event("log", self.entry(record))
        except Exception:  # noqa: BLE001 - a record that cannot be formatted must not raise
            self.handleError(record)
            return
        for feed in feeds:
            feed.offer(chunk)

    def entry(self, record: logging.LogRecord) -> dict[str, Any]:
        """The ``data`` of the record's ``log`` event (cut to :data:`MAX_ENTRY_BYTES`)."""
        entry = self._formatter.entry(record)
        correlation = entry.pop("request_id", None)
        if correlation is None and has_request_context():
            correlation = getattr(g, "request_id", None)
        entry["correlation_id"] = correlation
        text = json.dumps(entry, default=str, separators=(",", ":"))
        if len(text.encode()) <= MAX_ENTRY_BYTES:
            return entry
        return {
            "ts": entry["ts"],
            "level": entry["level"],
            "logger": entry["logger"],
            "message": str(entry["message"])[:_CUT_MESSAGE_CHARS],
            "correlation_id": correlation if isinstance(correlation, str) else None,
            "truncated": True,
        }


def get_broadcaster(app: Flask) -> LogBroadcaster:
    """The log broadcaster of ``app`` (created on first use)."""
    broadcaster = app.extensions.get(_EXTENSION)
    if broadcaster is None:
        broadcaster = app.extensions.setdefault(_EXTENSION, LogBroadcaster())
    return broadcaster


def stream_route(app: Flask) -> StreamRoute:
    """``/api/testing/logs/stream`` as a stream route of ``app``."""

    def open_feed(scope: Scope, wake: Wake) -> LogFeed:
        return get_broadcaster(app).subscribe(wake)

    def close_all() -> None:
        broadcaster = app.extensions.get(_EXTENSION)
        if broadcaster is not None:
            broadcaster.close_all()

    return StreamRoute(LOGS_PATH, open_feed, close_all)
