"""Starting, running, reading, cancelling and deleting background tasks.

A task's state is a row of ``tasks``; every change of it is a conditional ``UPDATE`` (``WHERE
status IN (...)``) that publishes its ``task_event`` in the same transaction, so a cancel and
a progress report racing in two workers cannot both win, and no event is sent for a change
that did not happen. Events (``data`` as EI's UI reads it):

* ``task_started``: ``{}``;
* ``progress_update``: ``{"text": str, "value": float | None}`` (``value`` from 0 to 1);
* ``task_completed``: ``{"success": true, **result}``;
* ``task_failed``: ``{"error": str, "code": str}`` (also sent when a task is cancelled, code
  ``TASK_CANCELLED``, or abandoned by a worker that stopped, ``TASK_ABANDONED``).

They go to the streams of the task's ``request_id``, or to every stream without one.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app

from core.db import database, utcnow
from core.errors import Conflict, NotFound, ServiceUnavailable
from core.events import TASK_EVENT, publish_event
from core.tasks.models import (
    ACTIVE,
    CANCELLED,
    COMPLETED,
    FAILED,
    FINISHED,
    PENDING,
    RUNNING,
    TaskRow,
)

log = logging.getLogger("partsbin.tasks")

#: A task whose heartbeat is older than this is taken for abandoned (its process died).
STALE_AFTER = dt.timedelta(seconds=60)
#: :meth:`TaskContext.wait` refreshes the heartbeat (and checks for a cancel) this often.
HEARTBEAT_EVERY_SECONDS = 10.0
#: Finished (and long-abandoned) tasks are deleted this long after their end.
RETENTION = dt.timedelta(hours=1)
#: Tasks one app (one worker process) runs at once; more is a 503 ``TOO_MANY_TASKS``.
MAX_RUNNING = 4
#: What task ids look like (anything else is an unknown task).
TASK_ID = re.compile(r"^[0-9a-f]{32}$")
_EXTENSION = "partsbin.task_runner"
_MAX_TEXT = 500
_MAX_ERROR = 1000


class TaskFailed(Exception):
    """Raised by a task's work to fail the task with ``message`` and ``code``."""

    def __init__(self, message: str, code: str = "TASK_FAILED") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class TaskCancelled(Exception):
    """Raised to the work when its task was cancelled or deleted (or the server is stopping):
    the work must stop; its task is already finished."""


#: A task's work: called in the task's thread, inside an app context; returns the result (a
#: JSON object, or ``None``) or raises :class:`TaskFailed`.
Work = Callable[["TaskContext"], dict[str, Any] | None]


class TaskContext:
    """What a task's work reports through."""

    def __init__(self, runner: TaskRunner, task_id: str, request_id: str | None) -> None:
        self.task_id = task_id
        self.request_id = request_id
        self._runner = runner

    def progress(self, text: str, value: float | None = None) -> None:
        """Record progress (``value`` from 0 to 1) and publish a ``progress_update``. Raises
        :class:`TaskCancelled` when the task is no longer running."""
        text = text[:_MAX_TEXT]
        if value is not None:
            value = min(1.0, max(0.0, float(value)))
        changed = _transition(
            self.task_id,
            self.request_id,
            (RUNNING,),
            {"progress": value, "progress_text": text, "heartbeat_at": utcnow()},
            ("progress_update", {"text": text, "value": value}),
        )
        if not changed:
            raise TaskCancelled(self.task_id)

    def wait(self, seconds: float) -> None:
        """Sleep ``seconds``, refreshing the heartbeat every :data:`HEARTBEAT_EVERY_SECONDS`.
        Raises :class:`TaskCancelled` when the server is stopping or the task was cancelled
        (at once when by this process, else at the next heartbeat). Outside a transaction the
        thread's database connection goes back to the pool meanwhile."""
        if not database.is_closed() and not database.in_transaction():
            database.close()  # a sleeping task must not hold one of the requests' connections
        interrupted = self._runner.interruption(self.task_id)
        remaining = seconds
        while remaining > 0:
            step = min(remaining, HEARTBEAT_EVERY_SECONDS)
            if interrupted.wait(step):
                raise TaskCancelled(self.task_id)
            remaining -= step
            if remaining > 0 and not _transition(
                self.task_id, None, (RUNNING,), {"heartbeat_at": utcnow()}, None
            ):
                raise TaskCancelled(self.task_id)


class TaskRunner:
    """The task threads of one app (one worker process)."""

    def __init__(self, app: Flask, max_running: int = MAX_RUNNING) -> None:
        self.app = app
        self.max_running = max_running
        #: Set when the app stops: waiting work raises :class:`TaskCancelled`.
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._threads: set[threading.Thread] = set()
        self._interruptions: dict[str, threading.Event] = {}

    @property
    def running(self) -> int:
        """How many task threads of this app are alive."""
        with self._lock:
            return len(self._threads)

    def start(self, task_type: str, work: Work, request_id: str | None = None) -> str:
        """Store a new task and start its thread; return its id. Call it outside a transaction
        (the thread must see the row). Raises :class:`ServiceUnavailable` (``TOO_MANY_TASKS``)
        when :attr:`max_running` tasks are running in this process."""
        with self._lock:
            if len(self._threads) >= self.max_running:
                raise ServiceUnavailable(
                    f"{self.max_running} tasks are already running in this worker; "
                    "try again when one has finished",
                    {"max_running": self.max_running},
                    code="TOO_MANY_TASKS",
                )
            task_id = uuid.uuid4().hex
            thread = threading.Thread(
                target=self._run,
                args=(task_id, work, request_id),
                name=f"partsbin-task-{task_id[:8]}",
                daemon=True,
            )
            self._threads.add(thread)
            # Exists before the task can be cancelled, so no cancel can miss it.
            self._interruptions[task_id] = threading.Event()
        try:
            prune()
            with database.atomic():
                TaskRow.create(
                    id=task_id, task_type=task_type, status=PENDING, request_id=request_id
                )
        except BaseException:
            with self._lock:
                self._threads.discard(thread)
                self._interruptions.pop(task_id, None)
            raise
        thread.start()
        return task_id

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every task thread; whether they all ended."""
        with self._lock:
            threads = list(self._threads)
        end = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, end - time.monotonic()))
        return not any(thread.is_alive() for thread in threads)

    def stop(self, timeout: float = 5.0) -> bool:
        """Tell every task to stop (waiting work raises :class:`TaskCancelled`) and wait."""
        self.stopping.set()
        with self._lock:
            for event in self._interruptions.values():
                event.set()
        return self.join(timeout)

    def interruption(self, task_id: str) -> threading.Event:
        """The event that interrupts the waits of ``task_id``'s work (set by :meth:`interrupt`
        and :meth:`stop`)."""
        with self._lock:
            event = self._interruptions.setdefault(task_id, threading.Event())
            if self.stopping.is_set():
                event.set()
        return event

    def interrupt(self, task_id: str) -> None:
        """Wake ``task_id``'s work if it is waiting in this process (after a cancel)."""
        with self._lock:
            event = self._interruptions.get(task_id)
        if event is not None:
            event.set()

    def _run(self, task_id: str, work: Work, request_id: str | None) -> None:
        try:
            with self.app.app_context():
                self._work(task_id, work, request_id)
        except Exception:  # a task thread must never die with a traceback only
            log.exception("task %s: could not record its outcome", task_id)
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())
                self._interruptions.pop(task_id, None)

    def _work(self, task_id: str, work: Work, request_id: str | None) -> None:
        now = utcnow()
        started = _transition(
            task_id,
            request_id,
            (PENDING,),
            {"status": RUNNING, "started_at": now, "heartbeat_at": now},
            ("task_started", {}),
        )
        if not started:
            return  # cancelled before it began
        context = TaskContext(self, task_id, request_id)
        try:
            result = work(context) or {}
            text = json.dumps(result, allow_nan=False)
        except TaskCancelled:
            _fail(task_id, request_id, "the server stopped before the task ended", "TASK_ABANDONED")
            return
        except TaskFailed as exc:
            _fail(task_id, request_id, exc.message, exc.code)
            return
        except Exception:  # a bug in the work fails its task, not the worker
            log.exception("task %s failed", task_id)
            _fail(task_id, request_id, "the task failed unexpectedly", "INTERNAL_ERROR")
            return
        try:
            _transition(
                task_id,
                request_id,
                (RUNNING,),
                {"status": COMPLETED, "result": text, "progress": 1.0, "ended_at": utcnow()},
                ("task_completed", {"success": True, **result}),
            )
        except Exception:  # e.g. a result over the event size limit
            log.exception("task %s: its result could not be stored", task_id)
            _fail(task_id, request_id, "the task's result could not be stored", "INTERNAL_ERROR")


def get_runner(app: Flask | None = None) -> TaskRunner:
    """The task runner of ``app`` (default: the current app), created on first use."""
    target = app or current_app._get_current_object()  # type: ignore[attr-defined]
    runner = target.extensions.get(_EXTENSION)
    if runner is None:
        runner = target.extensions.setdefault(_EXTENSION, TaskRunner(target))
    return runner


def stop_tasks(app: Flask, timeout: float = 5.0) -> bool:
    """Stop ``app``'s task threads, if any (app teardown in tests); whether they all ended."""
    runner = app.extensions.get(_EXTENSION)
    return runner.stop(timeout) if runner is not None else True


def start_task(task_type: str, work: Work, request_id: str | None = None) -> str:
    """Start ``work`` as a task of the current app; see :meth:`TaskRunner.start`."""
    return get_runner().start(task_type, work, request_id)


# -- state changes --------------------------------------------------------------------------


def _transition(
    task_id: str,
    request_id: str | None,
    allowed: tuple[str, ...],
    changes: dict[str, Any],
    event: tuple[str, dict[str, Any]] | None,
) -> bool:
    """Apply ``changes`` if the task is in an ``allowed`` state, publishing ``event`` with it;
    whether it was."""
    with database.atomic():
        changed = (
            TaskRow.update(**changes)
            .where((TaskRow.id == task_id) & TaskRow.status.in_(allowed))
            .execute()
        )
        if changed and event is not None:
            event_type, data = event
            publish_event(
                TASK_EVENT,
                {"task_id": task_id, "event_type": event_type, "data": data},
                request_id=request_id,
            )
    return bool(changed)


def _fail(task_id: str, request_id: str | None, error: str, code: str) -> bool:
    error = error[:_MAX_ERROR]
    return _transition(
        task_id,
        request_id,
        ACTIVE,
        {"status": FAILED, "error": error, "error_code": code, "ended_at": utcnow()},
        ("task_failed", {"error": error, "code": code}),
    )


def get_task(task_id: str) -> TaskRow:
    """The task ``task_id`` (an abandoned one is marked failed first). Raises
    :class:`NotFound` (``TASK_NOT_FOUND``)."""
    row = TaskRow.get_or_none(TaskRow.id == task_id) if TASK_ID.match(task_id) else None
    if row is None:
        raise NotFound(f"no task {task_id[:80]!r}", {"task_id": task_id[:80]}, "TASK_NOT_FOUND")
    if row.status in ACTIVE and row.heartbeat_at < utcnow() - STALE_AFTER:
        _fail(row.id, row.request_id, "the worker running this task stopped", "TASK_ABANDONED")
        row = TaskRow.get_or_none(TaskRow.id == task_id) or row
    return row


def cancel_task(task_id: str) -> TaskRow:
    """Cancel a pending or running task (its work stops at its next report) and publish a
    ``task_failed`` with code ``TASK_CANCELLED``. Raises :class:`NotFound` and
    :class:`Conflict` (``TASK_NOT_RUNNING``) for a finished task."""
    row = get_task(task_id)
    error = "the task was cancelled"
    cancelled = _transition(
        row.id,
        row.request_id,
        ACTIVE,
        {"status": CANCELLED, "error": error, "error_code": "TASK_CANCELLED", "ended_at": utcnow()},
        ("task_failed", {"error": error, "code": "TASK_CANCELLED"}),
    )
    if cancelled:
        runner = current_app.extensions.get(_EXTENSION)
        if runner is not None:
            runner.interrupt(row.id)
    row = get_task(task_id)
    if not cancelled:
        raise Conflict(
            f"task {task_id} is not running: it is {row.status}",
            {"task_id": task_id, "status": row.status},
            code="TASK_NOT_RUNNING",
        )
    return row


def delete_task(task_id: str) -> None:
    """Forget a finished task. Raises :class:`NotFound` and :class:`Conflict`
    (``TASK_RUNNING``: cancel it first) for a pending or running one."""
    row = get_task(task_id)
    deleted = (
        TaskRow.delete().where((TaskRow.id == row.id) & TaskRow.status.in_(FINISHED)).execute()
    )
    if not deleted:
        row = get_task(task_id)
        raise Conflict(
            f"task {task_id} is {row.status}: cancel it before deleting it",
            {"task_id": task_id, "status": row.status},
            code="TASK_RUNNING",
        )


def prune(now: dt.datetime | None = None) -> int:
    """Delete tasks that finished, or were last heard of, more than :data:`RETENTION` ago;
    return how many."""
    cutoff = (now or utcnow()) - RETENTION
    finished_long_ago = TaskRow.status.in_(FINISHED) & (TaskRow.ended_at < cutoff)
    silent_long_ago = TaskRow.status.in_(ACTIVE) & (TaskRow.heartbeat_at < cutoff)
    return int(TaskRow.delete().where(finished_long_ago | silent_long_ago).execute())


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def task_json(row: TaskRow) -> dict[str, Any]:
    """The status of a task as ``GET /api/tasks/{id}/status`` answers it."""
    return {
        "task_id": row.id,
        "task_type": row.task_type,
        "status": row.status,
        "progress": row.progress,
        "progress_text": row.progress_text,
        "result": json.loads(row.result) if row.result else None,
        "error": row.error,
        "error_code": row.error_code,
        "created_at": _iso(row.created_at),
        "start_time": _iso(row.started_at),
        "end_time": _iso(row.ended_at),
    }


__all__ = [
    "CANCELLED",
    "COMPLETED",
    "FAILED",
    "PENDING",
    "RUNNING",
    "TaskCancelled",
    "TaskContext",
    "TaskFailed",
    "TaskRunner",
    "Work",
    "cancel_task",
    "delete_task",
    "get_runner",
    "get_task",
    "prune",
    "start_task",
    "stop_tasks",
    "task_json",
]
