"""One deadline covers a whole fetch: connect, TLS, headers, body, redirects (issue 16 item 5).

The hostile probe's server sent its response headers one byte every 0.5 s: every read came
before the read timeout, so the fetch was held for 21 s although the deadline was ~9 s. Here a
raw server on 127.0.0.1 does the same (one byte every 0.1 s, with a 0.5 s read timeout and so a
1.5 s deadline) for up to :data:`DRIP_SECONDS`; the fetch must give up with ``URL_TIMEOUT``
well before that.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import pytest

from core.config import Settings
from core.urlfetch import UrlTimeout, fetch, fetch_bytes
from tests.urlfetch.server import LocalHttpServer

#: How long the drip server keeps a connection going (longer than any deadline here).
DRIP_SECONDS = 12.0
#: "Does not hang" bound for a fetch whose deadline is 1.5 s.
GENEROUS_SECONDS = 6.0


class DripServer:
    """Accepts connections on 127.0.0.1 and answers each with ``prefix`` then ``drip`` bytes,
    one every ``interval`` seconds, for at most :data:`DRIP_SECONDS` (then closes).

    """

    def __init__(self, prefix: bytes, drip: bytes = b"a", interval: float = 0.1) -> None:
        self.prefix, self.drip, self.interval = prefix, drip, interval
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}/slow"

    def __enter__(self) -> DripServer:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._listener.close()
        for thread in self._threads:
            thread.join(5)

    def _accept(self) -> None:
        self._listener.settimeout(0.05)
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            thread = threading.Thread(target=self._answer, args=(connection,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _answer(self, connection: socket.socket) -> None:
        ends = time.monotonic() + DRIP_SECONDS
        with connection:
            try:
                connection.recv(65536)  # the request
                connection.sendall(self.prefix)
                while time.monotonic() < ends and not self._stop.wait(self.interval):
                    connection.sendall(self.drip)
            except OSError:
                return  # the client gave up: what the tests want


def _timed_fetch(url: str, settings: Settings) -> float:
    started = time.monotonic()
    with pytest.raises(UrlTimeout) as raised:
        fetch_bytes(url, settings, max_bytes=10**6)
    elapsed = time.monotonic() - started
    assert raised.value.status == 422 and raised.value.code == "URL_TIMEOUT"
    return elapsed


def test_headers_sent_one_byte_at_a_time_end_at_the_deadline(settings: Settings) -> None:
    with DripServer(b"HTTP/1.1 200 OK\r\nX-Slow: ") as server:
        assert _timed_fetch(server.url, settings) < GENEROUS_SECONDS


def test_a_status_line_sent_one_byte_at_a_time_ends_at_the_deadline(settings: Settings) -> None:
    with DripServer(b"", drip=b"H") as server:
        assert _timed_fetch(server.url, settings) < GENEROUS_SECONDS


def test_a_body_sent_one_byte_at_a_time_ends_at_the_deadline(settings: Settings) -> None:
    with DripServer(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n") as server:
        assert _timed_fetch(server.url, settings) < GENEROUS_SECONDS


def test_a_slow_tls_handshake_ends_at_the_deadline(
    settings: Settings, tls_files: tuple[str, str]
) -> None:
    # The server accepts TCP, then drips bytes that never finish a TLS ServerHello.
    with DripServer(b"\x16\x03\x03\x00\x40", drip=b"\x00") as server:
        started = time.monotonic()
        with pytest.raises(UrlTimeout):
            fetch(
                server.url.replace("http://", "https://"),
                settings,
                max_bytes=1000,
                tls_ca_file=tls_files[0],
            )
        assert time.monotonic() - started < GENEROUS_SECONDS


def test_the_deadline_spans_redirects(settings: Settings, server: LocalHttpServer) -> None:
    # Each hop answers within the read timeout (0.4 s < 0.5 s); together they pass 1.5 s.
    for hop in range(5):
        server.route(f"/hop{hop}", b"", status=302, headers={"Location": f"/hop{hop + 1}"},
                     delay=0.4)  # fmt: skip
    server.route("/hop5", b"done", delay=0.4)
    started = time.monotonic()
    with pytest.raises(UrlTimeout):
        fetch_bytes(server.url("/hop0"), settings, max_bytes=1000)
    assert time.monotonic() - started < GENEROUS_SECONDS


def test_a_fast_answer_is_not_cut(settings: Settings, server: LocalHttpServer) -> None:
    url = server.route("/fast", b"x" * 100_000, content_type="application/octet-stream")
    final_url, body = fetch_bytes(url, settings, max_bytes=10**6)
    assert final_url == url and body == b"x" * 100_000


def test_a_resolver_that_does_not_answer_ends_at_the_deadline(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    released = threading.Event()

    def hung_resolver(*args: object, **kwargs: object) -> list[object]:
        released.wait(DRIP_SECONDS)  # a resolver that never answers (until the test ends)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", hung_resolver)
    started = time.monotonic()
    try:
        with pytest.raises(UrlTimeout):
            fetch_bytes("http://slow-dns.example.test/", settings, max_bytes=1000)
        assert time.monotonic() - started < GENEROUS_SECONDS
    finally:
        released.set()
