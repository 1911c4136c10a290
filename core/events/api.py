"""``GET /api/sse/stream``: the event stream EI's UI opens before it renders anything.

Each message is an unnamed server-sent event whose ``data`` is ``{"type", "payload"}`` JSON
(the UI's ``onmessage`` reads it) with the event id as ``id``: first ``version`` with the served
UI's version (``{"version": ...}``, from its ``version.json``), then every event published to
everyone or to this ``request_id``. A comment line every ``PARTSBIN_SSE_HEARTBEAT`` seconds keeps
proxies from closing an idle stream and lets the server notice a dead client.

It is a stream route (:mod:`core.events.streams`): under ``partsbin serve`` the ASGI front
(:mod:`core.events.asgi`) first asks this view whether the stream may open (the "preflight":
validation, auth, the version and the replay run here, in Flask) and then streams an
:class:`EventFeed` on the event loop. Served by a plain WSGI server (tests' clients,
``flask run``), this view streams the same feed itself and holds a thread per stream.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from flask import Flask, Response, current_app, request
from flask_openapi3 import APIBlueprint, Tag
from pydantic import Field

from core.api.schemas import QueryModel, error_responses
from core.events import VERSION_EVENT
from core.events.hub import EventHub, Subscription
from core.events.store import REQUEST_ID, Event, missed_events
from core.events.streams import (
    Scope,
    StreamRoute,
    Wake,
    blocking_response,
    grant,
    is_preflight,
    sse_message,
)
from core.state import get_state

STREAM_PATH = "/api/sse/stream"
_HUB = "partsbin.event_hub"
_VERSION = "partsbin.ui_version"

blueprint = APIBlueprint("sse", __name__, url_prefix="/api/sse", abp_tags=[Tag(name="events")])

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
    return sse_message(data, event_id=event_id)


def format_event(event: Event) -> bytes:
    return format_message(event.type, event.payload, event.id)


class EventFeed:
    """One open event stream: a hub subscription for ``request_id``.

    The preflight's grant carries the version and the replay (``[{id, type, payload}]``);
    events already replayed are not sent twice.
    """

    def __init__(self, hub: EventHub, request_id: str, wake: Wake) -> None:
        self.label = f"event stream {request_id}"
        self._hub = hub
        self._subscription: Subscription = hub.subscribe(request_id, wake)
        self._seen = 0

    @property
    def closed(self) -> bool:
        return self._subscription.closed

    def opening(self, grant: Mapping[str, Any]) -> bytes:
        replay = [Event(m["id"], m["type"], m["payload"], None) for m in grant.get("replay", [])]
        self._seen = max((e.id for e in replay), default=0)
        first = format_message(VERSION_EVENT, {"version": grant["version"]})
        return first + b"".join(format_event(e) for e in replay)

    def take(self) -> bytes | None:
        events = [e for e in self._subscription.take() if e.id > self._seen]
        if self._subscription.overflowed:
            return None
        if events:
            self._seen = events[-1].id
        return b"".join(format_event(e) for e in events)

    def heartbeat(self) -> bytes:
        return HEARTBEAT

    def farewell(self) -> bytes:
        return b""

    def release(self) -> None:
        self._hub.unsubscribe(self._subscription)


def stream_route(app: Flask) -> StreamRoute:
    """``/api/sse/stream`` as a stream route of ``app`` (see :mod:`core.events.streams`)."""

    def open_feed(scope: Scope, wake: Wake) -> EventFeed | None:
        request_id = _query_request_id(scope)
        return EventFeed(get_hub(app), request_id, wake) if request_id else None

    def close_all() -> None:
        hub = app.extensions.get(_HUB)
        if hub is not None:
            hub.close_all()

    return StreamRoute(STREAM_PATH, open_feed, close_all)


def _query_request_id(scope: Scope) -> str | None:
    """The stream's ``request_id`` when it is well formed (else the preflight refuses it)."""
    values = parse_qs(scope.get("query_string", b"").decode("latin1")).get("request_id", [])
    if len(values) == 1 and REQUEST_ID.match(values[0]):
        return values[0]
    return None


def _missed(request_id: str) -> list[dict[str, Any]]:
    """What a reconnecting client (``Last-Event-ID``) missed for ``request_id``."""
    last = request.headers.get("Last-Event-ID", "").strip()
    if not last.isdigit() or len(last) > 18:
        return []
    events = missed_events(int(last), request_id)
    return [{"id": e.id, "type": e.type, "payload": e.payload} for e in events]


@blueprint.get("/stream", responses={200: None, **error_responses(400)})
def stream(query: StreamQuery) -> Response:
    """Open the event stream (``text/event-stream``): a ``version`` event, then (after a
    reconnect with ``Last-Event-ID``) the events missed meanwhile, then every event published to
    everyone or to ``request_id``, and heartbeat comments."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    fields = {"version": ui_version(), "request_id": query.request_id}
    if is_preflight():
        return grant(**fields, replay=_missed(query.request_id))
    hub = get_hub(app)
    return blocking_response(
        lambda wake: EventFeed(hub, query.request_id, wake),
        lambda: {**fields, "replay": _missed(query.request_id)},
        get_state(app).settings.sse_heartbeat,
    )
