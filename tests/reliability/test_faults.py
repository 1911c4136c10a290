"""Faults: storage stopped mid-upload, PostgreSQL restarted, storage answering slowly or frozen."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image

from core.app import create_app
from core.attachments.models import Attachment, AttachmentSet
from core.cas.ingest import ingest
from core.db import close_database
from core.migrate import apply_migrations
from core.state import get_state
from core.testing.servers.postgres import PostgresServer
from core.testing.servers.seaweedfs import SeaweedServer
from storage_drivers.base import StorageUnavailable
from tests.reliability.conftest import png_bytes
from tests.storage.streams import GeneratedStream

BOUNDARY = "partsbin-test-boundary"


@pytest.fixture
def own_s3() -> Iterator[SeaweedServer]:
    """A SeaweedFS of this test's own, free to be stopped."""
    with SeaweedServer() as server:
        server.create_bucket("faults")
        yield server


def _s3_url(server: SeaweedServer) -> str:
    return (
        f"s3://faults?endpoint_url={server.endpoint_url}&region={server.region}"
        f"&access_key={server.access_key}&secret_key={server.secret_key}"
        "&connect_timeout=1&read_timeout=2&max_attempts=1"
    )


def _app(database_url: str, storage_url: str, **extra: object):
    app = create_app(
        {"database_url": database_url, "storage_url": storage_url, "log_level": "ERROR", **extra}
    )
    with app.app_context():
        apply_migrations(get_state(app))
    return app


class _MultipartThatStopsServer(io.BytesIO):
    """A multipart body that halts the S3 server once half of the file has been read."""

    def __init__(self, data: bytes, server: SeaweedServer) -> None:
        head = (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="title"\r\n\r\nphoto\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="p.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        super().__init__(head + data + f"\r\n--{BOUNDARY}--\r\n".encode())
        self.halt_at = len(head) + len(data) // 2
        self.server = server
        self.halted = False

    def _maybe_halt(self) -> None:
        if not self.halted and self.tell() >= self.halt_at:
            self.server.halt()
            self.halted = True

    def read(self, size: int | None = -1) -> bytes:
        self._maybe_halt()
        return super().read(16 * 1024 if size is None or size < 0 else min(size, 16 * 1024))

    read1 = read

    def readinto(self, buffer) -> int:  # type: ignore[override]
        self._maybe_halt()
        view = memoryview(buffer)[: 16 * 1024]
        return super().readinto(view)

    def readline(self, size: int | None = -1) -> bytes:
        self._maybe_halt()
        return super().readline(size)


def _noise_png() -> bytes:
    """A ~270 KB PNG of random pixels (does not compress), unique per call."""
    out = io.BytesIO()
    Image.frombytes("RGB", (300, 300), os.urandom(300 * 300 * 3)).save(out, "PNG")
    return out.getvalue()


def _rows(app) -> int:
    with app.app_context():
        return Attachment.select().count()


def test_s3_stopped_mid_upload_is_503_and_no_row_then_recovers(db_url: str, own_s3) -> None:
    app = _app(db_url, _s3_url(own_s3))
    client = app.test_client()
    with app.app_context():
        set_id = AttachmentSet.create().id
    data = _noise_png()
    body = _MultipartThatStopsServer(data, own_s3)

    started = time.monotonic()
    response = client.post(
        f"/api/attachment-sets/{set_id}/attachments",
        input_stream=body,
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
        content_length=len(body.getvalue()),
    )
    assert body.halted
    assert response.status_code == 503, response.json
    assert response.json["code"] == "STORAGE_UNAVAILABLE"
    assert time.monotonic() - started < 15
    assert _rows(app) == 0

    own_s3.restart()
    retry = client.post(
        f"/api/attachment-sets/{set_id}/attachments",
        data={"file": (io.BytesIO(data), "p.png"), "title": "photo"},
        content_type="multipart/form-data",
    )
    assert retry.status_code == 201, retry.json
    assert _rows(app) == 1
    assert client.get(retry.json["attachment_url"]).data == data


def test_slow_storage_is_a_bounded_503(tmp_path: Path, own_s3) -> None:
    app = _app(f"sqlite:///{tmp_path}/slow.db", _s3_url(own_s3))
    client = app.test_client()
    with app.app_context():
        set_id = AttachmentSet.create().id
    own_s3.pause()
    try:
        started = time.monotonic()
        response = client.post(
            f"/api/attachment-sets/{set_id}/attachments",
            data={"file": (io.BytesIO(png_bytes(seed=3)), "p.png"), "title": "t"},
            content_type="multipart/form-data",
        )
        elapsed = time.monotonic() - started
    finally:
        own_s3.resume()
    assert response.status_code == 503
    assert elapsed < 15, f"request held the worker for {elapsed:.1f} s"
    assert _rows(app) == 0
    ready = client.get("/health/readyz")
    assert ready.status_code == 200


@pytest.mark.parametrize("pool_size", [0, 4], ids=["connection-per-request", "pool"])
def test_postgres_restart_gives_503_then_recovers(tmp_path: Path, pool_size: int) -> None:
    with PostgresServer() as pg:
        url = pg.create_database("outage")
        app = _app(url, f"file://{tmp_path}/blobs", db_timeout=1, db_pool_size=pool_size)
        client = app.test_client()
        with app.app_context():
            set_id = AttachmentSet.create().id
        assert client.get(f"/api/attachment-sets/{set_id}").status_code == 200

        pg.halt()
        started = time.monotonic()
        during = client.get(f"/api/attachment-sets/{set_id}")
        assert during.status_code == 503
        assert during.json["code"] == "DATABASE_UNAVAILABLE"
        assert time.monotonic() - started < 10
        assert client.get("/health/readyz").json["checks"]["database"] == "unavailable"

        pg.restart()
        after = client.get(f"/api/attachment-sets/{set_id}")
        assert after.status_code == 200
        assert client.get("/health/readyz").status_code == 200
        close_database(get_state(app).database)


# --- a frozen S3 server (SIGSTOP): every answer within a bound ---------------------------------


def _default_s3_url(server: SeaweedServer) -> str:
    """The storage URL with the driver's default timeouts and retries (what deployments use)."""
    return (
        f"s3://faults?endpoint_url={server.endpoint_url}&region={server.region}"
        f"&access_key={server.access_key}&secret_key={server.secret_key}"
    )


@contextmanager
def _frozen(server: SeaweedServer) -> Iterator[None]:
    server.pause()
    try:
        yield
    finally:
        server.resume()


def _timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def _default_minio_url(server: SeaweedServer) -> str:
    return (
        f"minio://127.0.0.1:{server.s3_port}/faults?secure=false&region={server.region}"
        f"&access_key={server.access_key}&secret_key={server.secret_key}"
    )


@pytest.mark.parametrize("kind", ["s3", "minio"])
def test_readyz_answers_503_within_seconds_when_s3_is_frozen(
    tmp_path: Path, own_s3, kind: str
) -> None:
    url = _default_s3_url(own_s3) if kind == "s3" else _default_minio_url(own_s3)
    app = _app(f"sqlite:///{tmp_path}/frozen.db", url)
    client = app.test_client()
    assert client.get("/health/readyz").status_code == 200
    with _frozen(own_s3):
        response, elapsed = _timed(lambda: client.get("/health/readyz"))
    assert response.status_code == 503
    assert response.json["checks"]["storage"] == "unavailable"
    assert elapsed < 5, f"readyz took {elapsed:.1f} s"
    assert client.get("/health/readyz").status_code == 200


def test_cas_get_and_upload_answer_503_in_bounded_time_when_s3_is_frozen(
    tmp_path: Path, own_s3
) -> None:
    app = _app(f"sqlite:///{tmp_path}/frozen.db", _default_s3_url(own_s3), cache_max_bytes=0)
    with app.app_context():
        set_id = AttachmentSet.create().id
    first = app.test_client().post(
        f"/api/attachment-sets/{set_id}/attachments",
        data={"file": (io.BytesIO(png_bytes(seed=5)), "p.png"), "title": "t"},
        content_type="multipart/form-data",
    )
    assert first.status_code == 201

    def get():
        return app.test_client().get(first.json["attachment_url"])

    def upload():
        return app.test_client().post(
            f"/api/attachment-sets/{set_id}/attachments",
            data={"file": (io.BytesIO(png_bytes(seed=6)), "q.png"), "title": "t"},
            content_type="multipart/form-data",
        )

    with _frozen(own_s3), ThreadPoolExecutor(2) as pool:
        answers = [pool.submit(_timed, call) for call in (get, upload)]
        results = [answer.result(timeout=60) for answer in answers]
    for response, elapsed in results:
        assert response.status_code == 503, response.data
        assert response.json["code"] == "STORAGE_UNAVAILABLE"
        assert elapsed < 30, f"a request waited {elapsed:.1f} s"
    assert _rows(app) == 1


def test_a_cached_blob_is_served_while_s3_is_frozen(tmp_path: Path, own_s3) -> None:
    app = _app(
        f"sqlite:///{tmp_path}/frozen.db", _default_s3_url(own_s3), cache_dir=str(tmp_path / "c")
    )
    with app.app_context():
        set_id = AttachmentSet.create().id
    client = app.test_client()
    data = png_bytes(seed=7)
    created = client.post(
        f"/api/attachment-sets/{set_id}/attachments",
        data={"file": (io.BytesIO(data), "p.png"), "title": "t"},
        content_type="multipart/form-data",
    )
    assert client.get(created.json["attachment_url"]).data == data  # fills the cache
    with _frozen(own_s3):
        response, elapsed = _timed(lambda: client.get(created.json["attachment_url"]))
    assert response.status_code == 200 and response.data == data
    assert elapsed < 2


def test_a_download_running_when_s3_freezes_fails_instead_of_hanging(
    tmp_path: Path, own_s3
) -> None:
    app = _app(
        f"sqlite:///{tmp_path}/frozen.db", _default_s3_url(own_s3), cache_dir=str(tmp_path / "c")
    )
    storage = get_state(app).storage
    size = 64 * 1024 * 1024
    blob = ingest(storage, GeneratedStream(size), lambda _type: 2**40)
    response = app.test_client().get(f"/api/cas/{blob.sha256}", buffered=False)
    assert response.status_code == 200
    chunks = iter(response.response)
    received = len(next(chunks))
    with _frozen(own_s3):
        started = time.monotonic()
        with pytest.raises(StorageUnavailable):
            for chunk in chunks:
                received += len(chunk)
        elapsed = time.monotonic() - started
    response.close()
    assert received < size
    assert elapsed < 30, f"the stream stalled {elapsed:.1f} s before failing"
    reader = get_state(app).read_storage
    assert reader is not None and reader.local_path(blob.key) is None  # no partial copy kept
