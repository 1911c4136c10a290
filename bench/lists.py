"""Parts list with covers: GET /api/parts?limit=1000&include=cover on 1,000 and 10,000 parts.

Every part has an image cover. Reports the median latency, the response size and the number of
SQL statements per request, on SQLite and PostgreSQL (a server started for the run). Requests go
through the WSGI app in-process, so the numbers are the app's own cost without HTTP.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import string
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from PIL import Image

from bench.common import median, print_table
from core.app import create_app
from core.attachments.models import Attachment, AttachmentSet
from core.cas.ingest import ingest
from core.db import utcnow
from core.migrate import apply_migrations
from core.state import get_state
from plugins.parts.models import Part

ROUNDS = 15
BATCH = 500


def _key(index: int) -> str:
    letters = string.ascii_uppercase
    out = ""
    for _ in range(4):
        index, rest = divmod(index, 26)
        out = letters[rest] + out
    return out


def _seed(app: Any, count: int) -> None:
    """Insert ``count`` parts, each with a set whose cover is an image attachment."""
    state = get_state(app)
    png = io.BytesIO()
    Image.new("RGB", (64, 64), "teal").save(png, "PNG")
    blob = ingest(state.storage, io.BytesIO(png.getvalue()), lambda _t: 10**9)
    now = utcnow()
    with app.app_context(), state.database.atomic():
        for start in range(0, count, BATCH):
            size = min(BATCH, count - start)
            AttachmentSet.insert_many(
                [{"created_at": now, "updated_at": now} for _ in range(size)]
            ).execute()
            set_ids = [  # the sets just inserted (the benchmark is the only writer)
                row.id
                for row in AttachmentSet.select(AttachmentSet.id)
                .order_by(AttachmentSet.id.desc())
                .limit(size)
            ][::-1]
            Part.insert_many(
                [
                    {
                        "key": _key(start + i),
                        "description": f"benchmark part {start + i}",
                        "attachment_set": set_id,
                        "tags": "[]",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i, set_id in enumerate(set_ids)
                ]
            ).execute()
            Attachment.insert_many(
                [
                    {
                        "attachment_set": set_id,
                        "attachment_type": "image",
                        "title": "photo",
                        "blob_key": blob.key,
                        "content_type": blob.content_type,
                        "file_size": blob.size,
                        "filename": "photo.png",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for set_id in set_ids
                ]
            ).execute()
        covers = Attachment.select(Attachment.id).where(
            Attachment.attachment_set == AttachmentSet.id
        )
        AttachmentSet.update(cover_attachment=covers).execute()


@contextlib.contextmanager
def _count_queries(database: Any) -> Iterator[list[str]]:
    statements: list[str] = []
    original = database.execute_sql

    def counting(sql: str, *args: Any, **kwargs: Any) -> Any:
        statements.append(sql)
        return original(sql, *args, **kwargs)

    database.execute_sql = counting
    try:
        yield statements
    finally:
        database.execute_sql = original


def _measure(app: Any) -> tuple[float, float, int, int]:
    """Median and best latency (ms), response bytes and SQL statements of one list request."""
    client = app.test_client()
    url = "/api/parts?limit=1000&include=cover"
    for _ in range(2):
        assert client.get(url).status_code == 200
    timings = []
    size = 0
    with _count_queries(get_state(app).database) as statements:
        for _ in range(ROUNDS):
            started = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
            items = response.json
            assert isinstance(items, list) and len(items) == 1000
            assert all(item["cover_url"] for item in items)
            size = len(response.data)
    return median(timings), min(timings), size, len(statements) // ROUNDS


def _run_one(database_url: str, folder: Path, count: int) -> tuple[float, float, int, int]:
    app = create_app(
        {
            "database_url": database_url,
            "storage_url": f"file://{folder}/blobs",
            "log_level": "ERROR",
        }
    )
    with app.app_context():
        apply_migrations(get_state(app))
    _seed(app, count)
    try:
        return _measure(app)
    finally:
        get_state(app).database.close()


def run(args: argparse.Namespace) -> None:
    from core.testing.servers.postgres import PostgresServer

    counts = [1_000] if args.quick else [1_000, 10_000]
    rows = []
    with PostgresServer() as pg, tempfile.TemporaryDirectory(prefix="partsbin-bench-") as tmp:
        for count in counts:
            for backend in ("sqlite", "postgresql"):
                folder = Path(tmp) / f"{backend}-{count}"
                folder.mkdir()
                url = (
                    f"sqlite:///{folder}/db.sqlite"
                    if backend == "sqlite"
                    else pg.create_database(f"bench_{count}")
                )
                med, best, size, queries = _run_one(url, folder, count)
                rows.append([backend, f"{count:,}", med, best, f"{size / 1000:,.0f} kB", queries])
    print_table(
        "GET /api/parts?limit=1000&include=cover (in-process WSGI)",
        ["database", "parts", "median ms", "best ms", "response", "SQL statements"],
        rows,
    )
