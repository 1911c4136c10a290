"""CAS GET requests/s over loopback through `partsbin serve`, 8 concurrent clients.

The server runs as a subprocess on a free port with a temp SQLite database and blob folder and
its default worker settings; the clients are 8 processes with one keep-alive connection each
(``http.client``), all on the same machine, so client and server share the CPUs. Scenarios: a
100 KB blob (200), the same with a matching ``If-None-Match`` (304), a 1 KiB range (206) and a
warm 200-pixel thumbnail, after the liveness probe as a framework baseline. Each runs for a
fixed duration (``--quick``: shorter).
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

from bench.common import free_port, median, percentile, print_table, wait_for_http
from bench.http_load import LoadResult, Scenario, client_pool, run_load
from core.cas.ingest import ingest
from storage_drivers.local import LocalDriver

CLIENTS = 8
OBJECT_BYTES = 100 * 1024
DURATION = 10.0
QUICK_DURATION = 3.0


def _row(scenario: Scenario, result: LoadResult) -> list[object]:
    return [
        scenario.name,
        scenario.expected_status,
        result.per_second,
        result.megabytes_per_second,
        median(result.latencies) * 1000,
        percentile(result.latencies, 99) * 1000,
        result.errors,
    ]


def _photo(width: int, height: int) -> bytes:
    gradient = Image.linear_gradient("L").resize((width, height))
    noise = Image.effect_noise((width, height), 24)
    mirrored = gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    image = Image.merge("RGB", (gradient, noise, mirrored))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def _start_server(folder: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PARTSBIN_DATABASE_URL": f"sqlite:///{folder / 'partsbin.db'}",
        "PARTSBIN_STORAGE_URL": f"file://{folder / 'blobs'}",
        "PARTSBIN_HOST": "127.0.0.1",
        "PARTSBIN_PORT": str(port),
        "PARTSBIN_LOG_LEVEL": "INFO",
    }
    partsbin = Path(sys.executable).parent / "partsbin"
    with open(folder / "server.log", "wb") as log:
        return subprocess.Popen(
            [str(partsbin), "serve", "--migrate"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: gunicorn and its workers
        )


def _stop_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def run(args: argparse.Namespace) -> None:
    duration = QUICK_DURATION if args.quick else DURATION
    with tempfile.TemporaryDirectory(prefix="partsbin-bench-serve-") as tmp:
        folder = Path(tmp)
        storage = LocalDriver(str(folder / "blobs"))
        blob = ingest(storage, io.BytesIO(os.urandom(OBJECT_BYTES)), lambda _type: 10**9)
        photo = ingest(storage, io.BytesIO(_photo(2000, 1500)), lambda _type: 10**9)
        port = free_port()
        process = _start_server(folder, port)
        try:
            wait_for_http(f"http://127.0.0.1:{port}/health/healthz", timeout=60)
            wait_for_http(f"http://127.0.0.1:{port}/api/cas/{photo.sha256}?thumbnail=200")
            scenarios = [
                Scenario("GET /health/healthz (baseline)", "/health/healthz", {}, 200),
                Scenario("GET 100 KB blob", f"/api/cas/{blob.sha256}", {}, 200),
                Scenario(
                    "GET If-None-Match",
                    f"/api/cas/{blob.sha256}",
                    {"If-None-Match": f'"{blob.sha256}"'},
                    304,
                ),
                Scenario(
                    "GET Range 1 KiB", f"/api/cas/{blob.sha256}", {"Range": "bytes=0-1023"}, 206
                ),
                Scenario(
                    "GET thumbnail=200 (warm)", f"/api/cas/{photo.sha256}?thumbnail=200", {}, 200
                ),
            ]
            rows = []
            with client_pool(CLIENTS) as pool:
                run_load(pool, CLIENTS, port, scenarios[0], 2.0)  # warm-up, not measured
                for scenario in scenarios:
                    result = run_load(pool, CLIENTS, port, scenario, duration)
                    rows.append(_row(scenario, result))
                    print(f"  {scenario.name}: {result.per_second:.0f} req/s", flush=True)
        finally:
            _stop_server(process)
    print_table(
        f"partsbin serve (default 2 workers x 4 threads), {CLIENTS} clients, {duration:.0f} s each",
        ["request", "status", "req/s", "MB/s", "p50 ms", "p99 ms", "errors"],
        rows,
    )
