"""``partsbin serve`` vs granian (Rust, WSGI), same app, same load.

``partsbin serve`` ran gunicorn's gthread worker when this was written; it now runs uvicorn
workers under gunicorn (``bench serving`` compares those with gthread). Local driver, SQLite,
one worker with 8 threads each; 8 closed-loop client processes for ``GET /health/healthz``, a
100 KiB CAS GET (``sendfile`` under ``partsbin serve``) and a warm thumbnail,
then 50 KiB uploads in sequence. Measures whether a faster server is a real gain for this app
(issue 14, item 5). Needs ``pip install granian`` (not a dependency: only this benchmark uses it).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import requests

from bench.common import free_port, print_table, wait_for_http
from bench.http_load import Scenario, client_pool, run_load
from bench.remote import noise_png, photo_jpeg

CLIENTS = 8


def _env(folder: Path, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "PARTSBIN_DATABASE_URL": f"sqlite:///{folder / 'partsbin.db'}",
        "PARTSBIN_STORAGE_URL": f"file://{folder / 'blobs'}",
        "PARTSBIN_HOST": "127.0.0.1",
        "PARTSBIN_PORT": str(port),
        "PARTSBIN_WORKERS": "1",
        "PARTSBIN_THREADS": "8",
        "PARTSBIN_LOG_LEVEL": "WARNING",
    }


@contextlib.contextmanager
def _server(kind: str, folder: Path) -> Iterator[int]:
    port = free_port()
    env = _env(folder, port)
    bin_dir = Path(sys.executable).parent
    subprocess.run([str(bin_dir / "partsbin"), "migrate"], env=env, check=True, capture_output=True)
    if kind == "gunicorn":
        command = [str(bin_dir / "partsbin"), "serve"]
    else:
        command = [
            str(bin_dir / "granian"),
            "--interface",
            "wsgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--blocking-threads",
            "8",
            "--no-log",
            "bench.granian_app:app",
        ]
    with open(folder / f"{kind}.log", "ab") as log:
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health/readyz", timeout=60)
        yield port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _measure(port: int, duration: float, pool: object) -> dict[str, float]:
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
        run_load(pool, CLIENTS, port, scenario, 1.0)
        result = run_load(pool, CLIENTS, port, scenario, duration)
        figures[name] = result.per_second
    pngs = [noise_png(50 * 1024) for _ in range(40)]
    started = time.perf_counter()
    for index, png in enumerate(pngs):
        upload(png, f"s{index}.png")
    figures["50 KiB uploads/s"] = len(pngs) / (time.perf_counter() - started)
    session.close()
    return figures


def run(args: argparse.Namespace) -> None:
    if shutil.which("granian", path=str(Path(sys.executable).parent)) is None:
        print("granian is not installed (pip install granian); skipped")
        return
    duration = 3.0 if args.quick else 6.0
    results: dict[str, dict[str, float]] = {}
    with client_pool(CLIENTS) as pool:
        for kind in ("gunicorn", "granian", "gunicorn "):  # gunicorn again: drift of the machine
            with tempfile.TemporaryDirectory(prefix="partsbin-bench-wsgi-") as tmp:
                with _server(kind.strip(), Path(tmp)) as port:
                    results[kind] = _measure(port, duration, pool)
            print(f"  {kind.strip()}: {results[kind]}", flush=True)
    names = list(results["gunicorn"])
    print_table(
        "partsbin serve (gunicorn) vs granian (WSGI), 1 worker x 8 threads, local driver, SQLite",
        ["figure", "gunicorn", "granian", "gunicorn (again)", "granian / gunicorn"],
        [
            [
                name,
                results["gunicorn"][name],
                results["granian"][name],
                results["gunicorn "][name],
                _ratio(results, name),
            ]
            for name in names
        ],
    )


def _ratio(results: dict[str, dict[str, float]], name: str) -> str:
    gunicorn = (results["gunicorn"][name] + results["gunicorn "][name]) / 2
    return f"{results['granian'][name] / gunicorn:.2f}"
