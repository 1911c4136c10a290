"""The gunicorn worker of ``partsbin serve``: uvicorn (httptools, uvloop) running
:class:`~core.events.asgi.PartsbinAsgi`.

gunicorn still manages the processes (``--workers``, graceful restarts, SIGTERM); each worker
runs one event loop, serves event streams on it and runs every other request in a pool of
``--threads`` threads. On shutdown every open stream is ended first, so the worker stops at once
instead of waiting for clients that would never hang up.

uvicorn's httptools protocol has no limit on the size of a request head (llhttp keeps none, and
httptools gathers a header however long it is), so :class:`LimitedHttpToolsProtocol` adds the
one h11 had: a request line plus headers over :data:`MAX_HEAD_BYTES` is answered 400 and the
connection closed.
"""

from __future__ import annotations

import sys
from typing import Any

import httptools
from gunicorn.arbiter import Arbiter
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

#: Largest request line plus headers accepted (gunicorn's parser limits are not used).
MAX_HEAD_BYTES = 16 * 1024
#: What a header costs besides its name and value (": " and CRLF).
_HEADER_FRAMING = 4


class HeadTooLarge(httptools.HttpParserError):
    """A request head over :data:`MAX_HEAD_BYTES` (uvicorn answers a parser error with 400)."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing request heads over :data:`MAX_HEAD_BYTES`.

    The parser's callbacks count the request line and each complete header exactly; a head
    still incomplete after a read counts every byte read since it began (bounding what
    httptools gathers for one header that never ends). That bound takes a whole read as head
    when the head began inside it, so it can only over-count after a pipelined request.
    """

    _head_bytes: int | None = None  # None: not inside a request head
    _refused = False

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        self._head_read = 0

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + _HEADER_FRAMING)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_bytes = None
        super().on_headers_complete()

    def _count(self, size: int) -> None:
        if self._head_bytes is not None:
            self._head_bytes += size
            if self._head_bytes > MAX_HEAD_BYTES:
                raise HeadTooLarge(f"request head over {MAX_HEAD_BYTES} bytes")

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)
        if self._head_bytes is not None and not self.transport.is_closing():
            self._head_read += len(data)
            if self._head_read > MAX_HEAD_BYTES:
                self._refused = True
                self.logger.warning("Invalid HTTP request received: head too large.")
                self.send_400_response("Invalid HTTP request received.")


class _Server(Server):
    async def shutdown(self, sockets: Any = None) -> None:
        close = getattr(self.config.app, "close_streams", None)
        if close is not None:
            close()
        await super().shutdown(sockets=sockets)


class PartsbinWorker(UvicornWorker):
    """uvicorn with the httptools parser (head limit added) and the uvloop event loop."""

    CONFIG_KWARGS: dict[str, Any] = {
        "loop": "uvloop",
        "http": LimitedHttpToolsProtocol,
        "lifespan": "off",
        "timeout_graceful_shutdown": 5,
        # X-Forwarded-* are judged by the app (PARTSBIN_TRUSTED_PROXIES), never by the server.
        "proxy_headers": False,
    }

    async def _serve(self) -> None:
        self.config.app = self.wsgi
        server = _Server(config=self.config)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
