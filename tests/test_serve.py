"""`partsbin serve --migrate` as a real subprocess: what `make run` does."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _partsbin() -> str:
    candidate = Path(sys.executable).parent / "partsbin"
    return str(candidate) if candidate.exists() else shutil.which("partsbin") or "partsbin"


def test_serve_migrates_and_answers_ready(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "PARTSBIN_DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite",
        "PARTSBIN_STORAGE_URL": f"file://{tmp_path}/blobs",
        "PARTSBIN_PORT": str(port),
        "PARTSBIN_WORKERS": "1",
    }
    proc = subprocess.Popen(
        [_partsbin(), "serve", "--migrate"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        response = None
        while time.monotonic() < deadline:
            try:
                response = requests.get(f"http://127.0.0.1:{port}/health/readyz", timeout=2)
                break
            except requests.ConnectionError:
                if proc.poll() is not None:
                    pytest.fail(f"serve exited early: {proc.stdout.read().decode()[-2000:]}")
                time.sleep(0.1)
        assert response is not None and response.status_code == 200, "server never became ready"
        spec = requests.get(f"http://127.0.0.1:{port}/api/docs/openapi.json", timeout=5).json()
        assert spec["openapi"].startswith("3.")
        assert "/api/attachment-sets/{set_id}" in spec["paths"]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert (tmp_path / "db.sqlite").exists()
