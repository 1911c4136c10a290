"""Helpers shared by the benchmarks: tables, machine facts, RSS sampling, data, servers."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import platform
import statistics
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

MB = 1_000_000


# --- output -------------------------------------------------------------------------------


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a Markdown table (pastes straight into docs/benchmarks.md)."""
    cells = [[str(h) for h in headers], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    print(f"\n### {title}\n", flush=True)
    for index, row in enumerate(cells):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if index == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    print(flush=True)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return str(value)


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile (0..100) of ``values`` (nearest rank)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1))))
    return ordered[rank]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine() -> dict[str, str]:
    """nproc, RAM, CPU model, OS, Python, the date and the load average, for the record."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    load = "unknown"
    with contextlib.suppress(OSError):
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load average (1/5/15 min) at start": load,
        "nproc": str(os.cpu_count()),
        "ram": ram,
        "cpu": cpu,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


# --- memory -------------------------------------------------------------------------------


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


class RssSampler:
    """Measure this process's peak RSS growth over a block (Linux ``/proc/self/status``).

    Samples ``VmRSS`` every ``interval`` seconds in a thread, and also resets and reads the
    kernel's high-water mark ``VmHWM`` (via ``/proc/self/clear_refs``) so short peaks between
    samples are not missed. ``growth_mb`` = peak - RSS at entry, in MB (10^6 bytes).
    """

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.baseline_kb = 0
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        with contextlib.suppress(OSError):
            Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        self.baseline_kb = self.peak_kb = _status_kb("VmRSS")
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_kb = max(self.peak_kb, _status_kb("VmRSS"))

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak_kb = max(self.peak_kb, _status_kb("VmRSS"), _status_kb("VmHWM"))

    @property
    def growth_mb(self) -> float:
        return (self.peak_kb - self.baseline_kb) * 1024 / MB


# --- data ---------------------------------------------------------------------------------


class GeneratedStream:
    """``size`` pseudo-random bytes generated on the fly (nothing large is held in memory).

    A 1 MiB block derived from a random seed is repeated, so every instance has a new SHA-256
    (no dedup between runs) while generating costs next to nothing.
    """

    BLOCK = 1024 * 1024

    def __init__(self, size: int, seed: bytes | None = None) -> None:
        self.size = size
        self._sent = 0
        self._block = hashlib.shake_256(seed or uuid.uuid4().bytes).digest(self.BLOCK)

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes (never more than the rest of the current block)."""
        remaining = self.size - self._sent
        if remaining <= 0:
            return b""
        offset = self._sent % self.BLOCK
        want = min(remaining if size < 0 else size, remaining, self.BLOCK - offset)
        chunk = self._block[offset : offset + want]
        self._sent += len(chunk)
        return chunk

    def write_to(self, path: Path) -> None:
        """Write the whole stream to ``path`` (for the ``sha256sum`` reference)."""
        with open(path, "wb") as out:
            while chunk := self.read(self.BLOCK):
                out.write(chunk)


# --- processes and servers ----------------------------------------------------------------


def free_port() -> int:
    """A TCP port free on 127.0.0.1 a moment ago (see core/testing/servers/process.py)."""
    from core.testing.servers.process import free_ports

    return free_ports(1)[0]


def wait_for_http(url: str, timeout: float = 30.0) -> None:
    """Poll ``url`` until it answers 200; raise ``TimeoutError`` after ``timeout`` seconds."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer within {timeout:.0f}s")
        time.sleep(0.1)


@contextlib.contextmanager
def seaweedfs() -> Iterator[Any]:
    """A throwaway SeaweedFS S3 server (core/testing/servers/seaweedfs.py) for the whole block."""
    from core.testing.servers.seaweedfs import SeaweedServer

    server = SeaweedServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def remote_storage_url(kind: str, server: Any, bucket: str, prefix: str) -> str:
    """An ``s3://`` or ``minio://`` storage URL for ``bucket/prefix`` on the SeaweedFS server."""
    credentials = (
        f"access_key={quote(server.access_key, safe='')}"
        f"&secret_key={quote(server.secret_key, safe='')}&region={server.region}"
    )
    if kind == "s3":
        return (
            f"s3://{bucket}/{prefix}?endpoint_url={quote(server.endpoint_url, safe='')}"
            f"&addressing_style=path&{credentials}"
        )
    if kind == "minio":
        return f"minio://127.0.0.1:{server.s3_port}/{bucket}/{prefix}?secure=false&{credentials}"
    raise ValueError(f"unknown remote storage kind {kind!r}")
