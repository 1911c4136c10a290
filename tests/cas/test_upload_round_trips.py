"""What one upload costs: storage requests and SQL statements, so they cannot silently grow.

The storage is a real S3 server (SeaweedFS) behind a pass-through counter; SQL statements are
counted from Peewee's query log. docs/architecture.md ("Round trips of an upload") says why each
remaining one is there.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from flask import Flask

from core.attachments.models import Attachment, AttachmentSet
from core.cas.ingest import ingest
from core.state import get_state
from tests.reliability.conftest import png_bytes
from tests.storage.counting import CountingDriver
from tests.storage.targets import remote_url

pytestmark = pytest.mark.s3


@pytest.fixture
def storage_url(s3_server, s3_bucket: str, s3_prefix: str) -> str:
    return remote_url("s3", s3_server, s3_bucket, s3_prefix)


@dataclass
class SqlLog(logging.Handler):
    """Collects the first word of every statement Peewee executes."""

    statements: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()

    def __hash__(self) -> int:
        return id(self)

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, tuple):  # (sql, params); other records are pool messages
            self.statements.append(str(record.msg[0]).split(None, 1)[0].upper())


@pytest.fixture
def sql() -> Iterator[SqlLog]:
    handler = SqlLog()
    logger = logging.getLogger("peewee")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(old_level)


@pytest.fixture
def counted(app: Flask) -> CountingDriver:
    state = get_state(app)
    state.storage = CountingDriver(state.storage)
    return state.storage


@pytest.fixture
def set_id(app: Flask) -> int:
    with app.app_context():
        return int(AttachmentSet.create().id)


def upload(app: Flask, set_id: int, data: bytes):
    return app.test_client().post(
        f"/api/attachment-sets/{set_id}/attachments",
        data={"file": (io.BytesIO(data), "p.png"), "title": "photo"},
        content_type="multipart/form-data",
    )


def on_sqlite(app: Flask) -> bool:
    return "sqlite" in get_state(app).settings.database_url


def locking(app: Flask) -> list[str]:
    """The blob-lock statement PostgreSQL adds inside the insert transaction (none on SQLite)."""
    return [] if on_sqlite(app) else ["SELECT"]


def test_an_upload_of_new_bytes_costs_one_conditional_put_and_five_statements(
    app: Flask, set_id: int, counted: CountingDriver, sql: SqlLog
) -> None:
    """PostgreSQL: the blob's lock is taken before the bytes are looked for and held to the
    commit, so the put needs no later look; on S3 a small image is one conditional put (the
    store says whether it was there). SQLite (one write lock, not held during a put) looks
    again under its lock."""
    response = upload(app, set_id, png_bytes(seed=101, size=(64, 48)))

    assert response.status_code == 201, response.json
    assert counted.calls == {"put_if_absent": 1, **({"stat": 1} if on_sqlite(app) else {})}
    # set exists (before the body); [blob lock]; attached already?; set locked + re-checked;
    # row; first cover
    assert sql.statements == ["SELECT", *locking(app), "SELECT", "SELECT", "INSERT", "UPDATE"]


def test_a_dedup_hit_of_attached_bytes_costs_no_storage_request_and_four_statements(
    app: Flask, set_id: int, counted: CountingDriver, sql: SqlLog
) -> None:
    """A row that references the bytes proves they are stored (on SQLite they are looked for
    again under the write lock)."""
    data = png_bytes(seed=102, size=(64, 48))
    assert upload(app, set_id, data).status_code == 201
    counted.reset()
    sql.statements.clear()

    response = upload(app, set_id, data)

    assert response.status_code == 201, response.json
    assert counted.calls == ({"stat": 1} if on_sqlite(app) else {})
    assert sql.statements == ["SELECT", *locking(app), "SELECT", "SELECT", "INSERT"]


def test_a_dedup_hit_does_not_validate_the_bytes_again(
    app: Flask, counted: CountingDriver, set_id: int
) -> None:
    """Bytes a row references passed the pipeline when first stored; the same bytes are not
    opened again. (Here they were stored and referenced without the check, so a second
    validation would refuse them: the 201 shows that it did not run.)"""
    truncated = png_bytes(seed=103, size=(64, 48))[:-20]
    assert upload(app, set_id, truncated).status_code == 422
    blob = ingest(counted.inner, io.BytesIO(truncated), lambda _type: 10**9)
    with app.app_context():
        Attachment.create(
            attachment_set=set_id, attachment_type="image", title="stored before",
            blob_key=blob.key, content_type="image/png", file_size=blob.size,
        )  # fmt: skip
    counted.reset()

    response = upload(app, set_id, truncated)

    assert response.status_code == 201, response.json
    assert counted.calls == ({"stat": 1} if on_sqlite(app) else {})


def test_unattached_small_bytes_are_checked_as_new_ones(
    app: Flask, counted: CountingDriver, set_id: int
) -> None:
    """Bytes under ``cas/`` that no row references (stored by a plugin without the image
    check, or an orphan awaiting gc) are checked before the conditional put, like new bytes:
    the store only answers whether they are there after that check."""
    truncated = png_bytes(seed=104, size=(64, 48))[:-20]
    ingest(counted.inner, io.BytesIO(truncated), lambda _type: 10**9)
    counted.reset()

    response = upload(app, set_id, truncated)

    assert response.status_code == 422, response.json
    assert counted.calls == {}
