"""Thumbnail latency: cold (render + store) and warm (read back), and what an upload leaves ready.

In-process (Flask test client, no HTTP), local storage in a temp folder, SQLite. Sources: a 12 MP
and a 2 MP photo-like JPEG, a 2 MP RGBA PNG and a one-page PDF.

* **On demand** (blobs stored without an upload, so nothing was pre-rendered): cold latency is
  the median over distinct blobs, each a first request for that size; "cold CPU ms" is the CPU
  time of the request's own thread (steadier than wall time on a shared machine), "+ background"
  adds what the request left to the background runner (the rest of the ladder), counted until
  the runner is idle. Neither includes the PDF sandbox child's CPU. Warm: repeated requests for
  one stored thumbnail.
* **After an upload** (through the API, as the web UI does it): the upload's latency, the first
  ``?thumbnail=500`` sent the moment it returned (what a user waits for, at the worst moment:
  the web UI's ``srcset`` with ``sizes`` of 33-100 vw makes browsers pick the 500 px candidate),
  the CPU the process spent on that image from the upload's end until the background runner was
  idle, and the latency of 150 and 300 asked for afterwards.

Runs on older versions of the code too (without a background runner nothing is pre-rendered), so
the same benchmark gives the before and after figures.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from collections.abc import Callable
from typing import Any

from PIL import Image

from bench.common import median, percentile, print_table
from core.app import create_app
from core.cas.ingest import ingest
from core.migrate import apply_migrations
from core.state import get_state

SIZES = [150, 300, 500, 800]


def _photo(width: int, height: int, seed: int) -> bytes:
    gradient = Image.linear_gradient("L").resize((width, height))
    noise = Image.effect_noise((width, height), 16 + seed)
    mirrored = gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    out = io.BytesIO()
    Image.merge("RGB", (gradient, noise, mirrored)).save(out, "JPEG", quality=90)
    return out.getvalue()


def _png(width: int, height: int, seed: int) -> bytes:
    gradient = Image.linear_gradient("L").resize((width, height))
    alpha = Image.radial_gradient("L").resize((width, height))
    noise = Image.effect_noise((width, height), 8 + seed)
    out = io.BytesIO()
    Image.merge("RGBA", (gradient, noise, gradient, alpha)).save(out, "PNG")
    return out.getvalue()


def _pdf(seed: int) -> bytes:
    page = Image.new("RGB", (1240, 1754), (255, 255 - seed, 255))  # A4 at 150 dpi
    page.paste(Image.effect_noise((600, 400), 30).convert("RGB"), (300, 300))
    out = io.BytesIO()
    page.save(out, "PDF", resolution=150.0)
    return out.getvalue()


SOURCES: list[tuple[str, str, Callable[[int], bytes]]] = [
    ("JPEG 4000x3000", "photo.jpg", lambda seed: _photo(4000, 3000, seed)),
    ("JPEG 1600x1200", "photo.jpg", lambda seed: _photo(1600, 1200, seed)),
    ("PNG RGBA 1600x1200", "image.png", lambda seed: _png(1600, 1200, seed)),
    ("PDF A4 page", "sheet.pdf", _pdf),
]


def _drain() -> None:
    """Wait until the background runner is idle (no-op on code without one)."""
    try:
        from core.cas import background
    except ImportError:
        return
    background.runner().drain(timeout=120)


def _on_demand(client: Any, storage: Any, make: Callable[[int], bytes], samples: int,
               warm_requests: int) -> list[list[object]]:  # fmt: skip
    rows: list[list[object]] = []
    for size in SIZES:
        blobs = [  # new ones for each size: the ladder leaves the other sizes stored
            ingest(storage, io.BytesIO(make(seed)), lambda _type: 10**10) for seed in range(samples)
        ]
        cold: list[float] = []
        thread_cpu: list[float] = []
        total_cpu: list[float] = []
        for blob in blobs:
            _drain()
            started, started_thread = time.perf_counter(), time.thread_time()
            started_process = time.process_time()
            response = client.get(f"/api/cas/{blob.sha256}?thumbnail={size}")
            cold.append(time.perf_counter() - started)
            thread_cpu.append(time.thread_time() - started_thread)
            _drain()
            total_cpu.append(time.process_time() - started_process)
            assert response.status_code == 200, response.json
        warm: list[float] = []
        url = f"/api/cas/{blobs[0].sha256}?thumbnail={size}"
        for _ in range(warm_requests):
            started = time.perf_counter()
            response = client.get(url)
            warm.append(time.perf_counter() - started)
        rows.append(
            [
                f"{blobs[0].size / 1e6:.1f} MB",
                size,
                median(cold) * 1000,
                max(cold) * 1000,
                median(thread_cpu) * 1000,
                median(total_cpu) * 1000,
                median(warm) * 1000,
                percentile(warm, 99) * 1000,
                f"{len(response.data) / 1000:.0f} KB",
            ]
        )
    return rows


def _after_upload(
    client: Any, set_id: int, name: str, make: Callable[[int], bytes], samples: int
) -> list[object]:
    uploads, first, cpu, later = [], [], [], []
    for seed in range(samples):  # effect_noise differs on every call: new bytes each time
        data = make(seed)
        _drain()
        started = time.perf_counter()
        response = client.post(
            f"/api/attachment-sets/{set_id}/attachments",
            data={"file": (io.BytesIO(data), name), "title": "bench"},
            content_type="multipart/form-data",
        )
        uploaded = time.perf_counter()
        uploaded_cpu = time.process_time()
        assert response.status_code == 201, response.json
        sha = str(response.json["attachment_url"]).split("?")[0].rsplit("/", 1)[-1]
        thumb = client.get(f"/api/cas/{sha}?thumbnail=500")
        first.append(time.perf_counter() - uploaded)
        assert thumb.status_code == 200
        _drain()
        cpu.append(time.process_time() - uploaded_cpu)
        uploads.append(uploaded - started)
        for size in (150, 300):
            started = time.perf_counter()
            assert client.get(f"/api/cas/{sha}?thumbnail={size}").status_code == 200
            later.append(time.perf_counter() - started)
        _drain()
    return [
        median(uploads) * 1000,
        median(first) * 1000,
        median(cpu) * 1000,
        median(later) * 1000,
    ]


def run(args: argparse.Namespace) -> None:
    samples = 2 if args.quick else 4
    warm_requests = 50 if args.quick else 200
    demand_rows, upload_rows = [], []
    with tempfile.TemporaryDirectory(prefix="partsbin-bench-thumbs-") as tmp:
        app = create_app(
            {
                "database_url": f"sqlite:///{tmp}/partsbin.db",
                "storage_url": f"file://{tmp}/blobs",
                "log_level": "WARNING",
            }
        )
        state = get_state(app)
        with app.app_context():
            apply_migrations(state)
        client = app.test_client()
        part = client.post("/api/parts", json={"description": "bench"})
        set_id = int(part.json["attachment_set_id"])
        for _label, _name, make in SOURCES:  # warm-up: imports, codecs, the PDF fork server
            warm_up = ingest(state.storage, io.BytesIO(make(99)), lambda _type: 10**10)
            assert client.get(f"/api/cas/{warm_up.sha256}?thumbnail=100").status_code == 200
        _drain()
        for label, name, make in SOURCES:
            for row in _on_demand(client, state.storage, make, samples, warm_requests):
                demand_rows.append([label, *row])
                print(f"  {label} -> {row[1]}: cold {row[2]:.0f} ms", flush=True)
            upload_rows.append([label, *_after_upload(client, set_id, name, make, samples)])
            print(f"  {label}: first thumbnail after upload {upload_rows[-1][2]:.1f} ms")
        _drain()
        state.storage.close()
    print_table(
        "Thumbnails on demand, in-process, local storage",
        [
            "source",
            "source size",
            "N",
            "cold p50 ms",
            "cold max ms",
            "cold CPU ms",
            "CPU ms incl. background",
            "warm p50 ms",
            "warm p99 ms",
            "thumbnail",
        ],
        demand_rows,
    )
    print_table(
        "After an upload through the API, in-process, local storage",
        [
            "source",
            "upload p50 ms",
            "first ?thumbnail=500 p50 ms",
            "CPU ms, upload end to idle",
            "then 150 / 300 p50 ms",
        ],
        upload_rows,
    )
