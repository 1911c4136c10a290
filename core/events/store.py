"""The ``events`` table: writing an event, reading the ones after an id, forgetting old ones.

The table is how an event reaches every worker of every instance: the publisher inserts a row
(inside the caller's transaction, so the event of rolled-back work is never seen) and, on
PostgreSQL, sends ``NOTIFY partsbin_events`` in the same transaction to wake the listeners at
once. Each worker's :class:`core.events.hub.EventHub` reads the rows after the last id it saw.
Rows older than :data:`RETENTION` are deleted by the hubs.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

import peewee

from core.db import BaseModel, database, is_sqlite, utcnow
from core.errors import ValidationFailed

#: PostgreSQL channel the publishers notify and the hubs listen on.
CHANNEL = "partsbin_events"
#: How long events stay in the table (a reconnecting client may replay that far back).
RETENTION = dt.timedelta(minutes=10)
#: Largest payload, as JSON text.
MAX_PAYLOAD_BYTES = 64 * 1024
#: Event type names: lower-case words joined by underscores.
EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
#: Request ids clients use to receive the events meant for them.
REQUEST_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
#: At most this many rows are read per poll.
READ_BATCH = 500


@dataclass(frozen=True)
class Event:
    """One published event. ``request_id`` ``None`` means every client."""

    id: int
    type: str
    payload: Any
    request_id: str | None


def encode_payload(event_type: str, payload: Any, request_id: str | None) -> str:
    """Check an event before it is stored; return its payload as JSON text.

    Raises :class:`ValidationFailed` (code ``BAD_EVENT``) for a bad type name or request id, a
    payload that is not JSON-serialisable, or one larger than :data:`MAX_PAYLOAD_BYTES`.
    """
    if not isinstance(event_type, str) or not EVENT_TYPE.match(event_type):
        raise ValidationFailed(
            f"event type {event_type!r} is not a lower-case name like 'task_event'",
            {"type": str(event_type)[:80]},
            code="BAD_EVENT",
        )
    if request_id is not None and not REQUEST_ID.match(request_id):
        raise ValidationFailed(
            "request_id must be 1-128 letters, digits, '-' or '_'",
            {"request_id": str(request_id)[:140]},
            code="BAD_EVENT",
        )
    try:
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(
            f"event payload is not JSON: {exc}", {"type": event_type}, code="BAD_EVENT"
        ) from None
    if len(text.encode()) > MAX_PAYLOAD_BYTES:
        raise ValidationFailed(
            f"event payload is larger than {MAX_PAYLOAD_BYTES} bytes",
            {"type": event_type, "max_bytes": MAX_PAYLOAD_BYTES},
            code="BAD_EVENT",
        )
    return text


class EventRow(BaseModel):
    """A stored event (table ``events``, created by ``core/events/migrations``)."""

    id = peewee.BigAutoField()
    event_type = peewee.CharField(max_length=64)
    payload = peewee.TextField()
    request_id = peewee.CharField(max_length=128, null=True)
    created_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "events"


def insert_event(event_type: str, payload: Any, request_id: str | None = None) -> int:
    """Store an event in the current app's database (and notify, on PostgreSQL); return its id.

    Runs in the caller's transaction when there is one (the event is seen only if it commits).
    Raises like :func:`encode_payload`.
    """
    text = encode_payload(event_type, payload, request_id)
    with database.atomic():
        event_id = int(
            EventRow.insert(event_type=event_type, payload=text, request_id=request_id).execute()
        )
        if not is_sqlite():
            database.execute_sql("SELECT pg_notify(%s, %s)", (CHANNEL, str(event_id)))
    return event_id


_AFTER = (
    "SELECT id, event_type, payload, request_id FROM events WHERE id > {0} ORDER BY id LIMIT {0}"
)
_AFTER_SQLITE = _AFTER.format("?")
_AFTER_POSTGRES = _AFTER.format("%s")
_PRUNE_SQLITE = "DELETE FROM events WHERE created_at < ?"
_PRUNE_POSTGRES = "DELETE FROM events WHERE created_at < %s"


def missed_events(last_id: int, request_id: str, limit: int = 256) -> list[Event]:
    """The events after ``last_id`` meant for everyone or for ``request_id``, oldest first (at
    most ``limit``, the newest ones when more are missed): what a reconnecting client missed,
    as far back as :data:`RETENTION`. Uses the current app's database."""
    query = (
        EventRow.select()
        .where(
            (EventRow.id > last_id)
            & (EventRow.request_id.is_null() | (EventRow.request_id == request_id))
        )
        .order_by(EventRow.id.desc())
        .limit(limit)
    )
    rows = list(query)[::-1]
    return [Event(int(r.id), r.event_type, json.loads(r.payload), r.request_id) for r in rows]


def latest_id(db: peewee.Database) -> int:
    """The largest event id in ``db`` (0 when there is none)."""
    row = db.execute_sql("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()
    return int(row[0])


def events_after(db: peewee.Database, last_id: int) -> list[Event]:
    """The events with an id above ``last_id``, oldest first (at most :data:`READ_BATCH`)."""
    sql = _AFTER_SQLITE if isinstance(db, peewee.SqliteDatabase) else _AFTER_POSTGRES
    cursor = db.execute_sql(sql, (last_id, READ_BATCH))
    return [Event(int(row[0]), row[1], json.loads(row[2]), row[3]) for row in cursor.fetchall()]


def prune(db: peewee.Database, now: dt.datetime | None = None) -> int:
    """Delete events older than :data:`RETENTION`; return how many."""
    sql = _PRUNE_SQLITE if isinstance(db, peewee.SqliteDatabase) else _PRUNE_POSTGRES
    cutoff = (now or utcnow()) - RETENTION
    with db.atomic():
        cursor = db.execute_sql(sql, (cutoff,))
    return int(cursor.rowcount or 0)
