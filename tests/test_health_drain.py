"""``GET /health/drain``: a graceful shutdown started over HTTP, guarded by PARTSBIN_DRAIN_KEY."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from core.app import create_app
from core.testing.servers.live_server import LiveServer

KEY = "drain-key-0123456789abcdef"


@pytest.fixture
def app_config(db_url: str, storage_url: str) -> dict[str, Any]:
    return {
        "database_url": db_url,
        "storage_url": storage_url,
        "log_level": "WARNING",
        "drain_key": KEY,
    }


def test_drain_without_the_key_is_401_and_changes_nothing(client) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong-key-0123456789"}, {"Authorization": KEY}):
        response = client.get("/health/drain", headers=headers)
        assert response.status_code == 401, headers
        assert response.json == {"status": "unauthorized", "ready": False}
    assert client.get("/health/readyz").status_code == 200


def test_drain_with_the_key_makes_the_instance_unready(client) -> None:
    response = client.get("/health/drain", headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 200
    assert response.json == {"status": "shutting down", "ready": False}
    ready = client.get("/health/readyz")
    assert ready.status_code == 503
    assert ready.json["checks"]["drain"] == "shutting down"


def test_without_a_configured_key_drain_is_always_401(db_url, storage_url) -> None:
    app = create_app({"database_url": db_url, "storage_url": storage_url, "log_level": "WARNING"})
    response = app.test_client().get("/health/drain", headers={"Authorization": "Bearer x" * 3})
    assert response.status_code == 401


def test_drain_stops_partsbin_serve_gracefully(tmp_path) -> None:
    settings = {
        "PARTSBIN_DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite",
        "PARTSBIN_STORAGE_URL": f"file://{tmp_path}/blobs",
        "PARTSBIN_DRAIN_KEY": KEY,
    }
    server = LiveServer(settings, workers=2, threads=2).start()
    try:
        response = requests.get(
            f"{server.url}/health/drain", headers={"Authorization": f"Bearer {KEY}"}, timeout=10
        )
        assert response.status_code == 200
        assert server.process is not None
        assert server.process.wait(timeout=30) == 0  # the master stopped by itself
    finally:
        server.stop()
