"""SIGKILL the server mid-upload: then `check` finds no violation and `gc` removes only orphans."""

from __future__ import annotations

import io
import os
import subprocess
import threading
import time
from pathlib import Path

import requests

from core.db import open_database
from core.testing.servers.live_server import LiveServer, partsbin_executable
from storage_drivers.local import LocalDriver
from tests.reliability.conftest import new_part, png_bytes


def _run_cli(settings: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [partsbin_executable(), *args],
        env={**os.environ, **settings},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _referenced_keys(database_url: str) -> set[str]:
    db = open_database(database_url)
    try:
        rows = db.execute_sql(
            "SELECT blob_key FROM attachments WHERE blob_key IS NOT NULL "
            "UNION SELECT preview_blob_key FROM attachments WHERE preview_blob_key IS NOT NULL"
        ).fetchall()
    finally:
        db.close()
    return {row[0] for row in rows}


def test_sigkill_mid_upload_leaves_no_dangling_row(tmp_path: Path, db_url: str) -> None:
    settings = {
        "PARTSBIN_DATABASE_URL": db_url,
        "PARTSBIN_STORAGE_URL": f"file://{tmp_path}/blobs",
        "PARTSBIN_LOG_LEVEL": "ERROR",
    }
    server = LiveServer(settings, workers=2, threads=4).start()
    set_ids = [new_part(server.url, f"p{i}")["attachment_set_id"] for i in range(4)]
    stop = threading.Event()
    sent = []

    def uploader(worker: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            data = png_bytes(seed=worker * 100_000 + n, size=(300, 200)) + os.urandom(200_000)
            try:
                requests.post(
                    f"{server.url}/api/attachment-sets/{set_ids[worker % 4]}/attachments",
                    files={"file": ("f.png", io.BytesIO(data))},
                    data={"title": f"w{worker}-{n}"},
                    timeout=10,
                )
                sent.append(n)
            except requests.RequestException:
                return

    threads = [threading.Thread(target=uploader, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while len(sent) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill()
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert len(sent) >= 20, "uploads did not get going before the kill"

    # A blob stored just before a crash, never referenced (step 3 done, step 4 not).
    storage = LocalDriver.from_url(settings["PARTSBIN_STORAGE_URL"])
    orphan = "cas/" + "ab" * 32
    storage.put(orphan, io.BytesIO(b"orphaned bytes"), 14)

    with LiveServer(settings, workers=1, threads=2):
        check = _run_cli(settings, "check")
        assert check.returncode == 0, check.stdout + check.stderr

        referenced = _referenced_keys(settings["PARTSBIN_DATABASE_URL"])
        stored = {s.key for s in storage.iter_keys("cas/")}
        assert referenced <= stored
        assert orphan in stored - referenced

        gc = _run_cli(settings, "gc", "--grace", "0")
        assert gc.returncode == 0, gc.stdout + gc.stderr
        assert {s.key for s in storage.iter_keys("cas/")} == referenced
        assert _run_cli(settings, "check").returncode == 0
