"""The ASGI front of a worker: event streams on the asyncio loop, everything else in threads.

``GET /api/sse/stream`` is first run through the Flask app as a "preflight" (marked in the ASGI
scope, which no client can set): validation, auth and anything else Flask does apply, and a
refusal (400, 401, ...) is passed on as it is. When Flask allows the stream, this module writes
it: each open stream is a coroutine waiting on its :class:`~core.events.hub.Subscription`, so
200 open streams cost 200 small coroutines, not 200 of the pool's threads.

Every other request goes to the Flask app through :class:`core.events.bridge.WsgiBridge`, which
runs it in a pool of ``threads`` threads (what gunicorn's gthread worker did), with two hand-offs
between the loop and a thread for an ordinary request, and streams large request and response
bodies with back-pressure.

A stream ends when the client disconnects, when a write has not completed within
:data:`WRITE_TIMEOUT_SECONDS` (a client that stopped reading), when it falls
:data:`~core.events.hub.MAX_PENDING` events behind, or when the server shuts down
(:meth:`PartsbinAsgi.close_streams`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from flask import Flask

from core.events import VERSION_EVENT
from core.events.api import (
    HEARTBEAT,
    PREFLIGHT_SCOPE_KEY,
    STREAM_HEADERS,
    STREAM_PATH,
    format_event,
    format_message,
    get_hub,
)
from core.events.bridge import WsgiBridge
from core.events.hub import Subscription
from core.events.store import REQUEST_ID, Event
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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] == "http" and scope["path"] == STREAM_PATH and scope["method"] == "GET":
            await self._stream(scope, receive, send)
            return
        await self.wsgi(scope, receive, send)

    def close_streams(self) -> None:
        """End every open stream (called when the server shuts down)."""
        self.hub.close_all()

    async def _stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Subscribe before the preflight reads what a reconnecting client missed, so nothing
        # published in between is lost (duplicates are dropped by event id).
        loop = asyncio.get_running_loop()
        woken = asyncio.Event()

        def wake() -> None:
            loop.call_soon_threadsafe(woken.set)

        request_id = _query_request_id(scope)
        subscription = self.hub.subscribe(request_id, wake) if request_id else None
        try:
            answer = await self._preflight(scope)
            start, body = answer[0], b"".join(m.get("body", b"") for m in answer[1:])
            allowed = start["status"] == 200 and _is_json(start) and subscription is not None
            grant = json.loads(body) if allowed else None
            if not (isinstance(grant, dict) and grant.get("stream") is True):
                for message in answer:  # Flask's refusal, as it is
                    await send(message)
                return
            assert subscription is not None
            await self._serve_stream(receive, send, start, grant, subscription, woken)
        finally:
            if subscription is not None:
                self.hub.unsubscribe(subscription)

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
        subscription: Subscription,
        woken: asyncio.Event,
    ) -> None:
        missed = [Event(m["id"], m["type"], m["payload"], None) for m in grant.get("replay", [])]
        seen = max((e.id for e in missed), default=0)
        disconnected = asyncio.ensure_future(_wait_for_disconnect(receive))
        try:
            headers = [(k, v) for k, v in start["headers"] if k.lower() == b"x-request-id"]
            headers += [(b"content-type", b"text/event-stream; charset=utf-8")]
            headers += [(k.lower().encode(), v.encode()) for k, v in STREAM_HEADERS.items()]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            first = format_message(VERSION_EVENT, {"version": grant["version"]})
            if not await _write(send, first + b"".join(format_event(e) for e in missed)):
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
                if disconnected.done() or subscription.closed:
                    return
                events = [e for e in subscription.take() if e.id > seen]
                if subscription.overflowed:
                    log.info("event stream %s dropped: too far behind", subscription.request_id)
                    return
                chunk = b"".join(format_event(e) for e in events) if events else HEARTBEAT
                if not await _write(send, chunk):
                    log.info("event stream %s dropped: not reading", subscription.request_id)
                    return
        finally:
            disconnected.cancel()
            await _finish(send)


def _query_request_id(scope: Scope) -> str | None:
    """The stream's ``request_id`` when it is well formed (else the preflight refuses it)."""
    values = parse_qs(scope.get("query_string", b"").decode("latin1")).get("request_id", [])
    if len(values) == 1 and REQUEST_ID.match(values[0]):
        return values[0]
    return None


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
