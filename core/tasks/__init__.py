"""Background tasks: work that outlives its request, with progress every client can follow.

* :func:`core.tasks.runner.start_task` stores a task in the ``tasks`` table and runs its work in
  a thread of the worker process that started it. The work reports progress through its
  :class:`~core.tasks.runner.TaskContext`; each change of state is written to the table and
  published as a ``task_event`` (:data:`core.events.TASK_EVENT`: ``{"task_id", "event_type",
  "data"}``) in the same transaction, so every stream of every worker sees it.
* :mod:`core.tasks.api`: ``GET /api/tasks/{id}/status``, ``POST /api/tasks/{id}/cancel`` and
  ``DELETE /api/tasks/{id}``, answered from the table by any worker.

What lives where: a task's state (status, progress, result, error) is in the database and is
the same for every worker; the thread doing the work lives in one process. A cancel from any
worker is a conditional ``UPDATE`` (the database decides who wins); the working thread notices
at its next progress report and stops. A task whose process died (its heartbeat older than
:data:`~core.tasks.runner.STALE_AFTER`) is marked failed (``TASK_ABANDONED``) by the next
request that reads it. Finished tasks are deleted :data:`~core.tasks.runner.RETENTION` after
they end.
"""
