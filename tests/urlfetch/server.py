"""A local HTTP(S) test server with configurable routes, for tests that fetch URLs.

Usage (any test module)::

    from tests.urlfetch.server import LocalHttpServer

    with LocalHttpServer() as server:
        url = server.route("/page", b"<html>...", content_type="text/html")
        redirect = server.redirect("/old", "/page")
        ...
        server.requests_for("/page")[0].headers["Host"]

The server binds 127.0.0.1 on a free port and answers each request in its own thread. A route
sets the status, headers and body (bytes, or a callable returning an iterable of chunks, sent
chunked or unframed), an optional delay before the answer and between chunks (slept in the
server thread, bounded, and cut short by :meth:`stop`). Every request is recorded with its
headers and the number of body bytes actually sent, so tests can check that a client stopped
reading early. Unknown paths answer 404.
"""

from __future__ import annotations

import gzip
import io
import socket
import ssl
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from core.testing.servers.process import free_ports

Body = bytes | Callable[[], Iterable[bytes]]

#: Longest delay a route may ask for, so a broken test cannot hang the suite.
MAX_DELAY_SECONDS = 10.0


@dataclass
class Route:
    """How the server answers one path."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Body = b""
    #: Send the body with ``Transfer-Encoding: chunked`` (iterable bodies only are framed by
    #: the connection's end otherwise).
    chunked: bool = False
    #: Seconds to wait before sending the status line.
    delay: float = 0.0
    #: Seconds to wait before each body chunk.
    chunk_delay: float = 0.0


@dataclass
class RequestRecord:
    """One request the server received and what it sent back."""

    path: str
    headers: dict[str, str]
    #: Body bytes written to the socket (as sent, i.e. compressed if the route's body is).
    bytes_sent: int = 0
    #: Why sending stopped early (``"BrokenPipeError"``...), or ``None``.
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)


def pattern_body(size: int, chunk_size: int = 64 * 1024) -> Callable[[], Iterator[bytes]]:
    """A body factory producing ``size`` bytes lazily, ``chunk_size`` at a time."""

    def chunks() -> Iterator[bytes]:
        block = (b"0123456789abcdef" * (chunk_size // 16 + 1))[:chunk_size]
        remaining = size
        while remaining > 0:
            piece = block[: min(chunk_size, remaining)]
            remaining -= len(piece)
            yield piece

    return chunks


def gzip_bytes(data: bytes) -> bytes:
    """``data`` gzip-compressed (for ``Content-Encoding: gzip`` routes)."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as compressed:
        compressed.write(data)
    return buffer.getvalue()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        owner = self.server.owner
        record = RequestRecord(self.path, dict(self.headers.items()))
        owner._record(record)
        try:
            self._answer(owner, owner._route_for(self.path), record)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, ssl.SSLError) as exc:
            record.error = type(exc).__name__
        finally:
            self.close_connection = True
            record.done.set()

    def _answer(self, owner: LocalHttpServer, route: Route | None, record: RequestRecord) -> None:
        if route is None:
            route = Route(status=404, body=b"not found", headers={"Content-Type": "text/plain"})
        if route.delay and owner._stopping.wait(min(route.delay, MAX_DELAY_SECONDS)):
            return
        self.send_response(route.status)
        for name, value in route.headers.items():
            self.send_header(name, value)
        self.send_header("Connection", "close")
        body = route.body
        if isinstance(body, bytes) and not route.chunked:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self._send(owner, route, record, [body])
            return
        if route.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunks: Iterable[bytes] = [body] if isinstance(body, bytes) else body()
        self._send(owner, route, record, chunks)
        if route.chunked:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

    def _send(
        self, owner: LocalHttpServer, route: Route, record: RequestRecord, chunks: Iterable[bytes]
    ) -> None:
        for chunk in chunks:
            if route.chunk_delay and owner._stopping.wait(
                min(route.chunk_delay, MAX_DELAY_SECONDS)
            ):
                return
            if owner._stopping.is_set():
                return
            if not chunk:
                continue
            if route.chunked:
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            else:
                self.wfile.write(chunk)
            self.wfile.flush()
            record.bytes_sent += len(chunk)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: LocalHttpServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hang up on purpose in these tests


class _Server6(_Server):
    address_family = socket.AF_INET6


class LocalHttpServer:
    """A threaded HTTP server on 127.0.0.1 or ``host`` (HTTPS when given a certificate and key).

    Use as a context manager or call :meth:`start` / :meth:`stop`. Routes can be added or
    replaced at any time; :meth:`route` and :meth:`redirect` return the route's absolute URL.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        tls_cert_file: str | None = None,
        tls_key_file: str | None = None,
    ) -> None:
        self.host = host
        self._routes: dict[str, Route] = {}
        self._requests: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._tls: ssl.SSLContext | None = None
        #: TLS server names (SNI) clients sent, in order.
        self.sni_names: list[str | None] = []
        if tls_cert_file:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls_cert_file, tls_key_file)
            context.sni_callback = self._remember_sni
            self._tls = context

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> LocalHttpServer:
        """Bind a free port and start serving in a background thread."""
        server_class = _Server6 if ":" in self.host else _Server
        server = server_class((self.host, 0), _Handler, bind_and_activate=False)
        server.owner = self
        try:
            server.server_bind()
            server.server_activate()
        except BaseException:
            server.server_close()
            raise
        if self._tls is not None:
            server.socket = self._tls.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; pending delays end at once."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> LocalHttpServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses -----------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        scheme = "https" if self._tls else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` on this server."""
        return self.base_url + path

    # -- routes --------------------------------------------------------------------------
    def route(
        self,
        path: str,
        body: Body = b"",
        *,
        status: int = 200,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
        chunked: bool = False,
        delay: float = 0.0,
        chunk_delay: float = 0.0,
    ) -> str:
        """Answer GET ``path`` (with its query, if it has one) as described; return its URL."""
        all_headers = dict(headers or {})
        if content_type is not None:
            all_headers["Content-Type"] = content_type
        with self._lock:
            self._routes[path] = Route(status, all_headers, body, chunked, delay, chunk_delay)
        return self.url(path)

    def redirect(self, path: str, location: str, status: int = 302) -> str:
        """Answer ``path`` with a redirect to ``location`` (sent as given); return its URL."""
        return self.route(path, b"", status=status, headers={"Location": location})

    def _route_for(self, path: str) -> Route | None:
        with self._lock:
            return self._routes.get(path) or self._routes.get(path.split("?", 1)[0])

    # -- what happened -------------------------------------------------------------------
    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self._requests.append(record)

    def _remember_sni(self, sock: Any, name: str | None, context: Any) -> None:
        self.sni_names.append(name)

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def requests_for(self, path: str) -> list[RequestRecord]:
        """The requests for ``path`` (query included in the comparison only if given)."""
        return [r for r in self.requests if r.path == path or r.path.split("?", 1)[0] == path]

    def wait_done(self, path: str, timeout: float = 5.0) -> RequestRecord:
        """Wait until the first request for ``path`` was fully answered (or abandoned)."""
        records = self.requests_for(path)
        assert records, f"no request for {path}"
        assert records[0].done.wait(timeout), f"request for {path} still running"
        return records[0]


def free_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    return free_ports(1)[0]
