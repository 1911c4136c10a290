"""The tasks ``POST /api/testing/tasks/start`` runs: a demo that reports progress and completes,
and one that fails. Both are real tasks (:mod:`core.tasks`): stored, followed through
``/api/tasks/{id}/status``, cancellable, and their events reach the SSE streams."""

from __future__ import annotations

from typing import Any

from core.tasks.runner import TaskContext, TaskFailed, Work


def demo_task(steps: int, delay: float) -> Work:
    """``steps`` progress reports ``delay`` seconds apart, then ``{"steps_completed"}``."""

    def work(context: TaskContext) -> dict[str, Any]:
        for step in range(1, steps + 1):
            context.wait(delay)
            context.progress(f"Step {step} of {steps}", step / steps)
        return {"steps_completed": steps}

    return work


def failing_task(steps: int, delay: float, error_message: str) -> Work:
    """Like :func:`demo_task`, then fails with ``error_message`` (code ``TASK_FAILED``)."""

    def work(context: TaskContext) -> dict[str, Any]:
        demo_task(steps, delay)(context)
        raise TaskFailed(error_message)

    return work
