"""Server variants of ``partsbin serve`` alternated on the same load: local driver, PostgreSQL.

Each variant (``bench/serving_launch.py``: what ``partsbin serve`` runs now, gunicorn gthread as
before live events, uvicorn with h11 or httptools, asyncio or uvloop) runs as 1 worker x 8
threads on a local blob folder and a PostgreSQL database of its own, like the local side of
``bench remote``. Per variant: ``GET /health/healthz``, a 100 KiB CAS GET and a warm
``?thumbnail=300``, 8 closed-loop client processes for 5 s after a 1 s warm-up, then 40 unique
50 KiB PNG uploads in sequence. The variants run one after the other, in an order rotated every
round, for ``PARTSBIN_BENCH_ROUNDS`` rounds (default 5; ``--quick``: 2), and the table gives each
figure's median over the rounds with its spread, plus the load averages seen. On a shared
2-core machine only a difference that holds in most rounds means anything.

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
from pathlib import Path

import requests

from bench.common import free_port, print_table, wait_for_http
from bench.http_load import Scenario, client_pool, run_load
from bench.remote import _worker_pid, noise_png, photo_jpeg
from bench.serving_launch import VARIANTS

CLIENTS = 8
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


def _measure(port: int, worker: int, duration: float, pool: object) -> dict[str, float]:
    base = f"http://127.0.0.1:{port}"
    session = requests.Session()
    set_id = session.post(f"{base}/api/parts", json={"description": "b"}, timeout=30).json()[
        "attachment_set_id"
    ]

    def upload(data: bytes, name: str) -> str:
        response = session.post(
            f"{base}/api/attachment-sets/{set_id}/attachments",
            files={"file": (name, data)},
            data={"title": name},
            timeout=60,
        )
        response.raise_for_status()
        return str(response.json()["attachment_url"]).split("?")[0].rsplit("/", 1)[-1]

    blob = upload(noise_png(100 * 1024), "b.png")
    photo = upload(photo_jpeg(1600, 1000, 1), "p.jpg")
    session.get(f"{base}/api/cas/{photo}?thumbnail=300", timeout=60).raise_for_status()
    figures: dict[str, float] = {}
    for name, path in [
        ("healthz req/s", "/health/healthz"),
        ("CAS GET 100 KiB req/s", f"/api/cas/{blob}"),
        ("warm thumbnail req/s", f"/api/cas/{photo}?thumbnail=300"),
    ]:
        scenario = Scenario(name, path, {}, 200)
        run_load(pool, CLIENTS, port, scenario, 1.0)  # type: ignore[arg-type]
        cpu = _cpu_seconds(worker)
        result = run_load(pool, CLIENTS, port, scenario, duration)  # type: ignore[arg-type]
        cpu = _cpu_seconds(worker) - cpu
        if result.errors:
            print(f"    {name}: {result.errors} errors", flush=True)
        figures[name] = result.per_second
        figures[name.replace("req/s", "CPU us/req")] = cpu / max(1, result.requests) * 1e6
    pngs = [noise_png(50 * 1024) for _ in range(40)]
    cpu = _cpu_seconds(worker)
    started = time.perf_counter()
    for index, png in enumerate(pngs):
        upload(png, f"s{index}.png")
    figures["50 KiB uploads/s"] = len(pngs) / (time.perf_counter() - started)
    figures["50 KiB upload CPU us"] = (_cpu_seconds(worker) - cpu) / len(pngs) * 1e6
    session.close()
    return figures


def run(args: argparse.Namespace) -> None:
    from core.testing.servers.postgres import PostgresServer

    variants = os.environ.get("PARTSBIN_BENCH_VARIANTS", "gthread,serve").split(",")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; choose from {list(VARIANTS)}")
    if any(v.endswith("-a2wsgi") for v in variants) and importlib.util.find_spec("a2wsgi") is None:
        raise SystemExit("the a2wsgi variants need `pip install a2wsgi` (not a dependency)")
    rounds = int(os.environ.get("PARTSBIN_BENCH_ROUNDS", "2" if args.quick else "5"))
    duration = 3.0 if args.quick else 5.0
    results: dict[str, dict[str, list[float]]] = {v: {} for v in variants}
    loads: list[float] = []
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="partsbin-bench-sv-")))
        pg = stack.enter_context(PostgresServer())
        pool = stack.enter_context(client_pool(CLIENTS))
        for round_number in range(rounds):
            shift = round_number % len(variants)
            for variant in variants[shift:] + variants[:shift]:
                folder = tmp / f"{variant}-{round_number}"
                folder.mkdir()
                database = pg.create_database(f"bench_sv_{uuid.uuid4().hex[:8]}")
                loads.append(os.getloadavg()[0])
                with _server(variant, folder, database) as (port, worker):
                    figures = _measure(port, worker, duration, pool)
                for name, value in figures.items():
                    results[variant].setdefault(name, []).append(value)
                shown = ", ".join(f"{k} {v:.1f}" for k, v in figures.items())
                print(f"  round {round_number + 1} {variant} (load {loads[-1]:.1f}): {shown}")
    names = list(results[variants[0]])
    rows = []
    for name in names:
        row: list[object] = [name]
        for variant in variants:
            values = results[variant][name]
            row.append(f"{statistics.median(values):,.1f} ({min(values):,.0f}-{max(values):,.0f})")
        if len(variants) > 1:
            first = statistics.median(results[variants[0]][name])
            row += [f"{statistics.median(results[v][name]) / first:.2f}" for v in variants[1:]]
        rows.append(row)
    headers = ["figure", *variants, *[f"{v}/{variants[0]}" for v in variants[1:]]]
    print_table(
        f"partsbin serve variants, 1 worker x 8 threads, local driver, PostgreSQL: median of "
        f"{rounds} rounds (min-max); 1-min load average {min(loads):.1f}-{max(loads):.1f}",
        headers,
        rows,
    )
