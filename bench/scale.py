"""Scale: list pages, check, gc and backfill at two sizes (N parts, ~3N objects); growth exponents.

Seeds N parts with bulk SQL exactly as the app writes them (each part a set with two image
attachments on their own blobs, the first one the cover with a 400 px thumbnail object) and ~0.17 N
unreferenced old blobs, PUT directly into SeaweedFS S3 (16 threads). The seed is verified with
``check`` (zero violations). Measures, on PostgreSQL: list pages (first, deep offset, deep
cursor; in-process WSGI, median of 41; after ``VACUUM ANALYZE`` and before the objects are PUT,
so nothing else loads the machine), then ``check``, ``gc --dry-run``, real ``gc`` (the garbage)
and ``backfill_sets`` of N owners, with peak RSS growth, and prints
``exponent = log(t2 / t1) / log(N2 / N1)`` (0: flat, 1: linear).

``--quick`` runs 2,000 and 10,000 parts; otherwise 10,000 and 100,000 (``BENCH_SCALE_SIZES``
overrides, e.g. ``BENCH_SCALE_SIZES=10000,100000``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import math
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import peewee

from bench.common import RssSampler, median, print_table, remote_storage_url, seaweedfs
from core.app import create_app
from core.attachments.check import find_violations
from core.attachments.entities import AttachableEntity, backfill_sets
from core.attachments.models import Attachment, AttachmentSet
from core.cas.gc import collect_garbage
from core.cas.thumbnails import thumbnail_key
from core.db import utcnow
from core.migrate import apply_migrations
from core.state import get_state
from plugins.parts.keys import DEFAULT_SPACE
from plugins.parts.models import Part
from plugins.parts.service import PageCursor

ROUNDS = 41
BATCH = 2000
PUT_THREADS = 16
GARBAGE_SHARE = 0.17


def _sha(kind: str, index: int) -> str:
    return hashlib.sha256(f"{kind}-{index}".encode()).hexdigest()


def _put_all(storage: Any, keys: list[str]) -> None:
    body = b"\x89PNG bench object"

    def put(key: str) -> None:
        storage.put(key, io.BytesIO(body), len(body))

    with ThreadPoolExecutor(PUT_THREADS) as pool:
        list(pool.map(put, keys, chunksize=256))


def _seed_rows(app: Any, count: int) -> tuple[list[str], list[str]]:
    """Insert ``count`` parts; return the keys of the objects they reference and of the garbage
    blobs (both still to be PUT)."""
    state = get_state(app)
    now = utcnow()
    objects: list[str] = []
    step = DEFAULT_SPACE.size // count  # spread keys over the space, as random keys are
    with app.app_context():
        for start in range(0, count, BATCH):
            size = min(BATCH, count - start)
            with state.database.atomic():
                first = AttachmentSet.insert_many(
                    [{"created_at": now, "updated_at": now} for _ in range(size)]
                ).execute()
                set_ids = [
                    row_id for (row_id,) in AttachmentSet.select(AttachmentSet.id)
                    .where(AttachmentSet.cover_attachment.is_null(True))
                    .order_by(AttachmentSet.id.desc()).limit(size).tuples()
                ][::-1]
                del first
                stamp = [now + dt.timedelta(microseconds=start + i) for i in range(size)]
                Part.insert_many([
                    {
                        "key": DEFAULT_SPACE.key_at((start + i) * step),
                        "description": f"benchmark part {start + i}",
                        "attachment_set": set_id, "tags": "[]",
                        "created_at": stamp[i], "updated_at": stamp[i],
                    }
                    for i, set_id in enumerate(set_ids)
                ]).execute()
                rows = []
                for i, set_id in enumerate(set_ids):
                    for n in (0, 1):
                        sha = _sha(f"blob{n}", start + i)
                        rows.append({
                            "attachment_set": set_id, "attachment_type": "image",
                            "title": "photo", "blob_key": f"cas/{sha}",
                            "content_type": "image/png", "file_size": 17,
                            "filename": "photo.png", "created_at": now, "updated_at": now,
                        })
                        objects.append(f"cas/{sha}")
                        if n == 0:
                            objects.append(thumbnail_key(sha, 400))
                Attachment.insert_many(rows).execute()
                covers = (
                    Attachment.select(peewee.fn.MIN(Attachment.id))
                    .where(Attachment.attachment_set == AttachmentSet.id)
                )
                AttachmentSet.update(cover_attachment=covers).where(
                    AttachmentSet.id.in_(set_ids)
                ).execute()
    garbage = [f"cas/{_sha('garbage', i)}" for i in range(int(count * GARBAGE_SHARE))]
    return objects, garbage


def _settle(app: Any) -> None:
    """Measure a settled database, not one busy with the bulk load: ``VACUUM ANALYZE`` now (what
    autovacuum does to freshly loaded tables within a minute, competing with the measurement on
    a small machine otherwise; it also sets the hint bits the first reads would write)."""
    database = get_state(app).database
    with app.app_context():
        database.execute_sql("VACUUM ANALYZE")


def _time(fn: Any) -> tuple[float, float, Any]:
    """(seconds, peak RSS growth MB, result) of ``fn()``."""
    with RssSampler() as rss:
        started = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - started
    return elapsed, rss.growth_mb, result


def _page_ms(client: Any, url: str) -> float:
    for _ in range(2):
        assert client.get(url).status_code == 200
    timings = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200 and response.json
    return median(timings)


class BenchOwner(peewee.Model):
    """An owner table for the backfill measurement (rows without a set)."""

    attachment_set = peewee.IntegerField(null=True, column_name="attachment_set_id")

    class Meta:
        table_name = "bench_owners"


def _measure_lists(app: Any, count: int) -> dict[str, float]:
    """List pages, measured before the objects are PUT: they read only the database, and the
    object store is then idle instead of still absorbing the bulk load on the same cores."""
    results: dict[str, float] = {}
    client = app.test_client()
    with app.app_context():
        results["list first page ms"] = _page_ms(client, "/api/parts?limit=50")
        deep = f"/api/parts?limit=50&offset={count - 50}"
        results["list offset N-50 ms"] = _page_ms(client, deep)
        row = (
            Part.select(Part.created_at, Part.id)
            .order_by(Part.created_at.desc(), Part.id.desc())
            .offset(count - 51).limit(1).get()
        )
        cursor = PageCursor(row.created_at, row.id).encode()
        results["list cursor at N-50 ms"] = _page_ms(
            client, f"/api/parts?limit=50&cursor={cursor}"
        )
        results["list limit=1000 ms"] = _page_ms(client, "/api/parts?limit=1000")
    return results


def _measure_store(app: Any, count: int, garbage: int) -> dict[str, float]:
    state = get_state(app)
    results: dict[str, float] = {}
    with app.app_context():
        seconds, growth, violations = _time(lambda: list(find_violations(state)))
        assert violations == [], violations[:5]  # the seed is exactly what the app writes
        results["check s"], results["check RSS MB"] = seconds, growth
        seconds, growth, report = _time(
            lambda: collect_garbage(state, dt.timedelta(0), dry_run=True)
        )
        assert report.removed == garbage, (report.removed, garbage)
        results["gc dry-run s"], results["gc dry-run RSS MB"] = seconds, growth
        seconds, growth, report = _time(lambda: collect_garbage(state, dt.timedelta(0)))
        assert report.removed == garbage
        results["gc (garbage) s"], results["gc RSS MB"] = seconds, growth

        BenchOwner.bind(state.database)
        state.database.create_tables([BenchOwner])
        for start in range(0, count, BATCH):
            BenchOwner.insert_many(
                [{"attachment_set": None}] * min(BATCH, count - start)
            ).execute()
        entity = AttachableEntity("bench_owner", BenchOwner, "attachment_set", "id")
        seconds, growth, done = _time(lambda: backfill_sets(entity))
        assert done == count
        results["backfill s"] = seconds
    return results


def run(args: argparse.Namespace) -> None:
    from core.testing.servers.postgres import PostgresServer

    sizes_env = os.environ.get("BENCH_SCALE_SIZES")
    if sizes_env:
        sizes = [int(size) for size in sizes_env.split(",")]
    else:
        sizes = [2_000, 10_000] if args.quick else [10_000, 100_000]
    measured: list[tuple[int, int, int, dict[str, float]]] = []
    with PostgresServer() as pg, seaweedfs() as server:
        bucket = server.create_bucket(f"bench-{uuid.uuid4().hex[:8]}")
        for count in sizes:
            url = remote_storage_url("s3", server, bucket, f"scale{count}")
            app = create_app({
                "database_url": pg.create_database(f"scale_{count}"),
                "storage_url": url, "log_level": "ERROR",
            })
            with app.app_context():
                apply_migrations(get_state(app))
            started = time.perf_counter()
            objects, garbage = _seed_rows(app, count)
            _settle(app)
            lists = _measure_lists(app, count)
            _put_all(get_state(app).storage, objects + garbage)
            print(f"seeded {count:,} parts, {len(objects) + len(garbage):,} objects "
                  f"({len(garbage):,} garbage) in {time.perf_counter() - started:.0f}s", flush=True)
            results = {**lists, **_measure_store(app, count, len(garbage))}
            measured.append((count, len(objects) + len(garbage), len(garbage), results))
            get_state(app).database.close()
    names = list(measured[0][3])
    rows = []
    for name in names:
        values = [result[name] for _, _, _, result in measured]
        row: list[Any] = [name, *values]
        if len(measured) >= 2 and values[0] > 0 and values[-1] > 0 and not name.endswith("MB"):
            ratio = measured[-1][0] / measured[0][0]
            row.append(f"{math.log(values[-1] / values[0]) / math.log(ratio):.2f}")
        else:
            row.append("")
        rows.append(row)
    headers = ["operation", *[f"{c:,} parts / {o:,} objects" for c, o, _, _ in measured],
               "growth exponent"]
    print_table("Scale (PostgreSQL + SeaweedFS S3)", headers, rows)
