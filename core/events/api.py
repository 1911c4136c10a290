"""``GET /api/sse/stream``: the event stream EI's UI opens before it renders anything.

Each message is an unnamed server-sent event whose ``data`` is ``{"type", "payload"}`` JSON
(the UI's ``onmessage`` reads it) with the event id as ``id``: first ``version`` with the served
UI's version (``{"version": ...}``, from its ``version.json``), then every event published to
everyone or to this ``request_id``. A comment line every ``PARTSBIN_SSE_HEARTBEAT`` seconds keeps
proxies from closing an idle stream and lets the server notice a dead client.

Under ``partsbin serve`` the ASGI front (:mod:`core.events.asgi`) first asks this route whether
the stream may open (the "preflight": validation, auth and the version run here, in Flask) and
then streams on the event loop. Served by a plain WSGI server (tests' clients, ``flask run``),
this route streams itself and holds a thread per stream.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, current_app, jsonify, request
from flask_openapi3 import APIBlueprint, Tag
from pydantic import Field

from core.api.schemas import QueryModel, error_responses
from core.events import VERSION_EVENT
from core.events.hub import EventHub
from core.events.store import Event, missed_events
from core.state import get_state

STREAM_PATH = "/api/sse/stream"
#: Key of the ASGI scope (seen as ``environ["asgi.scope"]``) that marks the preflight.
PREFLIGHT_SCOPE_KEY = "partsbin.sse_preflight"
_HUB = "partsbin.event_hub"
_VERSION = "partsbin.ui_version"

blueprint = APIBlueprint("sse", __name__, url_prefix="/api/sse", abp_tags=[Tag(name="events")])

STREAM_HEADERS = {
    "Cache-Control": "no-cache, no-transform",
    "X-Accel-Buffering": "no",
    "X-Content-Type-Options": "nosniff",
}
HEARTBEAT = b": heartbeat\n\n"


class StreamQuery(QueryModel):
    request_id: str = Field(
        pattern=r"^[A-Za-z0-9_-]{1,128}$",
        description="the client's id; events published to it reach only its streams",
    )


def get_hub(app: Flask | None = None) -> EventHub:
    """The event hub of ``app``'s process (created on first use)."""
    target = app or current_app
    hub = target.extensions.get(_HUB)
    if hub is None:
        settings = get_state(target).settings
        hub = target.extensions.setdefault(
            _HUB, EventHub(settings.database_url, settings.db_timeout)
        )
    return hub


def stop_hub(app: Flask) -> None:
    """Stop ``app``'s event hub, if it was started (app teardown in tests)."""
    hub = app.extensions.pop(_HUB, None)
    if hub is not None:
        hub.stop()


def ui_version(app: Flask | None = None) -> str:
    """The version the ``version`` event carries: the testing override, else the served UI's
    ``version.json``, else Partsbin's own version."""
    target = app or current_app
    override = target.extensions.get(_VERSION)
    if override:
        return str(override)
    from core.ui import bundle_version

    found = bundle_version(get_state(target).settings.ui_dir)
    if found:
        return found
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"partsbin-{version('partsbin')}"
    except PackageNotFoundError:
        return "partsbin"


def set_ui_version(app: Flask, value: str | None) -> None:
    """Override (``None``: stop overriding) the version of this process's ``version`` events."""
    if value is None:
        app.extensions.pop(_VERSION, None)
    else:
        app.extensions[_VERSION] = value


def format_message(event_type: str, payload: Any, event_id: int | None = None) -> bytes:
    """One server-sent event: ``id`` (when given) and ``data`` lines, then a blank line."""
    data = json.dumps({"type": event_type, "payload": payload}, separators=(",", ":"))
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}data: {data}\n\n".encode()


def format_event(event: Event) -> bytes:
    return format_message(event.type, event.payload, event.id)


def _missed(request_id: str) -> list[Event]:
    """What a reconnecting client (``Last-Event-ID``) missed for ``request_id``."""
    last = request.headers.get("Last-Event-ID", "").strip()
    if not last.isdigit() or len(last) > 18:
        return []
    return missed_events(int(last), request_id)


@blueprint.get("/stream", responses={200: None, **error_responses(400)})
def stream(query: StreamQuery) -> Response:
    """Open the event stream (``text/event-stream``): a ``version`` event, then (after a
    reconnect with ``Last-Event-ID``) the events missed meanwhile, then every event published to
    everyone or to ``request_id``, and heartbeat comments."""
    version = ui_version()
    scope = request.environ.get("asgi.scope")
    if isinstance(scope, dict) and scope.get(PREFLIGHT_SCOPE_KEY):
        missed = [
            {"id": e.id, "type": e.type, "payload": e.payload} for e in _missed(query.request_id)
        ]
        return jsonify(
            {"stream": True, "version": version, "request_id": query.request_id, "replay": missed}
        )
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    body = _blocking_stream(app, query.request_id, version, _missed(query.request_id))
    response = Response(body, mimetype="text/event-stream")
    response.headers.update(STREAM_HEADERS)
    return response


def _blocking_stream(
    app: Flask, request_id: str, version: str, missed: list[Event]
) -> Iterator[bytes]:
    hub = get_hub(app)
    heartbeat = get_state(app).settings.sse_heartbeat
    woken = threading.Event()
    subscription = hub.subscribe(request_id, woken.set)
    seen = max((e.id for e in missed), default=0)
    try:
        yield format_message(VERSION_EVENT, {"version": version})
        if missed:
            yield b"".join(format_event(e) for e in missed)
        while not subscription.closed:
            woken.wait(heartbeat)
            woken.clear()
            events = [e for e in subscription.take() if e.id > seen]
            if subscription.overflowed or subscription.closed:
                return
            yield b"".join(format_event(e) for e in events) if events else HEARTBEAT
    finally:
        hub.unsubscribe(subscription)
