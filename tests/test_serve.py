"""`partsbin serve --migrate` as a real subprocess: what `make run` does."""

from __future__ import annotations

import socket
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


def _raw_exchange(port: int, data: bytes) -> bytes:
    """Send ``data`` and read until the server closes or 10 s pass."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            pass
        return received


def test_request_heads_over_the_limit_are_refused(tmp_path: Path) -> None:
    settings = {
        "PARTSBIN_DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite",
        "PARTSBIN_STORAGE_URL": f"file://{tmp_path}/blobs",
    }
    get = b"GET /health/healthz HTTP/1.1\r\nHost: partsbin\r\nConnection: close\r\n"
    with LiveServer(settings, workers=1, threads=2) as server:
        fits = _raw_exchange(server.port, get + b"X-Fill: " + b"a" * 12_000 + b"\r\n\r\n")
        one_long = _raw_exchange(server.port, get + b"X-Fill: " + b"a" * 20_000 + b"\r\n\r\n")
        many = b"".join(b"X-Fill-%d: %s\r\n" % (i, b"b" * 200) for i in range(100))
        many_short = _raw_exchange(server.port, get + many + b"\r\n")
        # A header that never ends: refused without waiting for its end.
        endless = _raw_exchange(server.port, get + b"X-Fill: " + b"c" * 40_000)
        assert requests.get(f"{server.url}/health/healthz", timeout=5).status_code == 200
    assert fits.startswith(b"HTTP/1.1 200 "), fits[:200]
    for refused in (one_long, many_short, endless):
        assert refused.startswith(b"HTTP/1.1 400 "), refused[:200]
