"""Helpers for the throwaway test servers: free loopback ports, log tails, stopping processes,
and a last-resort cleanup at interpreter exit."""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

LOOPBACK = "127.0.0.1"


def is_port_free(port: int) -> bool:
    """Return whether ``port`` can be bound on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def free_ports(count: int, *, paired_offset: int | None = None) -> list[int]:
    """Return ``count`` distinct ports that are free on 127.0.0.1.

    With ``paired_offset``, every returned ``port + paired_offset`` is free as well (and distinct
    from the others). Another process may still take a port before the caller binds it; callers
    retry on a bind failure.
    """
    sockets: list[socket.socket] = []
    ports: list[int] = []
    try:
        while len(ports) < count:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.bind((LOOPBACK, 0))
            port = sock.getsockname()[1]
            if paired_offset is not None:
                partner = port + paired_offset
                if partner > 65535 or partner in ports or not is_port_free(partner):
                    continue
                ports.append(port)
                held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(held)
                held.bind((LOOPBACK, partner))
            else:
                ports.append(port)
    finally:
        for sock in sockets:
            sock.close()
    return ports


def log_tail(path: Path, lines: int = 40) -> str:
    """Return the last ``lines`` lines of the log at ``path`` (or a note that there is none)."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log at {path}: {exc.strerror})"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else f"(log {path} is empty)"


def stop_process(process: subprocess.Popen[bytes], *, grace: float) -> None:
    """Send SIGTERM (after SIGCONT, in case it is paused), then SIGKILL after ``grace`` seconds."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGCONT)
        process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def wait_until_stopped(pid: int, *, timeout: float = 5.0) -> None:
    """Wait until every thread of ``pid`` is stopped (after SIGSTOP), reading ``/proc`` (Linux).

    SIGSTOP takes effect asynchronously: a busy multi-threaded server can still answer a request
    right after ``kill()`` returns. Raises :class:`TimeoutError` if it does not stop in time.
    """
    tasks = Path(f"/proc/{pid}/task")
    if not tasks.is_dir():
        return  # not Linux: nothing to check
    deadline = time.monotonic() + timeout
    while True:
        states = []
        for stat in tasks.glob("*/stat"):
            with contextlib.suppress(OSError):
                # The state follows the command name, which is in parentheses and may hold spaces.
                states.append(stat.read_text().rsplit(")", 1)[1].split()[0])
        if states and all(state in ("T", "t") for state in states):
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"process {pid} did not stop within {timeout} s (states {states})")
        time.sleep(0.005)


def die_with_parent() -> Callable[[], None] | None:
    """Return a ``preexec_fn`` that makes the child get SIGKILL when this process dies (Linux).

    Used so a test run that is killed outright leaves no server behind. The kernel tracks the
    *thread* that forked, so this is only returned when called from the main thread.
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return None
    pr_set_pdeathsig = 1

    def preexec() -> None:
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)

    return preexec


class Stoppable(Protocol):
    def stop(self) -> None: ...


_running: set[Stoppable] = set()
_running_lock = threading.Lock()


def track(server: Stoppable) -> None:
    """Remember ``server`` so it is stopped at interpreter exit if nobody stopped it."""
    with _running_lock:
        _running.add(server)


def untrack(server: Stoppable) -> None:
    with _running_lock:
        _running.discard(server)


@atexit.register
def _stop_leftovers() -> None:
    with _running_lock:
        leftovers = list(_running)
    for server in leftovers:
        with contextlib.suppress(Exception):
            server.stop()


def remove_files(paths: Iterable[Path]) -> None:
    """Delete each file, ignoring the ones already gone."""
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def can_apt_install() -> bool:
    """Whether :func:`apt_install` may run here: as root with ``apt-get`` on the PATH."""
    import shutil

    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def apt_install(package: str, timeout: float = 1200) -> None:
    """Install a Debian package (``apt-get update``, then ``apt-get install -y``), as root.

    Raises :class:`RuntimeError` naming the failing command, with the tail of its output.
    """
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", package]):
        result = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"`{' '.join(command)}` failed with status {result.returncode}:\n"
                f"{result.stdout[-2000:]}{result.stderr[-2000:]}"
            )
