"""Oversized uploads against the real server: it stops reading soon after the limit and says 413.

The client sends a body far larger than the limit and counts how many bytes it could push before
the server answered. Socket buffers on both ends absorb a few MiB, so the bound allows for them;
what matters is that the server neither reads nor stores the whole body.
"""

from __future__ import annotations

import io
import select
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from core.testing.servers.live_server import LiveServer

LIMIT = 1024 * 1024
BODY = 64 * 1024 * 1024
SLACK = 12 * 1024 * 1024  # kernel socket buffers on both sides of a loopback connection
BOUNDARY = "limit-test-boundary"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder: Path = tmp_path_factory.mktemp("limits")
    with LiveServer(
        {
            "PARTSBIN_DATABASE_URL": f"sqlite:///{folder}/db.sqlite",
            "PARTSBIN_STORAGE_URL": f"file://{folder}/blobs",
            "PARTSBIN_MAX_IMAGE_BYTES": str(LIMIT),
        },
        workers=1,
        threads=2,
    ) as running:
        yield running


def _set_id(server: LiveServer) -> int:
    import requests

    part = requests.post(f"{server.url}/api/parts", json={"description": "p"}, timeout=30)
    return int(part.json()["attachment_set_id"])


def _png_head() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), "red").save(out, "PNG")
    return out.getvalue()


def _push(server: LiveServer, head: bytes, chunked: bool) -> tuple[int, bytes]:
    """Send ``head`` then filler until the server answers; return (bytes sent, response)."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
    sent = 0
    filler = b"\x00" * 65536
    try:
        sock.sendall(head)
        while sent < BODY:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            piece = filler if not chunked else b"10000\r\n" + filler + b"\r\n"
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(filler)
        sock.settimeout(30)
        response = b""
        try:
            while b"\r\n\r\n" not in response:
                data = sock.recv(65536)
                if not data:
                    break
                response += data
        except ConnectionResetError:
            pass
        return sent, response
    finally:
        sock.close()


def _request_head(server: LiveServer, set_id: int, chunked: bool) -> bytes:
    part_head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="title"\r\n\r\nbig\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="b.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode() + _png_head()
    length = (
        "Transfer-Encoding: chunked\r\n"
        if chunked
        else f"Content-Length: {len(part_head) + BODY}\r\n"
    )
    headers = (
        f"POST /api/attachment-sets/{set_id}/attachments HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"{length}Connection: close\r\n\r\n"
    ).encode()
    if chunked:
        return headers + f"{len(part_head):x}\r\n".encode() + part_head + b"\r\n"
    return headers + part_head


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_server_stops_reading_soon_after_the_limit(server: LiveServer, chunked: bool) -> None:
    set_id = _set_id(server)
    sent, response = _push(server, _request_head(server, set_id, chunked), chunked)
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert sent < LIMIT + SLACK, f"server accepted {sent} bytes for a {LIMIT}-byte limit"
    print(f"\n{'chunked' if chunked else 'content-length'}: client pushed {sent:,} bytes")
    blobs = Path(server.settings["PARTSBIN_STORAGE_URL"].removeprefix("file://")) / "cas"
    assert not blobs.exists() or not any(p.is_file() for p in blobs.rglob("*"))
