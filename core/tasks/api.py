"""``/api/tasks/{task_id}``: the status of a background task, cancelling it, forgetting it.

Any worker answers from the ``tasks`` table (see :mod:`core.tasks`). An id that names no task
(never started, deleted, or pruned an hour after it ended) is a 404 ``TASK_NOT_FOUND``.
"""

from __future__ import annotations

from typing import Any, Literal

from flask import Response, jsonify
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field

from core.api.schemas import error_responses
from core.tasks import runner

blueprint = APIBlueprint("tasks", __name__, url_prefix="/api/tasks", abp_tags=[Tag(name="tasks")])


class TaskPath(BaseModel):
    task_id: str = Field(description="the id the task was started with (32 hex digits)")


class TaskStatusOut(BaseModel):
    """A task's state, the same from every worker."""

    task_id: str
    task_type: str
    status: Literal["pending", "running", "completed", "failed", "cancelled"]
    progress: float | None = Field(description="0 to 1, as last reported")
    progress_text: str | None
    result: dict[str, Any] | None = Field(description="what a completed task produced")
    error: str | None
    error_code: str | None = Field(
        description="TASK_FAILED, TASK_CANCELLED, TASK_ABANDONED (its worker stopped), ..."
    )
    created_at: str
    start_time: str | None
    end_time: str | None


@blueprint.get("/<task_id>/status", responses={200: TaskStatusOut, **error_responses(404)})
def task_status(path: TaskPath) -> Response:
    """The task's status, progress and outcome."""
    return jsonify(runner.task_json(runner.get_task(path.task_id)))


@blueprint.post("/<task_id>/cancel", responses={200: TaskStatusOut, **error_responses(404, 409)})
def cancel_task(path: TaskPath) -> Response:
    """Cancel a pending or running task: it is ``cancelled`` at once, its work stops at its
    next progress report, and a ``task_failed`` event (code ``TASK_CANCELLED``) is published.
    A finished task is a 409 ``TASK_NOT_RUNNING``."""
    return jsonify(runner.task_json(runner.cancel_task(path.task_id)))


@blueprint.delete("/<task_id>", responses={204: None, **error_responses(404, 409)})
def delete_task(path: TaskPath) -> Response:
    """Forget a finished task (204). A pending or running one is a 409 ``TASK_RUNNING``."""
    runner.delete_task(path.task_id)
    return Response(status=204)
