"""Mixed load on `partsbin serve` with PostgreSQL and S3: 16 clients, 60 s (15 s with --quick).

Each client process loops over a weighted mix of requests — part list with covers, part detail,
CAS GET of a ~100 KB photo, a warm thumbnail, and a multipart upload of a new image — on its own
keep-alive connection. Reports per kind the count, errors, p50 and p99, and the server's RSS
(master and workers) at the start, every 15 s and at the end, to show whether memory grows.
"""

from __future__ import annotations

import argparse
import http.client
import io
import multiprocessing
import os
import random
import tempfile
import time
import uuid
from pathlib import Path

from PIL import Image

from bench.common import percentile, print_table, remote_storage_url, seaweedfs
from core.testing.servers.live_server import LiveServer

CLIENTS = 16
MIX = [("list", 25), ("detail", 25), ("cas", 25), ("thumbnail", 15), ("upload", 10)]
BOUNDARY = "partsbin-bench-boundary"


def _png(seed: int, size: tuple[int, int] = (64, 48)) -> bytes:
    rng = random.Random(seed)
    out = io.BytesIO()
    Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3)).save(out, "PNG")
    return out.getvalue()


def _multipart(data: bytes, title: str) -> bytes:
    return (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="title"\r\n\r\n{title}\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="p.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


def _client(job: tuple[int, int, dict[str, object], float, float]) -> dict[str, object]:
    index, port, fixture, start_at, end_at = job
    rng = random.Random(index)
    kinds = [kind for kind, weight in MIX for _ in range(weight)]
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    latencies: dict[str, list[float]] = {kind: [] for kind, _ in MIX}
    errors: dict[str, int] = {kind: 0 for kind, _ in MIX}
    keys: list[str] = fixture["keys"]  # type: ignore[assignment]
    sets: list[int] = fixture["sets"]  # type: ignore[assignment]
    sha = fixture["sha"]
    while time.time() < start_at:
        time.sleep(0.001)
    n = 0
    while time.time() < end_at:
        kind = rng.choice(kinds)
        n += 1
        body = None
        headers: dict[str, str] = {}
        if kind == "list":
            method, path, expected = "GET", "/api/parts?limit=50&include=cover", 200
        elif kind == "detail":
            method, path, expected = "GET", f"/api/parts/{rng.choice(keys)}", 200
        elif kind == "cas":
            method, path, expected = "GET", f"/api/cas/{sha}", 200
        elif kind == "thumbnail":
            method, path, expected = "GET", f"/api/cas/{sha}?thumbnail=200", 200
        else:
            method, expected = "POST", 201
            path = f"/api/attachment-sets/{rng.choice(sets)}/attachments"
            body = _multipart(_png(index * 1_000_000 + n), f"load {index}-{n}")
            headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
        began = time.perf_counter()
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            ok = response.status == expected
        except (OSError, http.client.HTTPException):
            ok = False
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        latencies[kind].append((time.perf_counter() - began) * 1000)
        if not ok:
            errors[kind] += 1
    connection.close()
    return {"latencies": latencies, "errors": errors}


def _rss_mb(server: LiveServer) -> float:
    total_kb = 0
    for pid in server.pids():
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return total_kb / 1024


def _prepare(base: str) -> dict[str, object]:
    import requests

    keys, sets = [], []
    for i in range(200):
        part = requests.post(f"{base}/api/parts", json={"description": f"load {i}"}, timeout=30)
        part.raise_for_status()
        keys.append(part.json()["key"])
        sets.append(part.json()["attachment_set_id"])
    big = io.BytesIO()
    Image.frombytes("RGB", (200, 170), os.urandom(200 * 170 * 3)).save(big, "PNG")
    cover = requests.post(
        f"{base}/api/attachment-sets/{sets[0]}/attachments",
        files={"file": ("photo.png", big.getvalue())},
        data={"title": "photo"},
        timeout=30,
    )
    cover.raise_for_status()
    sha = cover.json()["attachment_url"].split("?")[0].rsplit("/", 1)[1]
    for set_id in sets[1:50]:
        requests.post(
            f"{base}/api/attachment-sets/{set_id}/attachments/copy",
            json={"attachment_id": cover.json()["id"]},
            timeout=30,
        ).raise_for_status()
    requests.get(f"{base}/api/cas/{sha}?thumbnail=200", timeout=30).raise_for_status()
    return {"keys": keys, "sets": sets, "sha": sha}


def run(args: argparse.Namespace) -> None:
    from core.testing.servers.postgres import PostgresServer

    duration = 15.0 if args.quick else 60.0
    with PostgresServer() as pg, seaweedfs() as s3, tempfile.TemporaryDirectory():
        bucket = s3.create_bucket(f"load-{uuid.uuid4().hex[:8]}")
        settings = {
            "PARTSBIN_DATABASE_URL": pg.create_database("load"),
            "PARTSBIN_STORAGE_URL": remote_storage_url("s3", s3, bucket, "partsbin"),
            "PARTSBIN_LOG_LEVEL": "WARNING",
            "PARTSBIN_DB_POOL_SIZE": os.environ.get("PARTSBIN_DB_POOL_SIZE", "8"),  # 0 to compare
        }
        with LiveServer(settings, workers=2, threads=8) as server:
            fixture = _prepare(server.url)
            rss = [("start", _rss_mb(server))]
            start_at = time.time() + 1.0
            end_at = start_at + duration
            ctx = multiprocessing.get_context("fork")
            with ctx.Pool(CLIENTS) as pool:
                jobs = [(i, server.port, fixture, start_at, end_at) for i in range(CLIENTS)]
                pending = pool.map_async(_client, jobs)
                mark = start_at
                while not pending.ready():
                    pending.wait(1.0)
                    if time.time() - mark >= 15:
                        mark = time.time()
                        rss.append((f"{mark - start_at:.0f} s", _rss_mb(server)))
                results = pending.get()
            rss.append(("end", _rss_mb(server)))

    rows = []
    total = errors_total = 0
    for kind, _weight in MIX:
        latencies = [v for r in results for v in r["latencies"][kind]]  # type: ignore[index]
        errors = sum(r["errors"][kind] for r in results)  # type: ignore[index]
        total += len(latencies)
        errors_total += errors
        rows.append(
            [
                kind,
                len(latencies),
                errors,
                len(latencies) / duration,
                percentile(latencies, 50),
                percentile(latencies, 99),
            ]
        )
    rows.append(["all", total, errors_total, total / duration, "", ""])
    print_table(
        f"Mixed load: {CLIENTS} clients, {duration:.0f} s, PostgreSQL + S3 (SeaweedFS), "
        f"2 workers x 8 threads, DB pool {settings['PARTSBIN_DB_POOL_SIZE']}",
        ["kind", "requests", "errors", "req/s", "p50 ms", "p99 ms"],
        rows,
    )
    print_table("Server RSS (master + workers)", ["when", "MB"], [[w, v] for w, v in rss])
