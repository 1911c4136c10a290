"""Server variants of ``partsbin serve`` side by side on the same load: local driver, PostgreSQL.

Each variant (``bench/serving_launch.py``: what ``partsbin serve`` runs now, gunicorn gthread as
before live events, uvicorn with h11 or without zero-copy, the a2wsgi front) runs as 1 worker x
8 threads on a local blob folder and a PostgreSQL database of its own, like the local side of
``bench remote``; all run at once. Figures: ``GET /health/healthz``, a 100 KiB CAS GET and a
warm ``?thumbnail=300`` (8 closed-loop client processes, 3 s after a 1 s warm-up), then 30
unique 50 KiB PNG uploads in sequence and the same 5 MiB PDF uploaded 20 times (dedup). Every
figure is measured on every variant back to back, in an order rotated every round, for
``PARTSBIN_BENCH_ROUNDS`` rounds (default 6; ``--quick``: 2), so the machine's load hits the
variants alike; the table gives each figure's median over the rounds with its spread, and the
median of its per-round ratios to the first variant. The
worker's CPU time per request (user + system, all its threads, from ``/proc``) is given too. On a
shared 2-core machine only a difference that holds across the rounds means anything.

``PARTSBIN_BENCH_VARIANTS=gthread,serve`` (the default) picks the variants.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from bench.common import free_port, print_table, wait_for_http
from bench.http_load import Scenario, client_pool, run_load
from bench.remote import _worker_pid, big_pdf, noise_png, photo_jpeg
from bench.serving_launch import VARIANTS

CLIENTS = 8
UPLOADS = 30
DEDUP_REPEATS = 20
_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


@contextlib.contextmanager
def _server(variant: str, folder: Path, database_url: str) -> Iterator[tuple[int, int]]:
    port = free_port()
    env = {
        **os.environ,
        "PARTSBIN_DATABASE_URL": database_url,
        "PARTSBIN_STORAGE_URL": f"file://{folder / 'blobs'}",
        "PARTSBIN_HOST": "127.0.0.1",
        "PARTSBIN_PORT": str(port),
        "PARTSBIN_WORKERS": "1",
        "PARTSBIN_THREADS": "8",
        "PARTSBIN_LOG_LEVEL": "WARNING",
    }
    partsbin = str(Path(sys.executable).parent / "partsbin")
    subprocess.run([partsbin, "migrate"], env=env, check=True, capture_output=True)
    with open(folder / f"{variant}.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.serving_launch", variant],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health/readyz", timeout=90)
        yield port, _worker_pid(process.pid)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@dataclass
class _Target:
    """One running variant and what the figures need from it."""

    variant: str
    port: int
    worker: int
    session: requests.Session = field(default_factory=requests.Session)
    set_id: int = 0
    blob: str = ""
    photo: str = ""

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def upload(self, data: bytes, name: str) -> str:
        response = self.session.post(
            f"{self.base}/api/attachment-sets/{self.set_id}/attachments",
            files={"file": (name, data)},
            data={"title": name},
            timeout=60,
        )
        response.raise_for_status()
        return str(response.json()["attachment_url"]).split("?")[0].rsplit("/", 1)[-1]

    def prepare(self) -> None:
        part = self.session.post(f"{self.base}/api/parts", json={"description": "b"}, timeout=30)
        self.set_id = int(part.json()["attachment_set_id"])
        self.blob = self.upload(noise_png(100 * 1024), "b.png")
        self.photo = self.upload(photo_jpeg(1600, 1000, 1), "p.jpg")
        thumbnail = f"{self.base}/api/cas/{self.photo}?thumbnail=300"
        self.session.get(thumbnail, timeout=60).raise_for_status()


def _load(target: _Target, name: str, path: str, duration: float, pool: Any) -> dict[str, float]:
    scenario = Scenario(name, path, {}, 200)
    run_load(pool, CLIENTS, target.port, scenario, 1.0)  # warm-up
    cpu = _cpu_seconds(target.worker)
    result = run_load(pool, CLIENTS, target.port, scenario, duration)
    cpu = _cpu_seconds(target.worker) - cpu
    if result.errors:
        print(f"    {target.variant} {name}: {result.errors} errors", flush=True)
    return {
        name: result.per_second,
        name.replace("req/s", "CPU us/req"): cpu / max(1, result.requests) * 1e6,
    }


def healthz(target: _Target, duration: float, pool: Any) -> dict[str, float]:
    return _load(target, "healthz req/s", "/health/healthz", duration, pool)


def cas_get(target: _Target, duration: float, pool: Any) -> dict[str, float]:
    return _load(target, "CAS GET 100 KiB req/s", f"/api/cas/{target.blob}", duration, pool)


def warm_thumbnail(target: _Target, duration: float, pool: Any) -> dict[str, float]:
    path = f"/api/cas/{target.photo}?thumbnail=300"
    return _load(target, "warm thumbnail req/s", path, duration, pool)


def small_uploads(target: _Target, duration: float, pool: Any) -> dict[str, float]:
    pngs = [noise_png(50 * 1024) for _ in range(UPLOADS)]
    cpu = _cpu_seconds(target.worker)
    started = time.perf_counter()
    for index, png in enumerate(pngs):
        target.upload(png, f"s{index}.png")
    took = time.perf_counter() - started
    return {
        "50 KiB uploads/s": len(pngs) / took,
        "50 KiB upload CPU us": (_cpu_seconds(target.worker) - cpu) / len(pngs) * 1e6,
    }


def dedup_uploads(target: _Target, duration: float, pool: Any) -> dict[str, float]:
    pdf = big_pdf(5 * 1024 * 1024)
    target.upload(pdf, "same.pdf")
    cpu = _cpu_seconds(target.worker)
    started = time.perf_counter()
    for _ in range(DEDUP_REPEATS):
        target.upload(pdf, "same.pdf")
    took = time.perf_counter() - started
    return {
        "5 MiB dedup uploads/s": DEDUP_REPEATS / took,
        "5 MiB dedup upload CPU us": (_cpu_seconds(target.worker) - cpu) / DEDUP_REPEATS * 1e6,
    }


FIGURES = [healthz, cas_get, warm_thumbnail, small_uploads, dedup_uploads]


def run(args: argparse.Namespace) -> None:
    from core.testing.servers.postgres import PostgresServer

    variants = os.environ.get("PARTSBIN_BENCH_VARIANTS", "gthread,serve").split(",")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; choose from {list(VARIANTS)}")
    if any(v.endswith("-a2wsgi") for v in variants) and importlib.util.find_spec("a2wsgi") is None:
        raise SystemExit("the a2wsgi variants need `pip install a2wsgi` (not a dependency)")
    rounds = int(os.environ.get("PARTSBIN_BENCH_ROUNDS", "2" if args.quick else "6"))
    duration = 2.0 if args.quick else 3.0
    results: dict[str, dict[str, list[float]]] = {v: {} for v in variants}
    loads: list[float] = []
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="partsbin-bench-sv-")))
        pg = stack.enter_context(PostgresServer())
        pool = stack.enter_context(client_pool(CLIENTS))
        targets = []
        for variant in variants:
            folder = tmp / variant
            folder.mkdir()
            database = pg.create_database(f"bench_sv_{uuid.uuid4().hex[:8]}")
            port, worker = stack.enter_context(_server(variant, folder, database))
            targets.append(_Target(variant, port, worker))
            targets[-1].prepare()
        for round_number in range(rounds):
            shift = round_number % len(targets)
            order = targets[shift:] + targets[:shift]
            loads.append(os.getloadavg()[0])
            for figure in FIGURES:
                for target in order:
                    for name, value in figure(target, duration, pool).items():
                        results[target.variant].setdefault(name, []).append(value)
            shown = "; ".join(
                f"{t.variant} " + ", ".join(f"{v[-1]:.0f}" for v in results[t.variant].values())
                for t in targets
            )
            print(f"  round {round_number + 1} (load {loads[-1]:.1f}): {shown}", flush=True)
    names = list(results[variants[0]])
    rows = []
    for name in names:
        row: list[object] = [name]
        for variant in variants:
            values = results[variant][name]
            row.append(f"{statistics.median(values):,.1f} ({min(values):,.0f}-{max(values):,.0f})")
        first = results[variants[0]][name]
        for variant in variants[1:]:  # the median of the ratios within each round
            ratios = [v / f for v, f in zip(results[variant][name], first, strict=True) if f]
            row.append(f"{statistics.median(ratios):.2f}" if ratios else "-")
        rows.append(row)
    headers = ["figure", *variants, *[f"{v}/{variants[0]}" for v in variants[1:]]]
    print_table(
        f"partsbin serve variants, 1 worker x 8 threads, local driver, PostgreSQL: median of "
        f"{rounds} rounds (min-max); 1-min load average {min(loads):.1f}-{max(loads):.1f}",
        headers,
        rows,
    )
