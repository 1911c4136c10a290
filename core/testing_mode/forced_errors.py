"""Single-shot errors a browser test schedules for a route (testing mode only).

``POST /api/testing/auth/force-error?status=503`` stores one row; the next ``GET /api/auth/self``
takes it (deletes it) and answers that status instead of the user, so a test suite can reach the
UI's "No Access" and error screens. The row is in the database (table ``testing_forced_errors``,
migration source ``testing``), so the error reaches whichever worker or instance answers next,
and it is taken exactly once even when several answer at the same time.
"""

from __future__ import annotations

import peewee

from core.db import BaseModel, database, utcnow

#: The route a forced error is for: ``GET /api/auth/self``.
AUTH_SELF = "auth.self"
#: The statuses that may be forced: client and server errors.
LOWEST_STATUS, HIGHEST_STATUS = 400, 599


class ForcedError(BaseModel):
    """An error waiting for the next request to ``target``."""

    id = peewee.AutoField()
    target = peewee.CharField(max_length=64, index=True)
    status = peewee.IntegerField()
    created_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "testing_forced_errors"


def force_error(target: str, status: int) -> None:
    """Make the next request to ``target`` answer ``status`` (400-599); a pending forced error
    of the same target is replaced. Raises ``ValueError`` for a status outside that range."""
    if not LOWEST_STATUS <= status <= HIGHEST_STATUS:
        raise ValueError(f"status must be {LOWEST_STATUS}-{HIGHEST_STATUS}, not {status}")
    with database.atomic():
        ForcedError.delete().where(ForcedError.target == target).execute()
        ForcedError.create(target=target, status=status, created_at=utcnow())


def take_forced_error(target: str) -> int | None:
    """The status forced for this request to ``target``, removed so that it applies once;
    ``None`` when none is pending (or a concurrent request took it first)."""
    row = (
        ForcedError.select(ForcedError.id, ForcedError.status)
        .where(ForcedError.target == target)
        .order_by(ForcedError.id)
        .first()
    )
    if row is None:
        return None
    taken = ForcedError.delete().where(ForcedError.id == row.id).execute()
    return int(row.status) if taken else None
