"""The worker's uvicorn protocol: files sent with ``sendfile`` (its zero-copy extension) and
responses whose start it holds until the body, from ASGI apps straight on uvicorn and from CAS
GETs through ``partsbin serve``."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import uvicorn

from core.events import worker
from core.events.bridge import ZEROCOPY
from core.testing.servers.live_server import LiveServer
from core.testing.servers.process import free_ports

CONTENT = os.urandom(8 * 1024 * 1024 + 123)  # more than a loopback socket takes at once


@pytest.fixture
def sendfile_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The byte counts ``os.sendfile`` really sent, as the worker called it."""
    calls: list[int] = []
    real = os.sendfile

    def counting(out_fd: int, in_fd: int, offset: int | None, count: int) -> int:
        sent = real(out_fd, in_fd, offset, count)
        calls.append(sent)
        return sent

    monkeypatch.setattr(worker.os, "sendfile", counting)
    return calls


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[str]:
    """uvicorn with the worker's protocol, serving ``CONTENT`` (or a part) by zero-copy."""
    path = tmp_path / "content.bin"
    path.write_bytes(CONTENT)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert ZEROCOPY in scope["extensions"]
        if scope["path"] == "/pieces":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            for piece in (b"one ", b"two ", b"three"):
                await send({"type": "http.response.body", "body": piece, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        if scope["path"] == "/fails":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            raise RuntimeError("the app failed after its start")
        start, _, end = scope["query_string"].decode().partition("-")
        offset, count = int(start or 0), int(end or len(CONTENT)) - int(start or 0)
        headers = [(b"content-length", str(count).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        with open(path, "rb") as file:
            message = {"file": file, "offset": offset, "count": count, "more_body": False}
            await send({"type": ZEROCOPY, **message})

    (port,) = free_ports(1)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, http=worker.LimitedHttpToolsProtocol, lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_file_goes_out_whole_with_sendfile_and_the_connection_stays_usable(
    file_server: str, sendfile_calls: list[int]
) -> None:
    with requests.Session() as session:
        whole = session.get(file_server, timeout=30)
        part = session.get(f"{file_server}/?1000-71000", timeout=30)  # same connection

    assert whole.status_code == 200 and whole.content == CONTENT
    assert part.content == CONTENT[1000:71000]
    assert sum(sendfile_calls) > 70_000  # sendfile sent (most of) it, not a copy


def test_responses_in_pieces_and_failures_after_the_start_reach_the_client(
    file_server: str,
) -> None:
    with requests.Session() as session:
        pieces = session.get(f"{file_server}/pieces", timeout=10)
        failed = session.get(f"{file_server}/fails", timeout=10)
        after = session.get(f"{file_server}/?0-10", timeout=10)

    assert pieces.status_code == 200 and pieces.text == "one two three"
    assert pieces.headers["Transfer-Encoding"] == "chunked"
    assert failed.status_code == 500  # the held start was never sent: the 500 replaces it
    assert after.content == CONTENT[:10]


def test_a_slow_reader_gets_every_byte(file_server: str) -> None:
    host, port = file_server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        time.sleep(0.5)  # the socket fills up: sendfile stops short, the copy takes over
        received = io.BytesIO()
        while chunk := sock.recv(65536):
            received.write(chunk)
    head, _, body = received.getvalue().partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert hashlib.sha256(body).digest() == hashlib.sha256(CONTENT).digest()


def test_cas_gets_through_partsbin_serve_are_whole(tmp_path: Path) -> None:
    settings = {
        "PARTSBIN_DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite",
        "PARTSBIN_STORAGE_URL": f"file://{tmp_path}/blobs",
        "PARTSBIN_ALLOWED_TYPES": "application/octet-stream",
    }
    data = CONTENT
    with LiveServer(settings, workers=1, threads=2) as server, requests.Session() as http:
        part = http.post(f"{server.url}/api/parts", json={"description": "d"}, timeout=30)
        set_id = part.json()["attachment_set_id"]
        created = http.post(
            f"{server.url}/api/attachment-sets/{set_id}/attachments",
            files={"file": ("blob.bin", data, "application/octet-stream")},
            data={"title": "blob"},
            timeout=60,
        )
        assert created.status_code == 201, created.text
        url = server.url + created.json()["attachment_url"].split("?")[0]
        whole = http.get(url, timeout=60)
        ranged = http.get(url, headers={"Range": "bytes=100-65635"}, timeout=30)
        head = http.head(url, timeout=30)

    assert whole.status_code == 200 and whole.content == data
    assert ranged.status_code == 206 and ranged.content == data[100:65636]
    assert head.status_code == 200 and head.headers["Content-Length"] == str(len(data))
