"""Fixtures for reliability tests against a real `partsbin serve` (multi-worker gunicorn)."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from PIL import Image

from core.testing.servers.live_server import LiveServer


def png_bytes(seed: int = 0, size: tuple[int, int] = (48, 32)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (seed % 256, (seed * 7) % 256, (seed * 13) % 256)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def pg_url(postgres_server) -> Iterator[str]:
    name = f"live_{uuid.uuid4().hex[:12]}"
    url = postgres_server.create_database(name)
    yield url
    postgres_server.drop_database(name)


@pytest.fixture
def s3_storage_url(s3_server, s3_bucket) -> str:
    return (
        f"s3://{s3_bucket}?endpoint_url={s3_server.endpoint_url}&region={s3_server.region}"
        f"&access_key={s3_server.access_key}&secret_key={s3_server.secret_key}"
    )


@pytest.fixture
def live_pg_s3(pg_url: str, s3_storage_url: str) -> Iterator[LiveServer]:
    """`partsbin serve` with 2 workers x 8 threads on PostgreSQL and S3 (SeaweedFS)."""
    with LiveServer(
        {"PARTSBIN_DATABASE_URL": pg_url, "PARTSBIN_STORAGE_URL": s3_storage_url},
        workers=2,
        threads=8,
    ) as server:
        yield server


@pytest.fixture
def live_sqlite(tmp_path: Path) -> Iterator[LiveServer]:
    """`partsbin serve` with 2 workers x 8 threads on SQLite and a local folder."""
    with LiveServer(
        {
            "PARTSBIN_DATABASE_URL": f"sqlite:///{tmp_path}/live.db",
            "PARTSBIN_STORAGE_URL": f"file://{tmp_path}/blobs",
        },
        workers=2,
        threads=8,
    ) as server:
        yield server


def new_part(base_url: str, description: str = "test part") -> dict:
    """Create a part (and so an attachment set) through the API."""
    response = requests.post(f"{base_url}/api/parts", json={"description": description}, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()


def upload(base_url: str, set_id: int, data: bytes, title: str = "img") -> requests.Response:
    return requests.post(
        f"{base_url}/api/attachment-sets/{set_id}/attachments",
        files={"file": ("f.png", data)},
        data={"title": title},
        timeout=60,
    )
