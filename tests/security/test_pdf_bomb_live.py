"""The PDF bomb against the real server (`partsbin serve`, 2 gunicorn workers): the thumbnail
answers with the generic preview within bounds and no worker grows (issue 16 item 1)."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from core.cas.ingest import ingest
from core.cas.thumbnails import generic_pdf_thumbnail
from core.testing.servers.live_server import LiveServer
from storage_drivers.local import LocalDriver
from tests.cas.conftest import pdf
from tests.cas.pdf_bombs import nested_forms_pdf

MIB = 1024 * 1024


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[LiveServer, LocalDriver]]:
    with LiveServer(
        {
            "PARTSBIN_DATABASE_URL": f"sqlite:///{tmp_path}/live.db",
            "PARTSBIN_STORAGE_URL": f"file://{tmp_path}/blobs",
            "PARTSBIN_RENDER_TIMEOUT": "3",
            "PARTSBIN_RENDER_MAX_MEMORY": str(512 * MIB),
        },
        workers=2,
        threads=4,
    ) as server:
        storage = LocalDriver(str(tmp_path / "blobs"))
        yield server, storage
        storage.close()


def _peak_rss_of_workers(server: LiveServer) -> int:
    """The largest peak resident size (VmHWM) among the server's processes, in bytes."""
    assert server.process is not None
    pids = [server.process.pid]
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
    pids += [int(pid) for pid in children.read_text().split()]
    peak = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]) * 1024)
    return peak


def test_a_pdf_bomb_thumbnail_on_the_real_server(live: tuple[LiveServer, LocalDriver]) -> None:
    server, storage = live
    bomb = ingest(storage, io.BytesIO(nested_forms_pdf()), lambda _type: 10**9)
    normal = ingest(storage, io.BytesIO(pdf(200, 100, "green")), lambda _type: 10**9)
    started = time.monotonic()
    response = requests.get(f"{server.url}/api/cas/{bomb.sha256}?thumbnail=200", timeout=60)
    assert time.monotonic() - started < 30.0  # "does not hang", not a timing
    assert response.status_code == 200
    assert response.content == generic_pdf_thumbnail(200)
    assert _peak_rss_of_workers(server) < 400 * MIB  # PDFium's gigabytes stayed in the child
    after = requests.get(f"{server.url}/api/cas/{normal.sha256}?thumbnail=100", timeout=60)
    assert after.status_code == 200 and after.content != generic_pdf_thumbnail(100)
