"""An early 413 that ordinary clients can read (lingering close), against a real `partsbin serve`.

python-requests sends the whole body before it reads the answer; a server that answers early and
closes with the body unread makes the kernel reset the connection, and requests then reports
"connection reset" instead of the 413. The server must read and discard the rest of the body
(bounded) and close with ``Connection: close``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from PIL import Image

from core.testing.servers.live_server import LiveServer

LIMIT = 10 * 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder: Path = tmp_path_factory.mktemp("early")
    with LiveServer(
        {
            "PARTSBIN_DATABASE_URL": f"sqlite:///{folder}/db.sqlite",
            "PARTSBIN_STORAGE_URL": f"file://{folder}/blobs",
            "PARTSBIN_MAX_IMAGE_BYTES": str(LIMIT),
        },
        workers=2,
        threads=2,
    ) as running:
        yield running


@pytest.fixture(scope="module")
def big_image() -> bytes:
    """An 11 MiB PNG: a real header, then filler past the limit."""
    out = io.BytesIO()
    Image.new("RGB", (16, 16), "red").save(out, "PNG")
    return out.getvalue() + os.urandom(11 * 1024 * 1024)


def _set_id(server: LiveServer) -> int:
    part = requests.post(f"{server.url}/api/parts", json={"description": "p"}, timeout=30)
    return int(part.json()["attachment_set_id"])


def test_requests_reads_the_413_of_an_oversized_upload_every_time(server, big_image):
    url = f"{server.url}/api/attachment-sets/{_set_id(server)}/attachments"
    outcomes = []
    for _ in range(10):
        try:
            response = requests.post(
                url, files={"file": ("big.png", big_image)}, data={"title": "t"}, timeout=60
            )
        except requests.ConnectionError as exc:
            outcomes.append(f"connection error: {exc.__class__.__name__}")
            continue
        outcomes.append(
            (response.status_code, response.json()["code"], response.headers.get("Connection"))
        )
    assert outcomes == [(413, "PAYLOAD_TOO_LARGE", "close")] * 10, outcomes


def test_the_same_session_works_after_an_early_413(server, big_image):
    url = f"{server.url}/api/attachment-sets/{_set_id(server)}/attachments"
    with requests.Session() as session:
        first = session.post(url, files={"file": ("big.png", big_image)}, data={"title": "t"})
        assert first.status_code == 413
        assert session.get(f"{server.url}/health/readyz", timeout=30).status_code == 200
