"""`partsbin serve --migrate` as a real subprocess: what `make run` does."""

from __future__ import annotations

from pathlib import Path

import requests

from core.testing.servers.live_server import LiveServer


def test_serve_migrates_and_answers_ready(tmp_path: Path) -> None:
    settings = {
        "PARTSBIN_DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite",
        "PARTSBIN_STORAGE_URL": f"file://{tmp_path}/blobs",
    }
    with LiveServer(settings, workers=1, threads=2) as server:  # start() waits for readyz 200
        spec = requests.get(f"{server.url}/api/docs/openapi.json", timeout=5).json()
        assert spec["openapi"].startswith("3.")
        assert "/api/attachment-sets/{set_id}" in spec["paths"]
    assert (tmp_path / "db.sqlite").exists()
