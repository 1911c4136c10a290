"""Local driver vs S3 (SeaweedFS) side by side: thumbnails, CAS GETs, uploads, dedup, 90 MiB.

One ``partsbin serve`` process (1 gunicorn worker x 8 threads) on PostgreSQL (the suite's
server helper) per backend, both running at once; each figure is measured on every backend back
to back, in alternating order over two rounds (best of the two), so the ratios S3/local see the
same machine load. With S3 the server gets a local read-through cache (``PARTSBIN_CACHE_DIR``)
when the settings know it. Figures:

* warm thumbnail and CAS GET 100 KiB: requests/s, 8 closed-loop client processes;
* first thumbnail after upload: a 1.6 MP JPEG uploaded through the API, the set's attachment
  list fetched (the UI refetches it after an upload), then the first ``?thumbnail=500``, timed:
  what a user waits for, with whatever the server did in the background since the upload
  (median ms over distinct photos). 500 is what browsers pick from the UI's ``srcset`` (150w,
  300w, 500w with ``sizes`` of 100/50/33 vw: at least 338 CSS px, so the 500w candidate);
* cold thumbnail: the first ``?thumbnail=300`` of a photo stored straight into the blob store
  (no upload, so nothing was pre-rendered): a truly cold render, median ms, and the worker
  process's CPU ms for it (all its threads, until it is idle again);
* 50 KiB PNG uploads/s (sequential, unique content);
* 90 MiB PDF upload: MB/s and the server worker's peak RSS growth;
* dedup: the same 5 MiB PDF uploaded 20 times, uploads/s; next to it, the same uploads to
  :mod:`bench.upload_floor` (reads and hashes the body, nothing else, same server stack): the
  most any server of this stack reaches with this client on this machine.

``python -m bench remote [--quick]``; ``PARTSBIN_BENCH_BACKENDS=s3`` runs only some backends,
``PARTSBIN_BENCH_FIGURES=small_uploads,dedup_uploads`` only some figures (function names below),
``PARTSBIN_BENCH_ROUNDS=5`` more rounds than the default two.
``PARTSBIN_BENCH_BASELINE=/path/to/other/venv/bin/partsbin`` serves every backend a second time
with another checkout's ``partsbin`` (``<backend>@baseline`` columns, interleaved with the
others): a before/after comparison in the same hour, on the same machine load.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import requests
from PIL import Image

from bench.common import MB, free_port, print_table, remote_storage_url, seaweedfs, wait_for_http
from bench.http_load import Scenario, client_pool, run_load
from core.config import Settings

CLIENTS = 8
BACKENDS = ("local", "s3")


# --- content ----------------------------------------------------------------------------------


def noise_png(size_bytes: int) -> bytes:
    """A PNG of random pixels (incompressible) of about ``size_bytes``, unique per call."""
    side = max(8, int((size_bytes / 3) ** 0.5))
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, "PNG")
    return out.getvalue()


def photo_jpeg(width: int, height: int, seed: int) -> bytes:
    """A photo-like JPEG (gradient plus noise), distinct per ``seed``."""
    gradient = Image.linear_gradient("L").resize((width, height))
    noise = Image.effect_noise((width, height), 24 + seed % 7)
    tint = Image.new("L", (width, height), seed * 37 % 256)
    out = io.BytesIO()
    Image.merge("RGB", (gradient, noise, tint)).save(out, "JPEG", quality=90)
    return out.getvalue()


def big_pdf(size: int) -> bytes:
    """A valid one-page PDF of about ``size`` bytes (a large unreferenced binary stream)."""
    payload = os.urandom(size)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
        b"<< /Length " + str(len(payload)).encode() + b" >>\nstream\n" + payload + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\n".encode()
    out += f"startxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


# --- the server -------------------------------------------------------------------------------


def _worker_pid(master: int, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
            if children:
                return int(children[0])
        time.sleep(0.05)
    raise RuntimeError("gunicorn started no worker")


def _cpu_ns(pid: int) -> int:
    """CPU time of every thread of ``pid`` so far, in ns (``/proc/<pid>/task/*/schedstat``)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int((task / "schedstat").read_text().split()[0])
    return total


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class PeakRss:
    """Samples another process's VmRSS every 5 ms in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.base = self.peak = _rss_kb(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            with contextlib.suppress(OSError):
                self.peak = max(self.peak, _rss_kb(self.pid))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.base) / 1024


@contextlib.contextmanager
def serve(
    folder: Path, database_url: str, storage_url: str, cache: bool, partsbin: Path | None = None
) -> Iterator[tuple[int, int]]:
    """``partsbin serve`` (this checkout's, or the executable ``partsbin``) with 1 worker x
    8 threads; yields (port, worker pid)."""
    port = free_port()
    env = {
        **os.environ,
        "PARTSBIN_DATABASE_URL": database_url,
        "PARTSBIN_STORAGE_URL": storage_url,
        "PARTSBIN_HOST": "127.0.0.1",
        "PARTSBIN_PORT": str(port),
        "PARTSBIN_WORKERS": "1",
        "PARTSBIN_THREADS": "8",
        "PARTSBIN_LOG_LEVEL": "WARNING",
    }
    if cache and "cache_dir" in Settings.model_fields:
        env["PARTSBIN_CACHE_DIR"] = str(folder / "cache")
    partsbin = partsbin or Path(sys.executable).parent / "partsbin"
    with open(folder / "server.log", "ab") as log:
        process = subprocess.Popen(
            [str(partsbin), "serve", "--migrate"],
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
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


# --- the measurements -------------------------------------------------------------------------


def _upload(session: requests.Session, base: str, set_id: int, data: bytes, name: str) -> dict:
    response = session.post(
        f"{base}/api/attachment-sets/{set_id}/attachments",
        files={"file": (name, data)},
        data={"title": name},
        timeout=300,
    )
    if response.status_code != 201:
        raise RuntimeError(f"upload of {name} answered {response.status_code}: {response.text}")
    return response.json()


def _sha(attachment: dict) -> str:
    return str(attachment["attachment_url"]).rsplit("/", 1)[-1].split("?")[0]


@dataclass
class Target:
    """One running server under test and what the figures need from it."""

    backend: str
    port: int
    worker_pid: int
    storage_url: str
    session: requests.Session = field(default_factory=requests.Session)
    set_id: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def upload(self, data: bytes, name: str) -> dict:
        return _upload(self.session, self.base, self.set_id, data, name)


def small_uploads(target: Target, quick: bool, pool: object) -> dict[str, float]:
    """50 KiB PNGs, unique, one after the other."""
    pngs = [noise_png(50 * 1024) for _ in range(20 if quick else 40)]
    started = time.perf_counter()
    for png in pngs:
        target.upload(png, "small.png")
    return {"small uploads/s": len(pngs) / (time.perf_counter() - started)}


def dedup_uploads(target: Target, quick: bool, pool: object) -> dict[str, float]:
    """The same 5 MiB PDF again and again (stored by the first, untimed, upload)."""
    pdf = big_pdf(5 * 1024 * 1024)
    target.upload(pdf, "same.pdf")
    repeats = 10 if quick else 20
    started = time.perf_counter()
    for _ in range(repeats):
        target.upload(pdf, "same.pdf")
    return {"dedup uploads/s": repeats / (time.perf_counter() - started)}


@contextlib.contextmanager
def upload_floor(folder: Path) -> Iterator[str]:
    """gunicorn with ``partsbin serve``'s worker class running :mod:`bench.upload_floor`;
    yields its base URL."""
    port = free_port()
    gunicorn = Path(sys.executable).parent / "gunicorn"
    with open(folder / "floor.log", "ab") as log:
        process = subprocess.Popen(
            [str(gunicorn), "--bind", f"127.0.0.1:{port}", "--workers", "1",
             "--worker-class", "core.events.worker.PartsbinWorker", "bench.upload_floor:app"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_http(base, timeout=30)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


def floor_uploads(base: str, quick: bool) -> float:
    """:func:`dedup_uploads`' requests, sent to :func:`upload_floor`: uploads/s."""
    session = requests.Session()
    pdf = big_pdf(5 * 1024 * 1024)
    _upload_to(session, base, pdf)
    repeats = 10 if quick else 20
    started = time.perf_counter()
    for _ in range(repeats):
        _upload_to(session, base, pdf)
    return repeats / (time.perf_counter() - started)


def _upload_to(session: requests.Session, url: str, data: bytes) -> None:
    response = session.post(
        url, files={"file": ("same.pdf", data)}, data={"title": "same.pdf"}, timeout=300
    )
    response.raise_for_status()


def large_upload(target: Target, quick: bool, pool: object) -> dict[str, float]:
    """One new 90 MiB PDF; the worker's peak RSS growth while it is handled."""
    large = big_pdf(90 * 1024 * 1024)
    with PeakRss(target.worker_pid) as rss:
        started = time.perf_counter()
        target.upload(large, "large.pdf")
        took = time.perf_counter() - started
    return {
        "90 MiB upload MB/s": 90 * 1024 * 1024 / MB / took,
        "90 MiB upload RSS growth MiB": rss.growth_mib,
    }


def first_thumbnails(target: Target, quick: bool, pool: object) -> dict[str, float]:
    """Upload a photo as the UI does, refetch the list, then time the first ``?thumbnail=500``."""
    waits = []
    for i in range(4 if quick else 6):
        attachment = target.upload(photo_jpeg(1600, 1000, 100 + i), f"u{i}.jpg")
        listed = target.session.get(
            f"{target.base}/api/attachment-sets/{target.set_id}/attachments", timeout=60
        )
        listed.raise_for_status()
        started = time.perf_counter()
        response = target.session.get(
            f"{target.base}/api/cas/{_sha(attachment)}?thumbnail=500", timeout=60
        )
        waits.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"thumbnail answered {response.status_code}")
    return {"first thumbnail after upload ms": statistics.median(waits) * 1000}


#: How long after a cold thumbnail request the worker's CPU time is still counted (work the
#: request left to a background thread).
SETTLE_SECONDS = 0.3


def cold_thumbnails(target: Target, quick: bool, pool: object) -> dict[str, float]:
    """First ``?thumbnail=300`` of distinct 1.6 MP photos stored without an upload (median)."""
    from core.cas.ingest import ingest
    from storage_drivers.registry import BUILTIN_DRIVERS, open_storage

    storage = open_storage(target.storage_url, BUILTIN_DRIVERS)
    try:
        shas = [
            ingest(storage, io.BytesIO(photo_jpeg(1600, 1000, i)), lambda _type: 10**10).sha256
            for i in range(4 if quick else 6)
        ]
    finally:
        storage.close()
    cold, cpu = [], []
    for sha in shas:
        cpu_before = _cpu_ns(target.worker_pid)
        started = time.perf_counter()
        response = target.session.get(f"{target.base}/api/cas/{sha}?thumbnail=300", timeout=60)
        cold.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"thumbnail answered {response.status_code}")
        time.sleep(SETTLE_SECONDS)
        cpu.append((_cpu_ns(target.worker_pid) - cpu_before) / 1e6)
    return {
        "cold thumbnail ms": statistics.median(cold) * 1000,
        "cold thumbnail worker CPU ms": statistics.median(cpu),
    }


def _load(target: Target, name: str, path: str, quick: bool, pool: object) -> dict[str, float]:
    scenario = Scenario(name, path, {}, 200)
    run_load(pool, CLIENTS, target.port, scenario, 1.0)  # warm-up (fills the cache)
    result = run_load(pool, CLIENTS, target.port, scenario, 3.0 if quick else 5.0)
    if result.errors:
        print(f"  {target.backend} {name}: {result.errors} errors", flush=True)
    return {name: result.per_second}


def warm_thumbnail(target: Target, quick: bool, pool: object) -> dict[str, float]:
    sha = _sha(target.upload(photo_jpeg(1600, 1000, 99), "warm.jpg"))
    path = f"/api/cas/{sha}?thumbnail=300"
    target.session.get(target.base + path, timeout=60).raise_for_status()
    return _load(target, "warm thumbnail req/s", path, quick, pool)


def cas_get(target: Target, quick: bool, pool: object) -> dict[str, float]:
    sha = _sha(target.upload(noise_png(100 * 1024), "100k.png"))
    return _load(target, "CAS GET 100 KiB req/s", f"/api/cas/{sha}", quick, pool)


FIGURES = [
    warm_thumbnail,
    cas_get,
    small_uploads,
    dedup_uploads,
    first_thumbnails,
    cold_thumbnails,
    large_upload,
]


def run(args: argparse.Namespace) -> None:
    from core.testing.servers.postgres import PostgresServer

    backends = os.environ.get("PARTSBIN_BENCH_BACKENDS", ",".join(BACKENDS)).split(",")
    baseline = os.environ.get("PARTSBIN_BENCH_BASELINE")
    servers: list[tuple[str, str, Path | None]] = [(b, b, None) for b in backends]
    if baseline:
        servers += [(f"{b}@baseline", b, Path(baseline)) for b in backends]
    rounds = int(os.environ.get("PARTSBIN_BENCH_ROUNDS") or (1 if args.quick else 2))
    chosen = os.environ.get("PARTSBIN_BENCH_FIGURES")
    figures = [f for f in FIGURES if not chosen or f.__name__ in chosen.split(",")]
    results: dict[str, dict[str, list[float]]] = {name: {} for name, _, _ in servers}
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="partsbin-bench-remote-"))
        s3 = stack.enter_context(seaweedfs())
        pg = stack.enter_context(PostgresServer())
        pool = stack.enter_context(client_pool(CLIENTS))
        bucket = s3.create_bucket(f"bench-{uuid.uuid4().hex[:8]}")
        targets = []
        for name, backend, partsbin in servers:
            folder = Path(tmp) / name
            folder.mkdir()
            database = pg.create_database(f"bench_{backend}_{uuid.uuid4().hex[:6]}")
            if backend == "local":
                storage = f"file://{folder / 'blobs'}"
            else:
                storage = remote_storage_url(backend, s3, bucket, name.replace("@", "-"))
            port, worker = stack.enter_context(
                serve(folder, database, storage, cache=backend != "local", partsbin=partsbin)
            )
            target = Target(name, port, worker, storage)
            part = target.session.post(
                f"{target.base}/api/parts", json={"description": "bench"}, timeout=30
            ).json()
            target.set_id = int(part["attachment_set_id"])
            target.upload(noise_png(50 * 1024), "warm-up.png")
            targets.append(target)
        floor = (
            stack.enter_context(upload_floor(Path(tmp))) if dedup_uploads in figures else None
        )
        floors: list[float] = []
        # Each figure runs on every backend back to back, in alternating order over the rounds,
        # so a change in the machine's load hits both sides of a ratio alike.
        for round_number in range(rounds):
            for figure in figures:
                order = targets if round_number % 2 == 0 else targets[::-1]
                for target in order:
                    for name, value in figure(target, args.quick, pool).items():
                        results[target.backend].setdefault(name, []).append(value)
                        print(f"  {target.backend}: {name} = {value:.1f}", flush=True)
                if figure is dedup_uploads and floor is not None:
                    floors.append(floor_uploads(floor, args.quick))
                    print(f"  floor: dedup uploads/s = {floors[-1]:.1f}", flush=True)
    _print(results, [name for name, _, _ in servers], rounds)
    if floors:
        print(f"\nfloor (bench.upload_floor: reads and hashes the body only, same server stack "
              f"and client): {max(floors):.1f} uploads/s")


def _best(name: str, values: list[float]) -> float:
    lower_is_better = name.endswith(" ms") or "RSS" in name
    return min(values) if lower_is_better else max(values)


def _ratio(value: float, reference: float) -> str:
    """``value / reference`` with two decimals; ``n/a`` when the reference is 0 (an RSS
    growth of 0.0 MiB, say)."""
    return f"{value / reference:.2f}" if reference else "n/a"


def _print(results: dict[str, dict[str, list[float]]], servers: list[str], rounds: int) -> None:
    """The best of each figure per server, then ``<backend>/local`` for each backend and
    ``<server>/baseline`` for each server measured against a baseline."""
    names = list(results[servers[0]])
    ratios = [(b, "local") for b in servers if "@" not in b and b != "local" and "local" in servers]
    ratios += [(b, f"{b}@baseline") for b in servers if f"{b}@baseline" in servers]
    rows = []
    for name in names:
        best = {b: _best(name, results[b][name]) for b in servers}
        rows.append([name, *best.values(), *(_ratio(best[b], best[ref]) for b, ref in ratios)])
    headers = ["figure", *servers]
    headers += [f"{b}/{ref.replace(b + '@', '')}" for b, ref in ratios]
    print_table(
        "local vs S3 (SeaweedFS), PostgreSQL, partsbin serve 1 worker x 8 threads "
        f"(best of {rounds}, backends alternating)",
        headers,
        rows,
    )
