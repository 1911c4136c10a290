"""Thumbnail latency: cold (render + store) and warm (read back from storage), per source type.

In-process (Flask test client, no HTTP), local storage in a temp folder. Sources: a 12 MP and a
2 MP photo-like JPEG, a 2 MP RGBA PNG and a one-page PDF. Cold latency is the median over
distinct blobs (each a first request); warm latency over repeated requests for one thumbnail.
"cold CPU ms" is the CPU time of this (the server's) process for a cold request: steadier than
wall time on a shared machine, but without the PDF sandbox child's CPU.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from collections.abc import Callable

from PIL import Image

from bench.common import median, percentile, print_table
from core.app import create_app
from core.cas.ingest import ingest
from core.state import get_state

SIZES = [200, 300, 800]


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


SOURCES: list[tuple[str, Callable[[int], bytes]]] = [
    ("JPEG 4000x3000", lambda seed: _photo(4000, 3000, seed)),
    ("JPEG 1600x1200", lambda seed: _photo(1600, 1200, seed)),
    ("PNG RGBA 1600x1200", lambda seed: _png(1600, 1200, seed)),
    ("PDF A4 page", _pdf),
]


def run(args: argparse.Namespace) -> None:
    cold_samples = 2 if args.quick else 4
    warm_requests = 50 if args.quick else 200
    rows = []
    with tempfile.TemporaryDirectory(prefix="partsbin-bench-thumbs-") as tmp:
        app = create_app(
            {
                "database_url": f"sqlite:///{tmp}/partsbin.db",
                "storage_url": f"file://{tmp}/blobs",
                "log_level": "WARNING",
            }
        )
        storage = get_state(app).storage
        client = app.test_client()
        for label, make in SOURCES:
            blobs = [
                ingest(storage, io.BytesIO(make(seed)), lambda _type: 10**10)
                for seed in range(cold_samples)
            ]
            for size in SIZES:
                cold: list[float] = []
                cold_cpu: list[float] = []
                for blob in blobs:
                    started, started_cpu = time.perf_counter(), time.process_time()
                    response = client.get(f"/api/cas/{blob.sha256}?thumbnail={size}")
                    cold.append(time.perf_counter() - started)
                    cold_cpu.append(time.process_time() - started_cpu)
                    assert response.status_code == 200, response.json
                warm: list[float] = []
                url = f"/api/cas/{blobs[0].sha256}?thumbnail={size}"
                for _ in range(warm_requests):
                    started = time.perf_counter()
                    response = client.get(url)
                    warm.append(time.perf_counter() - started)
                rows.append(
                    [
                        label,
                        f"{blobs[0].size / 1e6:.1f} MB",
                        size,
                        median(cold) * 1000,
                        max(cold) * 1000,
                        median(cold_cpu) * 1000,
                        median(warm) * 1000,
                        percentile(warm, 99) * 1000,
                        f"{len(response.data) / 1000:.0f} KB",
                    ]
                )
                print(f"  {label} -> {size}: cold {median(cold) * 1000:.0f} ms", flush=True)
        storage.close()
    print_table(
        "Thumbnails, in-process, local storage",
        [
            "source",
            "source size",
            "N",
            "cold p50 ms",
            "cold max ms",
            "cold CPU ms",
            "warm p50 ms",
            "warm p99 ms",
            "thumbnail",
        ],
        rows,
    )
