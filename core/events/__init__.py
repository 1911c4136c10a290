"""Live events: plugins publish, every open ``/api/sse/stream`` of every worker and instance
receives.

* :func:`publish_event` (also in :mod:`core.plugin_api`) stores an event in the ``events`` table
  inside the caller's transaction; on PostgreSQL it also ``NOTIFY``\\ s the listeners.
* :mod:`core.events.hub`: one hub per worker process watches the table and hands events to the
  open streams they are meant for (all, or one ``request_id``).
* :mod:`core.events.api`: ``GET /api/sse/stream`` (the contract's event stream).
* :mod:`core.events.asgi` and :mod:`core.events.worker`: under ``partsbin serve``, streams are
  served on each worker's asyncio loop, so they never hold a thread the API needs; every other
  request runs in the worker's thread pool as before.

See docs/architecture.md ("Live events") for why.
"""

from __future__ import annotations

from typing import Any

from core.events.store import insert_event

#: The event the UI reads as "the served UI's version": payload ``{"version": str}``.
VERSION_EVENT = "version"
#: Background task progress: payload ``{"task_id": str, "event_type": str, "data": ...}``.
TASK_EVENT = "task_event"


def publish_event(event_type: str, payload: Any, request_id: str | None = None) -> int:
    """Publish an event to every open stream, or only to the streams opened with
    ``?request_id=`` ``request_id``.

    Must run in an app context. The event is stored in the caller's transaction, so the event of
    work that rolls back is never delivered. Returns the event id. Raises
    :class:`core.errors.ValidationFailed` (``BAD_EVENT``) for a type that is not a lower-case
    name, a bad request id, a payload that is not JSON or is over 64 KiB.
    """
    return insert_event(event_type, payload, request_id)


__all__ = ["TASK_EVENT", "VERSION_EVENT", "publish_event"]
