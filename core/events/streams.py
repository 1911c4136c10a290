"""Responses that never end (server-sent event streams): one shape for every such route.

A stream route is a ``GET`` path that the ASGI front (:mod:`core.events.asgi`) serves on the
worker's event loop instead of in a thread. It is registered per app with
:func:`add_stream_route` (the events plugin registers ``/api/sse/stream``, testing mode
``/api/testing/logs/stream``) and has a Flask view of the same path, which does two jobs:

* the **preflight** (:func:`is_preflight`): under ``partsbin serve`` the front first runs the
  request through Flask, so validation, authentication and roles apply as for any route; the
  view answers :func:`grant` (JSON, 200) to let the stream open, or an error that the front
  passes on as it is;
* the **blocking stream**: served by a plain WSGI server (tests' clients, ``flask run``) the
  view streams by itself with :func:`blocking_response`, holding a thread per stream.

Both paths read a :class:`Feed`: a bounded inbox filled from any thread (the event hub, a log
handler) that wakes its stream, and knows what to write first, as a heartbeat and on shutdown.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Protocol

from flask import Flask, Response, jsonify, request

#: Key of the ASGI scope (seen as ``environ["asgi.scope"]``) that marks the preflight.
PREFLIGHT_SCOPE_KEY = "partsbin.sse_preflight"
_ROUTES = "partsbin.stream_routes"

STREAM_HEADERS = {
    "Cache-Control": "no-cache, no-transform",
    "X-Accel-Buffering": "no",
    "X-Content-Type-Options": "nosniff",
}

Scope = MutableMapping[str, Any]
#: Called (from any thread) when a feed has something new or was closed.
Wake = Callable[[], None]


class Feed(Protocol):
    """What one open stream reads. Filled from other threads; read by one stream."""

    #: Names the stream in log lines ("event stream abc", "log stream").
    label: str

    @property
    def closed(self) -> bool:
        """Closed by the server (shutdown): write :meth:`farewell` and end."""
        ...

    def opening(self, grant: Mapping[str, Any]) -> bytes:
        """The first bytes of the stream, given what the preflight answered."""
        ...

    def take(self) -> bytes | None:
        """Everything that arrived since the last call, formatted (``b""``: nothing); ``None``
        when the stream must end because it fell too far behind."""
        ...

    def heartbeat(self) -> bytes:
        """What to write when nothing arrived for a heartbeat interval."""
        ...

    def farewell(self) -> bytes:
        """What to write when the server closes the stream (may be ``b""``)."""
        ...

    def release(self) -> None:
        """The stream ended: stop feeding (idempotent)."""
        ...


@dataclass(frozen=True)
class StreamRoute:
    """A ``GET`` path served as a stream. ``open_feed(scope, wake)`` subscribes for the request
    whose ASGI ``scope`` is given *before* the preflight runs (so nothing published meanwhile is
    lost); ``None`` refuses (the preflight then answers why). ``close_all()`` closes every feed
    of this route in the process (server shutdown)."""

    path: str
    open_feed: Callable[[Scope, Wake], Feed | None]
    close_all: Callable[[], None]


def add_stream_route(app: Flask, route: StreamRoute) -> None:
    """Serve ``route.path`` of ``app`` as a stream under ``partsbin serve``. Raises
    ``ValueError`` for a path registered twice."""
    routes = app.extensions.setdefault(_ROUTES, {})
    if route.path in routes:
        raise ValueError(f"stream route {route.path} is registered twice")
    routes[route.path] = route


def stream_routes(app: Flask) -> dict[str, StreamRoute]:
    """``{path: route}`` of every stream route of ``app``."""
    return dict(app.extensions.get(_ROUTES, {}))


def is_preflight() -> bool:
    """Whether this request is the ASGI front's "may this stream open?" question."""
    scope = request.environ.get("asgi.scope")
    return isinstance(scope, dict) and bool(scope.get(PREFLIGHT_SCOPE_KEY))


def grant(**fields: Any) -> Response:
    """The preflight's "yes": ``{"stream": true, **fields}``; the front hands ``fields`` to
    :meth:`Feed.opening`."""
    return jsonify({"stream": True, **fields})


def blocking_response(
    open_feed: Callable[[Wake], Feed],
    grant_fields: Callable[[], Mapping[str, Any]],
    heartbeat: float,
) -> Response:
    """Stream a feed from this thread (plain WSGI servers). Subscribes now, then asks
    ``grant_fields()`` (what the preflight would have granted; read after subscribing, so
    nothing published in between is lost), and streams :meth:`Feed.opening`, then whatever
    arrives, or a heartbeat every ``heartbeat`` seconds."""
    woken = threading.Event()
    feed = open_feed(woken.set)
    try:
        fields = grant_fields()
    except BaseException:
        feed.release()
        raise
    body = _blocking(feed, woken, fields, heartbeat)
    response = Response(body, mimetype="text/event-stream")
    response.headers.update(STREAM_HEADERS)
    return response


def _blocking(
    feed: Feed, woken: threading.Event, grant_fields: Mapping[str, Any], heartbeat: float
) -> Iterator[bytes]:
    try:
        yield feed.opening(grant_fields)
        while True:
            woken.wait(heartbeat)
            woken.clear()
            if feed.closed:
                farewell = feed.farewell()
                if farewell:
                    yield farewell
                return
            chunk = feed.take()
            if chunk is None:
                return
            yield chunk or feed.heartbeat()
    finally:
        feed.release()


def sse_message(data: str, *, event: str | None = None, event_id: int | None = None) -> bytes:
    """One server-sent event: optional ``event`` and ``id`` lines, a ``data`` line (``data``
    must be one line, as JSON text is), then a blank line."""
    head = f"event: {event}\n" if event else ""
    head += f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}data: {data}\n\n".encode()
