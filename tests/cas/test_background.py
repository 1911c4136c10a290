"""core.cas.background: bounded, failure-proof, and never in the way of a process's exit."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core.cas.background import BackgroundRunner, runner


def test_jobs_run_in_order_on_a_daemon_thread() -> None:
    ran: list[tuple[int, str, bool]] = []
    worker = BackgroundRunner()

    def job(number: int) -> None:
        thread = threading.current_thread()
        ran.append((number, thread.name, thread.daemon))

    for number in range(3):
        assert worker.submit(lambda number=number: job(number))
    assert worker.drain(30)
    assert ran == [(n, "partsbin-background", True) for n in range(3)]
    assert worker.pending == 0


def test_a_full_queue_refuses_at_once_and_counts_it() -> None:
    worker = BackgroundRunner(max_queued=2)
    release, started = threading.Event(), threading.Event()
    worker.submit(lambda: (started.set(), release.wait(30)))
    assert started.wait(30)
    assert worker.submit(lambda: None) and worker.submit(lambda: None)
    began = time.monotonic()
    assert not worker.submit(lambda: None)
    assert time.monotonic() - began < 1.0  # refused, not waited for
    assert worker.refused == 1 and worker.pending == 3
    release.set()
    assert worker.drain(30)


def test_a_failing_job_is_logged_and_the_next_one_runs(caplog: pytest.LogCaptureFixture) -> None:
    worker = BackgroundRunner()
    after: list[str] = []

    def failing() -> None:
        raise RuntimeError("job broke")

    worker.submit(failing)
    worker.submit(lambda: after.append("ran"))
    assert worker.drain(30)
    assert after == ["ran"]
    assert any("background job failed" in r.getMessage() for r in caplog.records)


def test_drain_gives_up_after_its_timeout() -> None:
    worker = BackgroundRunner()
    release = threading.Event()
    worker.submit(lambda: release.wait(30))
    assert not worker.drain(timeout=0.2)
    release.set()
    assert worker.drain(30)


def test_a_stopped_runner_refuses_jobs() -> None:
    worker = BackgroundRunner()
    worker.stop()
    assert not worker.submit(lambda: None)


def test_one_runner_per_process() -> None:
    assert runner() is runner()


def test_a_process_exits_at_once_while_a_job_runs_and_others_wait(tmp_path: Path) -> None:
    """A worker stopping (its interpreter exiting) does not wait for background jobs."""
    script = tmp_path / "exit.py"
    script.write_text(
        "import threading, time\n"
        "from core.cas.background import runner\n"
        "started = threading.Event()\n"
        "runner().submit(lambda: (started.set(), time.sleep(300)))\n"
        "for _ in range(5):\n"
        "    runner().submit(lambda: time.sleep(300))\n"
        "assert started.wait(30)\n"
        "print('exiting', flush=True)\n"
    )
    root = Path(__file__).resolve().parents[2]
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=root,
        env={"PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "exiting"
    assert time.monotonic() - began < 30
