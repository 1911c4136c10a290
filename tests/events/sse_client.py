"""A minimal server-sent-events reader over a raw socket (for live-server tests)."""

from __future__ import annotations

import json
import socket
from typing import Any


class SseClient:
    """``GET path`` on ``127.0.0.1:port`` and read events; :meth:`next_event` parses one."""

    def __init__(
        self,
        port: int,
        path: str,
        *,
        timeout: float = 30.0,
        rcvbuf: int = 0,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        self.sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n"
            f"{extra}\r\n".encode()
        )
        self.buffer = b""
        self.pending = b""  # body bytes not yet split into messages
        self.status, self.headers = self._read_head()

    def _read_head(self) -> tuple[int, dict[str, str]]:
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed before the response head")
            self.buffer += chunk
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(lines[0].split()[1]), headers

    def _read_chunk(self) -> bytes:
        """One chunk of the chunked body (b"" at the end)."""
        while b"\r\n" not in self.buffer:
            self._fill()
        size_line, self.buffer = self.buffer.split(b"\r\n", 1)
        size = int(size_line.split(b";")[0], 16)
        while len(self.buffer) < size + 2:
            self._fill()
        data, self.buffer = self.buffer[:size], self.buffer[size + 2 :]
        return data

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("the server closed the stream")
        self.buffer += chunk

    def messages(self):  # type: ignore[no-untyped-def]
        """Yield each message block (text between blank lines), comments included."""
        while True:
            while b"\n\n" in self.pending:
                block, self.pending = self.pending.split(b"\n\n", 1)
                yield block.decode()
            data = self._read_chunk()
            if not data:
                return
            self.pending += data

    def next_event(self) -> dict[str, Any]:
        """The next ``data`` message (heartbeat comments skipped) as ``{id, type, payload}``."""
        for block in self.messages():
            fields = dict(
                line.split(": ", 1) for line in block.split("\n") if not line.startswith(":")
            )
            if "data" in fields:
                body = json.loads(fields["data"])
                return {"id": fields.get("id"), **body}
        raise EOFError("the stream ended")

    def close(self) -> None:
        self.sock.close()
