"""The ASGI front of a worker: streams on the asyncio loop, everything else in threads.

Every stream route of the app (:mod:`core.events.streams`: ``GET /api/sse/stream``, and in
testing mode ``GET /api/testing/logs/stream``) is first run through the Flask app as a
"preflight" (marked in the ASGI scope, which no client can set): validation, auth and anything
else Flask does apply, and a refusal (400, 401, ...) is passed on as it is. When Flask allows
the stream, this module writes it: each open stream is a coroutine waiting on its
:class:`~core.events.streams.Feed`, so 200 open streams cost 200 small coroutines, not 200 of
the pool's threads.

Every other request goes to the Flask app through :class:`core.events.bridge.WsgiBridge`, which
runs it in a pool of ``threads`` threads (what gunicorn's gthread worker did), with two hand-offs
between the loop and a thread for an ordinary request, and streams large request and response
bodies with back-pressure.

A stream ends when the client disconnects, when a write has not completed within
:data:`WRITE_TIMEOUT_SECONDS` (a client that stopped reading), when its feed falls too far
behind (for events, :data:`~core.events.hub.MAX_PENDING` of them), or when the server shuts down
(:meth:`PartsbinAsgi.close_streams`; the feed's farewell, if it has one, is written first).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from flask import Flask

from core.events.api import get_hub
from core.events.bridge import WsgiBridge
from core.events.streams import (
    PREFLIGHT_SCOPE_KEY,
    STREAM_HEADERS,
    Feed,
    StreamRoute,
    stream_routes,
)
from core.state import get_state

log = logging.getLogger("partsbin.events")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: A stream whose write has not gone out within this time is dropped (client not reading).
WRITE_TIMEOUT_SECONDS = 10.0


class PartsbinAsgi:
    """The ASGI application of one worker, around the Flask ``app``."""

    def __init__(
        self,
        app: Flask,
        threads: int,
        middleware: Callable[[Any], Any] | None = None,
    ) -> None:
        """``middleware`` (optional) wraps the WSGI side: :class:`core.lingering.LingeringClose`."""
        self.flask_app = app
        wsgi_app: Any = app if middleware is None else middleware(app)
        self.wsgi = WsgiBridge(wsgi_app, threads=threads)
        self.hub = get_hub(app)
        self.hub.start()
        self.heartbeat = get_state(app).settings.sse_heartbeat
        self.routes = stream_routes(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] == "http" and scope["method"] == "GET":
            route = self.routes.get(scope["path"])
            if route is not None:
                await self._stream(route, scope, receive, send)
                return
        await self.wsgi(scope, receive, send)

    def close_streams(self) -> None:
        """End every open stream (called when the server shuts down)."""
        for route in self.routes.values():
            route.close_all()

    async def _stream(self, route: StreamRoute, scope: Scope, receive: Receive, send: Send) -> None:
        # Subscribe before the preflight reads what a reconnecting client missed, so nothing
        # published in between is lost (the feed drops what the replay already holds).
        loop = asyncio.get_running_loop()
        woken = asyncio.Event()

        def wake() -> None:
            try:
                loop.call_soon_threadsafe(woken.set)
            except RuntimeError:  # the loop is closed: the stream is gone anyway
                pass

        feed = route.open_feed(scope, wake)
        try:
            answer = await self._preflight(scope)
            start, body = answer[0], b"".join(m.get("body", b"") for m in answer[1:])
            allowed = start["status"] == 200 and _is_json(start) and feed is not None
            grant = json.loads(body) if allowed else None
            if not (isinstance(grant, dict) and grant.get("stream") is True):
                for message in answer:  # Flask's refusal, as it is
                    await send(message)
                return
            assert feed is not None
            await self._serve_stream(receive, send, start, grant, feed, woken)
        finally:
            if feed is not None:
                feed.release()

    async def _preflight(self, scope: Scope) -> list[Message]:
        messages: list[Message] = []

        async def no_body() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def capture(message: Message) -> None:
            messages.append(message)

        marked = {**scope, PREFLIGHT_SCOPE_KEY: True}
        await self.wsgi(marked, no_body, capture)
        return messages

    async def _serve_stream(
        self,
        receive: Receive,
        send: Send,
        start: Message,
        grant: dict[str, Any],
        feed: Feed,
        woken: asyncio.Event,
    ) -> None:
        disconnected = asyncio.ensure_future(_wait_for_disconnect(receive))
        try:
            headers = [(k, v) for k, v in start["headers"] if k.lower() == b"x-request-id"]
            headers += [(b"content-type", b"text/event-stream; charset=utf-8")]
            headers += [(k.lower().encode(), v.encode()) for k, v in STREAM_HEADERS.items()]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            if not await _write(send, feed.opening(grant)):
                return
            while True:
                waiter = asyncio.ensure_future(woken.wait())
                await asyncio.wait(
                    {disconnected, waiter},
                    timeout=self.heartbeat,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                waiter.cancel()
                woken.clear()
                if disconnected.done():
                    return
                if feed.closed:
                    farewell = feed.farewell()
                    if farewell:
                        await _write(send, farewell)
                    return
                chunk = feed.take()
                if chunk is None:
                    log.info("%s dropped: too far behind", feed.label)
                    return
                if not await _write(send, chunk or feed.heartbeat()):
                    log.info("%s dropped: not reading", feed.label)
                    return
        finally:
            disconnected.cancel()
            await _finish(send)




async def _write(send: Send, chunk: bytes) -> bool:
    """Send ``chunk``; ``False`` when the client did not take it in time."""
    try:
        await asyncio.wait_for(
            send({"type": "http.response.body", "body": chunk, "more_body": True}),
            WRITE_TIMEOUT_SECONDS,
        )
    except TimeoutError:
        return False
    return True


async def _finish(send: Send) -> None:
    try:
        await asyncio.wait_for(
            send({"type": "http.response.body", "body": b"", "more_body": False}), 1.0
        )
    except (TimeoutError, OSError, RuntimeError):
        pass


async def _wait_for_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _is_json(start: Message) -> bool:
    for name, value in start.get("headers", []):
        if name.lower() == b"content-type":
            return bool(value.startswith(b"application/json"))
    return False


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
