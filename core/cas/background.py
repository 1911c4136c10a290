"""A small bounded background queue per process, for work no request should wait for.

Thumbnail pre-rendering (:mod:`core.cas.thumbnails`) hands jobs to :func:`runner`: one daemon
thread per process takes them from a queue of at most :data:`MAX_QUEUED` jobs. The rules:

* **Bounded, never blocking**: :meth:`BackgroundRunner.submit` returns ``False`` at once when
  the queue is full (or the runner is stopped); the caller then simply does not get the work
  done in the background (for thumbnails: the on-demand path renders them when asked).
* **Failures stay here**: a job that raises is logged and forgotten; nothing reaches the code
  that submitted it.
* **Never holds up shutdown**: the thread is a daemon, so a worker process exits (gunicorn's
  graceful stop, the interpreter's exit) without waiting for queued or running jobs; a job cut
  off mid-way leaves nothing half-written, because storage puts are atomic.
* **One per process**: after a ``fork`` the child gets a fresh runner (threads do not survive
  a fork), so gunicorn workers each have their own.

Work that follows a request is handed over with :func:`submit_after_response`, which queues it
only when the request ends (its response built and handed to the server), so it does not slow
that response down.

:meth:`BackgroundRunner.drain` waits until every submitted job has finished: tests and
benchmarks use it to wait deterministically instead of sleeping.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable

log = logging.getLogger("partsbin.background")

#: Jobs waiting at most; more are refused (``submit`` returns ``False``). A queued thumbnail job
#: holds its source (up to 16 MiB) or a decode, so this also bounds the memory they take.
MAX_QUEUED = 16

Job = Callable[[], object]


class BackgroundRunner:
    """One daemon thread working through a bounded FIFO queue of jobs (see the module doc)."""

    def __init__(self, name: str = "partsbin-background", max_queued: int = MAX_QUEUED) -> None:
        self.name = name
        self.max_queued = max_queued
        self._jobs: deque[Job] = deque()
        self._changed = threading.Condition()
        self._running = 0
        self._stopped = False
        self._thread: threading.Thread | None = None
        #: Jobs refused because the queue was full (counted for logs and tests).
        self.refused = 0

    def submit(self, job: Job) -> bool:
        """Queue ``job``; ``False`` (and the job is dropped) if the queue is full or stopped."""
        with self._changed:
            if self._stopped or len(self._jobs) >= self.max_queued:
                self.refused += 1
                return False
            self._jobs.append(job)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name=self.name, daemon=True)
                self._thread.start()
            self._changed.notify_all()
            return True

    @property
    def pending(self) -> int:
        """Jobs queued or running now."""
        with self._changed:
            return len(self._jobs) + self._running

    def drain(self, timeout: float | None = 30.0) -> bool:
        """Wait until no job is queued or running; ``False`` if ``timeout`` passed first."""
        with self._changed:
            return self._changed.wait_for(
                lambda: not self._jobs and not self._running, timeout=timeout
            )

    def stop(self) -> None:
        """Refuse new jobs and drop the queued ones (a running job finishes on its own)."""
        with self._changed:
            self._stopped = True
            self._jobs.clear()
            self._changed.notify_all()

    def _work(self) -> None:
        while True:
            with self._changed:
                while not self._jobs:
                    if self._stopped:
                        return
                    self._changed.wait()
                job = self._jobs.popleft()
                self._running += 1
            try:
                job()
            except Exception:  # a failing job must not end the thread
                log.warning("background job failed", exc_info=True)
            finally:
                with self._changed:
                    self._running -= 1
                    self._changed.notify_all()


#: Key in ``flask.g`` of the jobs a request deferred to its end.
_DEFERRED = "partsbin_deferred_jobs"


def submit_after_response(job: Job, on_refused: Callable[[], object] | None = None) -> bool:
    """Submit ``job`` to :func:`runner` when the current request ends, at once outside a
    request; ``False`` only when refused at once.

    In a request, the job is queued by :func:`queue_deferred` (a teardown function of the app,
    see :func:`core.app.create_app`), once the response has been built and handed to the
    server, so the background work does not compete with the answer it follows. A job refused
    then (queue full), or whose queueing fails, is dropped; ``on_refused`` (if given) runs in
    either case, to release what the job holds. Never raises.
    """
    from flask import g, has_request_context

    if not has_request_context():
        return _queue(job, on_refused)
    g.setdefault(_DEFERRED, []).append((job, on_refused))
    return True


def queue_deferred(_error: BaseException | None = None) -> None:
    """Queue the jobs the ending request deferred (a Flask ``teardown_request`` function)."""
    from flask import g

    for job, on_refused in g.pop(_DEFERRED, ()):
        _queue(job, on_refused)


def _queue(job: Job, on_refused: Callable[[], object] | None) -> bool:
    try:
        queued = runner().submit(job)
    except Exception:  # the work is optional: it must never fail what submitted it
        log.warning("cannot queue a background job", exc_info=True)
        queued = False
    if not queued and on_refused is not None:
        try:
            on_refused()
        except Exception:
            log.warning("cleaning up a refused background job failed", exc_info=True)
    return queued


_runner: BackgroundRunner | None = None
_runner_pid = 0
_runner_guard = threading.Lock()


def runner() -> BackgroundRunner:
    """This process's runner (a new one after a ``fork``)."""
    global _runner, _runner_pid
    with _runner_guard:
        if _runner is None or _runner_pid != os.getpid():
            _runner, _runner_pid = BackgroundRunner(), os.getpid()
        return _runner
