"""Fixtures for attachment tests: every test runs on SQLite/PostgreSQL x local/S3 storage."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from core.attachments.models import AttachmentSet


@pytest.fixture(params=["local", "s3"])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "local":
        return f"file://{tmp_path / 'blobs'}"
    server = request.getfixturevalue("s3_server")
    bucket = request.getfixturevalue("s3_bucket")
    return (
        f"s3://{bucket}?endpoint_url={server.endpoint_url}&region={server.region}"
        f"&access_key={server.access_key}&secret_key={server.secret_key}"
    )


def make_png(width: int = 32, height: int = 16, color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


def make_pdf() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (60, 80), "white").save(out, "PDF")
    return out.getvalue()


@pytest.fixture
def set_id(app) -> int:
    """A fresh, empty attachment set (no owner)."""
    with app.app_context():
        return AttachmentSet.create().id


@pytest.fixture
def upload(client):
    """``upload(set_id, data, title, filename)`` -> response of a multipart upload."""

    def _upload(set_id: int, data: bytes, title: str = "a file", filename: str = "file.bin"):
        return client.post(
            f"/api/attachment-sets/{set_id}/attachments",
            data={"file": (io.BytesIO(data), filename), "title": title},
            content_type="multipart/form-data",
        )

    return _upload
