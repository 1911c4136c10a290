"""The worker's ASGI front passes every request but the event stream to Flask unchanged."""

from __future__ import annotations

import json
from collections.abc import Iterator

import requests

from core.testing.servers.live_server import LiveServer


def test_chunked_request_bodies_reach_flask_whole(tmp_path) -> None:
    settings = {
        "PARTSBIN_DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite",
        "PARTSBIN_STORAGE_URL": f"file://{tmp_path}/blobs",
    }
    body = json.dumps({"description": "sent in chunks", "tags": ["a", "b"]}).encode()

    def chunks() -> Iterator[bytes]:  # no Content-Length: Transfer-Encoding: chunked
        for start in range(0, len(body), 7):
            yield body[start : start + 7]

    with LiveServer(settings, workers=1, threads=2) as server:
        response = requests.post(
            f"{server.url}/api/parts",
            data=chunks(),
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        assert response.status_code == 201, response.text
        assert response.json()["description"] == "sent in chunks"
        assert response.json()["tags"] == ["a", "b"]
