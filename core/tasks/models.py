"""The ``tasks`` table (created by ``core/tasks/migrations``)."""

from __future__ import annotations

import peewee

from core.db import BaseModel, utcnow

PENDING, RUNNING, COMPLETED, FAILED, CANCELLED = (
    "pending",
    "running",
    "completed",
    "failed",
    "cancelled",
)
#: A task in one of these states may still change.
ACTIVE = (PENDING, RUNNING)
#: A task in one of these states is finished for good.
FINISHED = (COMPLETED, FAILED, CANCELLED)


class TaskRow(BaseModel):
    """One background task. ``heartbeat_at`` is refreshed by the working thread (at least every
    progress report); ``result`` is JSON text."""

    id = peewee.CharField(max_length=64, primary_key=True)
    task_type = peewee.CharField(max_length=64)
    status = peewee.CharField(max_length=16, default=PENDING)
    request_id = peewee.CharField(max_length=128, null=True)
    progress = peewee.DoubleField(null=True)
    progress_text = peewee.CharField(max_length=500, null=True)
    result = peewee.TextField(null=True)
    error = peewee.CharField(max_length=1000, null=True)
    error_code = peewee.CharField(max_length=64, null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    started_at = peewee.DateTimeField(null=True)
    ended_at = peewee.DateTimeField(null=True)
    heartbeat_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "tasks"
