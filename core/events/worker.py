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

It also offers the ASGI zero-copy extension (``http.response.zerocopy``), which uvicorn lacks:
:class:`_CycleSend` writes a file's bytes with ``os.sendfile`` on the loop (the GIL released
meanwhile, no copy through Python), after the headers uvicorn wrote, and lets uvicorn account
for them and finish the response as for any body. It also writes a response's headers and its
first body message together.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import httptools
from gunicorn.arbiter import Arbiter
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

from core.events.bridge import ZEROCOPY

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

    #: Whether request cycles get :class:`_CycleSend` (zero-copy files, headers written with the
    #: first body); only ever on plain-text connections.
    cycle_send = True
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
        cycle = self.cycle
        if (
            self.cycle_send
            and cycle is not None
            and cycle.scope is self.scope
            and self.scheme == "http"
        ):
            self.scope.setdefault("extensions", {})[ZEROCOPY] = {}
            cycle.send = _CycleSend(cycle)  # type: ignore[method-assign]

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


#: Largest read of the copy that finishes a ``sendfile`` the socket would not take whole.
_COPY_BYTES = 256 * 1024


class _Gathering:
    """A transport stand-in gathering writes, to pass on as one (``close`` passes them first)."""

    def __init__(self, transport: Any) -> None:
        self._transport = transport
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> None:
        self._parts.append(data)

    def flush(self) -> None:
        if self._parts:
            self._transport.write(b"".join(self._parts))
            self._parts = []

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _CycleSend:
    """The ``send`` of one uvicorn request cycle, with two additions.

    * The response start is held until the first body message (which ASGI allows), so the
      headers and a body go out in one write, one packet, instead of two.
    * ``http.response.zerocopy`` messages (``file``, ``offset``, ``count``, ``more_body``) for
      a response with a ``Content-Length``.
    """

    def __init__(self, cycle: RequestResponseCycle) -> None:
        self._cycle = cycle
        self._send = RequestResponseCycle.send.__get__(cycle)
        self._held: Any = None

    async def __call__(self, message: Any) -> None:
        kind = message["type"]
        if kind == "http.response.start" and not self._cycle.response_started:
            self._held = message  # a later start (uvicorn's 500 after an error) replaces it
            return
        held, self._held = self._held, None
        if kind == ZEROCOPY:
            if held is not None:
                await self._send(held)
            await self._zero_copy(message)
        elif held is None:
            await self._send(message)
        else:
            cycle = self._cycle
            transport = cycle.transport
            gathering = _Gathering(transport)
            cycle.transport = gathering  # type: ignore[assignment]
            try:
                await self._send(held)
                await self._send(message)
            finally:
                cycle.transport = transport
                gathering.flush()

    async def _zero_copy(self, message: Any) -> None:
        cycle = self._cycle
        if not cycle.response_started or cycle.chunked_encoding is not False:
            raise RuntimeError("http.response.zerocopy needs a started response with a length")
        count = int(message["count"])
        if count > cycle.expected_content_length:
            raise RuntimeError("Response content longer than Content-Length")
        if (
            cycle.scope["method"] != "HEAD"
            and not cycle.disconnected
            and not cycle.response_complete
        ):
            sent = await self._write_file(message["file"].fileno(), int(message["offset"]), count)
            cycle.expected_content_length -= sent
        await self._send(
            {
                "type": "http.response.body",
                "body": b"",
                "more_body": message.get("more_body", False),
            }
        )

    async def _write_file(self, fd: int, offset: int, count: int) -> int:
        """Write ``count`` bytes of ``fd`` from ``offset``: ``sendfile`` while the transport has
        nothing buffered and the socket takes them, then copies through the transport."""
        cycle = self._cycle
        if cycle.flow.write_paused:
            await cycle.flow.drain()
        transport = cycle.transport
        sock = transport.get_extra_info("socket")
        sent = 0
        if sock is not None and transport.get_write_buffer_size() == 0:
            try:
                while sent < count:
                    done = os.sendfile(sock.fileno(), fd, offset + sent, count - sent)
                    if done == 0:  # the file is shorter than announced
                        return sent
                    sent += done
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:  # the client is gone; the transport notices on its own
                return sent
        while sent < count and not transport.is_closing():
            data = os.pread(fd, min(count - sent, _COPY_BYTES), offset + sent)
            if not data:
                break
            transport.write(data)
            sent += len(data)
            if cycle.flow.write_paused:
                await cycle.flow.drain()
        return sent


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
