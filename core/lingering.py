"""Lingering close: an early answer stays readable for clients that send the whole body first.

A server that answers (say 413) before reading the whole request body and then closes with the
body unread makes the kernel reset the connection; clients such as python-requests, which send
everything before they read, then report "connection reset" instead of the answer. Like nginx's
``lingering_close``, :class:`LingeringClose` reads and discards the rest of such a body after the
answer was sent, bounded in bytes and time, and closes the connection with ``Connection: close``.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

log = logging.getLogger("partsbin.serve")

#: Most bytes read and discarded after an early answer; a larger rest is cut off.
LINGER_MAX_BYTES = 64 * 1024 * 1024
#: Longest time spent draining, and longest wait for the client's next bytes.
LINGER_MAX_SECONDS = 10.0
LINGER_IDLE_SECONDS = 2.0
_CHUNK = 64 * 1024

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class _CountingInput:
    """``wsgi.input`` that remembers how much was read and whether the end was reached."""

    def __init__(self, stream: Any, length: int | None) -> None:
        self._stream = stream
        self.length = length
        self.read_bytes = 0
        self.at_end = length == 0

    def _seen(self, data: bytes, asked: int | None) -> bytes:
        self.read_bytes += len(data)
        if not data and asked != 0:
            self.at_end = True
        if self.length is not None and self.read_bytes >= self.length:
            self.at_end = True
        return data

    def read(self, size: int | None = -1) -> bytes:
        return self._seen(self._stream.read(size), size)

    def readinto(self, buffer: bytearray | memoryview) -> int:
        readinto = getattr(self._stream, "readinto", None)
        if readinto is None:
            data = self.read(len(buffer))
            memoryview(buffer).cast("B")[: len(data)] = data
            return len(data)
        count = readinto(buffer) or 0
        self.read_bytes += count
        if not count and len(buffer):
            self.at_end = True
        if self.length is not None and self.read_bytes >= self.length:
            self.at_end = True
        return count

    def readline(self, size: int | None = -1) -> bytes:
        return self._seen(self._stream.readline(size), size)

    def readlines(self, hint: int = -1) -> list[bytes]:
        return [self._seen(line, None) for line in self._stream.readlines(hint)]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")

    def settimeout(self, seconds: float) -> None:
        """Bound the wait for the client's next bytes, where the server's input allows it."""
        settimeout = getattr(self._stream, "settimeout", None)
        if callable(settimeout):
            settimeout(seconds)

    @property
    def unread(self) -> bool:
        """Whether the client may still be sending body bytes nobody read."""
        return not self.at_end


class LingeringClose:
    """WSGI middleware: after an answer that left the request body unread, send
    ``Connection: close`` and read and discard the rest of the body (at most
    :data:`LINGER_MAX_BYTES`, :data:`LINGER_MAX_SECONDS`) before the server closes.

    Under gunicorn it closes the connection through gunicorn's response object (gunicorn drops
    hop-by-hop headers an app sets); other servers get a ``Connection: close`` header.
    """

    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        body = _CountingInput(environ["wsgi.input"], _content_length(environ))
        if body.at_end:
            return self.app(environ, start_response)
        environ["wsgi.input"] = body

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if body.unread:
                force_close = getattr(
                    getattr(start_response, "__self__", None), "force_close", None
                )
                if callable(force_close):
                    force_close()
                else:
                    headers = [(k, v) for k, v in headers if k.lower() != "connection"]
                    headers.append(("Connection", "close"))
            return start_response(status, headers, exc_info)

        result = self.app(environ, start)
        if not body.unread:
            return result
        return _DrainAfter(result, body, environ.get("gunicorn.socket"))


def _content_length(environ: dict[str, Any]) -> int | None:
    if environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
        return None
    try:
        return max(0, int(environ.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0


class _DrainAfter:
    """The app's response; closing it (after the answer was sent) drains the unread body."""

    def __init__(self, result: Iterable[bytes], body: _CountingInput, sock: Any) -> None:
        self._result = result
        self._body = body
        self._sock = sock

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._result)

    def close(self) -> None:
        try:
            close = getattr(self._result, "close", None)
            if close is not None:
                close()
        finally:
            self._drain()

    def _drain(self) -> None:
        deadline = time.monotonic() + LINGER_MAX_SECONDS
        drained = 0
        try:
            while self._body.unread and drained < LINGER_MAX_BYTES:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                if isinstance(self._sock, socket.socket):
                    self._sock.settimeout(min(remaining, LINGER_IDLE_SECONDS))
                else:
                    self._body.settimeout(min(remaining, LINGER_IDLE_SECONDS))
                chunk = self._body.read(min(_CHUNK, LINGER_MAX_BYTES - drained))
                if not chunk:
                    break
                drained += len(chunk)
        except Exception as exc:  # noqa: BLE001 - any read error (timeout, reset, bad chunk) ends it
            log.debug("lingering close stopped after %d bytes: %s", drained, exc)
