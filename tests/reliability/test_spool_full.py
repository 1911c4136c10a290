"""A full temp folder during an upload: 503 ``TEMP_STORAGE_FULL``, the partial spool file gone.

The temp folder is a real 1 MiB tmpfs mounted by the test (it needs root; without it the test is
skipped), so the spool's move to disk (past 1 MiB here) really fails with ENOSPC.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from core.cas import spool

MOUNT_BYTES = 1024 * 1024


@pytest.fixture
def tiny_tmp(tmp_path_factory: pytest.TempPathFactory, monkeypatch) -> Iterator[Path]:
    """A 1 MiB tmpfs used as Python's temp folder for the test."""
    folder = tmp_path_factory.mktemp("tiny-tmp")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={MOUNT_BYTES}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        monkeypatch.setattr(tempfile, "tempdir", str(folder))
        # Uploads past 1 MiB go to the temp folder (by default a spool holds up to 8 MiB).
        monkeypatch.setattr(spool, "SPOOL_MEMORY_BYTES", 1024 * 1024)
        yield folder
    finally:
        monkeypatch.undo()
        # Lazy: a file the app failed to close must not leave the mount behind.
        subprocess.run(["umount", "--lazy", str(folder)], check=True)


def _noise_png(side: int) -> bytes:
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, "PNG")
    return out.getvalue()


BOUNDARY = b"spool-full-test-boundary-7d1c"


def _multipart(data: bytes) -> bytes:
    return (
        b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="title"\r\n\r\nbig\r\n'
        b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + data + b"\r\n--" + BOUNDARY + b"--\r\n"
    )


def _upload(client, set_id: int, data: bytes):
    return client.post(
        f"/api/attachment-sets/{set_id}/attachments",
        data=_multipart(data),
        content_type="multipart/form-data; boundary=" + BOUNDARY.decode(),
    )


def test_full_temp_folder_is_a_503_and_leaves_no_spool_file(client, tiny_tmp):
    set_id = client.post("/api/parts", json={"description": "p"}).json["attachment_set_id"]
    big = _noise_png(1100)  # about 3.5 MiB: more than the tmpfs holds
    assert len(big) > 3 * MOUNT_BYTES

    response = _upload(client, set_id, big)

    assert response.status_code == 503, response.get_data(as_text=True)[:300]
    assert response.json["code"] == "TEMP_STORAGE_FULL"
    assert shutil.disk_usage(tiny_tmp).used == 0
    assert client.get(f"/api/attachment-sets/{set_id}/attachments").json == []


def test_after_a_full_temp_folder_a_small_upload_succeeds(client, tiny_tmp):
    set_id = client.post("/api/parts", json={"description": "p"}).json["attachment_set_id"]
    assert _upload(client, set_id, _noise_png(1100)).status_code == 503
    assert _upload(client, set_id, _noise_png(64)).status_code == 201
