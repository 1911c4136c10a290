"""`partsbin serve` as a real subprocess, for crash, concurrency and load tests and benchmarks."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import requests

from core.testing.servers.process import free_ports


def partsbin_executable() -> str:
    """The ``partsbin`` console script of the running interpreter's environment."""
    candidate = Path(sys.executable).parent / "partsbin"
    return str(candidate) if candidate.exists() else shutil.which("partsbin") or "partsbin"


class LiveServer:
    """Runs ``partsbin serve --migrate`` with the given ``PARTSBIN_*`` settings on a free port.

    ``start()`` waits (bounded) until ``/health/readyz`` answers 200; ``stop()`` sends SIGTERM
    and, after a grace period, SIGKILL; ``kill()`` sends SIGKILL at once (crash tests).
    """

    def __init__(self, settings: Mapping[str, str], workers: int = 2, threads: int = 4) -> None:
        (self.port,) = free_ports(1)
        self.settings = dict(settings)
        self.workers = workers
        self.threads = threads
        self.process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.NamedTemporaryFile(
            prefix="partsbin-serve-", suffix=".log", delete=False
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> LiveServer:
        env = {
            **os.environ,
            **self.settings,
            "PARTSBIN_HOST": "127.0.0.1",
            "PARTSBIN_PORT": str(self.port),
            "PARTSBIN_WORKERS": str(self.workers),
            "PARTSBIN_THREADS": str(self.threads),
        }
        env.setdefault("PARTSBIN_LOG_LEVEL", "WARNING")
        if "PARTSBIN_DB_POOL_SIZE" not in self.settings:
            env["PARTSBIN_DB_POOL_SIZE"] = "8"  # the production default, not the tests' 0
        self.process = subprocess.Popen(
            [partsbin_executable(), "serve", "--migrate"],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"partsbin serve exited early:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.url}/health/readyz", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"partsbin serve was not ready within {timeout} s:\n{self.log_tail()}")

    def log_tail(self, chars: int = 4000) -> str:
        self._log.flush()
        return Path(self._log.name).read_text(errors="replace")[-chars:]

    def pids(self) -> list[int]:
        """The master's and its workers' process ids."""
        if self.process is None:
            return []
        out = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(self.process.pid)], capture_output=True, text=True
        ).stdout
        return [self.process.pid, *(int(p) for p in out.split())]

    def kill(self) -> None:
        """SIGKILL the whole process group (master and workers) at once."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        Path(self._log.name).unlink(missing_ok=True)
