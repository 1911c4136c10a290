"""The WSGI bridge of the worker's ASGI front, driven through its ASGI interface."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from core.events.bridge import HIGH_WATER_BYTES, PREFETCH_BYTES, READ_AHEAD_BYTES, WsgiBridge

Message = dict[str, Any]


def _scope(method: str = "GET", path: str = "/x", headers: list[tuple[bytes, bytes]] = ()) -> dict:
    return {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"a=1&b=%C3%A9",
        "root_path": "",
        "headers": list(headers),
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


def _serve(
    app: Callable[..., Any],
    scope: dict,
    body_parts: list[bytes] = (),
    on_send: Callable[[Message], Any] | None = None,
) -> list[Message]:
    """Run one request through a bridge of 2 threads; the messages it sent."""
    parts = list(body_parts)
    sent: list[Message] = []

    async def receive() -> Message:
        if parts:
            return {"type": "http.request", "body": parts.pop(0), "more_body": bool(parts)}
        await asyncio.sleep(3600)  # what a server does until the client disconnects
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)
        if on_send is not None:
            await on_send(message)

    bridge = WsgiBridge(app, threads=2)
    try:
        asyncio.run(asyncio.wait_for(bridge(scope, receive, send), 30))
    finally:
        bridge.executor.shutdown(wait=True)
    return sent


def _body(sent: list[Message]) -> bytes:
    assert sent[0]["type"] == "http.response.start"
    assert all(m["type"] == "http.response.body" for m in sent[1:])
    assert all(m["more_body"] for m in sent[1:-1]) and not sent[-1]["more_body"]
    return b"".join(m["body"] for m in sent[1:])


def test_a_small_answer_comes_back_in_one_piece_with_the_environ_flask_needs() -> None:
    seen: dict[str, Any] = {}

    def app(environ: dict, start_response: Callable) -> list[bytes]:
        seen.update(environ)
        seen["body"] = environ["wsgi.input"].read()
        seen["thread"] = threading.current_thread().name
        start_response("201 Created", [("Content-Type", "text/plain"), ("Content-Length", "5")])
        return [b"he", b"llo"]

    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", b"11"),
        (b"x-forwarded-for", b"10.0.0.1"),
        (b"x_forwarded_for", b"6.6.6.6"),  # dropped: it would pass for X-Forwarded-For
        (b"accept", b"a"),
        (b"accept", b"b"),
    ]
    sent = _serve(app, _scope("POST", "/api/é", headers), [b"hello", b" world"])

    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 201
    assert (b"content-length", b"5") in sent[0]["headers"]
    assert sent[1] == {"type": "http.response.body", "body": b"hello", "more_body": False}
    assert seen["body"] == b"hello world"
    assert seen["PATH_INFO"] == "/api/é".encode().decode("latin1")
    assert seen["QUERY_STRING"] == "a=1&b=%C3%A9"
    assert seen["CONTENT_TYPE"] == "application/json" and seen["CONTENT_LENGTH"] == "11"
    assert seen["HTTP_X_FORWARDED_FOR"] == "10.0.0.1"
    assert seen["HTTP_ACCEPT"] == "a,b"
    assert seen["REMOTE_ADDR"] == "127.0.0.1" and seen["SERVER_PORT"] == "8000"
    assert seen["wsgi.input_terminated"] is True
    assert seen["asgi.scope"]["path"] == "/api/é"
    assert seen["thread"].startswith("request")


def test_a_large_answer_streams_and_waits_for_a_slow_client() -> None:
    chunk = b"x" * 65536
    count = (3 * HIGH_WATER_BYTES) // len(chunk)
    written = [0]
    ahead: list[int] = []

    def app(environ: dict, start_response: Callable) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Length", str(count * len(chunk)))])
        for _ in range(count):
            ahead.append(len(ahead) * len(chunk) - written[0])
            yield chunk

    async def slow(message: Message) -> None:
        written[0] += len(message.get("body", b""))
        await asyncio.sleep(0.002)

    sent = _serve(app, _scope(), on_send=slow)

    assert _body(sent) == chunk * count
    assert len(sent) > 3  # streamed, not gathered
    assert max(ahead) <= HIGH_WATER_BYTES + 2 * len(chunk)  # back-pressure held the thread


def test_an_unsized_answer_streams_chunk_by_chunk() -> None:
    def app(environ: dict, start_response: Callable) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "application/zip")])
        yield b"one"
        yield b""
        yield b"two"

    sent = _serve(app, _scope())

    assert [m.get("body") for m in sent[1:]] == [b"one", b"two", b""]
    assert _body(sent) == b"onetwo"


def test_a_large_request_body_is_read_from_the_loop_as_the_app_reads() -> None:
    size = PREFETCH_BYTES * 3
    lines = [b"line %d\n" % i for i in range(size // 8)]
    data = b"".join(lines)
    pieces = [data[i : i + 10_000] for i in range(0, len(data), 10_000)]
    got: dict[str, Any] = {}

    def app(environ: dict, start_response: Callable) -> list[bytes]:
        stream = environ["wsgi.input"]
        got["first"] = stream.readline()
        got["some"] = stream.read(5)
        got["rest"] = stream.read()
        got["after"] = stream.read()
        start_response("200 OK", [("Content-Length", "0")])
        return []

    headers = [(b"content-length", str(len(data)).encode())]
    sent = _serve(app, _scope("POST", headers=headers), pieces)

    assert sent[0]["status"] == 200
    assert got["first"] == lines[0]
    assert got["first"] + got["some"] + got["rest"] == data
    assert got["after"] == b""


def test_the_loop_reads_ahead_of_the_app_up_to_the_window_once_the_app_reads() -> None:
    piece = 64 * 1024
    count = 3 * READ_AHEAD_BYTES // piece
    data = bytes(range(256)) * (count * piece // 256)
    parts = [data[i : i + piece] for i in range(0, len(data), piece)]
    received: list[int] = []  # pieces the loop had received, as the app saw it
    first_read = threading.Event()
    go_on = threading.Event()
    got: dict[str, Any] = {}

    async def receive() -> Message:
        received.append(1)
        await asyncio.sleep(0)
        index = len(received) - 1
        return {"type": "http.request", "body": parts[index], "more_body": index < count - 1}

    def app(environ: dict, start_response: Callable) -> list[bytes]:
        got["before"] = len(received)
        stream = environ["wsgi.input"]
        got["first"] = stream.read(piece)
        first_read.set()
        go_on.wait(10)
        got["rest"] = stream.read()
        start_response("200 OK", [("Content-Length", "0")])
        return []

    async def main() -> None:
        bridge = WsgiBridge(app, threads=1)
        try:
            serving = asyncio.ensure_future(
                bridge(
                    _scope("POST", headers=[(b"content-length", str(len(data)).encode())]),
                    receive,
                    _ignore,
                )
            )
            while not first_read.is_set():
                await asyncio.sleep(0.01)
            for _ in range(50):  # the loop reads on while the app waits, to the window
                await asyncio.sleep(0.01)
            got["ahead"] = len(received)
            go_on.set()
            await asyncio.wait_for(serving, 30)
        finally:
            bridge.executor.shutdown(wait=True)

    asyncio.run(main())

    assert got["before"] == 0, "nothing is read before the app asks"
    assert got["first"] + got["rest"] == data
    # while the app waits the loop fills the window and stops: what the input took on the first
    # read (the window at most) plus a window, each at most one piece over
    window_pieces = READ_AHEAD_BYTES // piece
    assert window_pieces < got["ahead"] <= 2 * (window_pieces + 1)
    assert got["ahead"] < count
    assert len(received) == count


async def _ignore(message: Message) -> None:
    pass


def test_readinto_and_bounded_readline_cross_the_pieces_the_loop_read() -> None:
    pieces = [b"ab", b"cd\nef", b"g", b"hij\n", b"klmnop"]
    data = b"".join(pieces)
    got: dict[str, Any] = {}

    def app(environ: dict, start_response: Callable) -> list[bytes]:
        stream = environ["wsgi.input"]
        buffer = bytearray(3)
        got["into"] = (stream.readinto(buffer), bytes(buffer))
        got["line"] = stream.readline()  # "d\n", across a piece
        got["bounded"] = stream.readline(3)  # "efg": the limit before the newline
        got["rest_line"] = stream.readline()
        big = bytearray(100)
        count = stream.readinto(big)
        got["tail"] = bytes(big[:count]) + stream.read()
        got["end"] = stream.readinto(bytearray(4))
        start_response("200 OK", [("Content-Length", "0")])
        return []

    headers = [(b"transfer-encoding", b"chunked")]
    _serve(app, _scope("POST", headers=headers), pieces)

    assert got["into"] == (3, b"abc")
    assert got["line"] == b"d\n"
    assert got["bounded"] == b"efg"
    assert got["rest_line"] == b"hij\n"
    assert got["tail"] == b"klmnop"
    assert got["end"] == 0
    assert b"".join([b"abc", b"d\n", b"efg", b"hij\n", b"klmnop"]) == data


def test_a_chunked_request_body_is_read_line_by_line() -> None:
    pieces = [b"a\nb", b"b\n", b"", b"ccc"]
    got: list[bytes] = []

    def app(environ: dict, start_response: Callable) -> list[bytes]:
        got.extend(environ["wsgi.input"])
        start_response("204 No Content", [])
        return []

    sent = _serve(app, _scope("POST", headers=[(b"transfer-encoding", b"chunked")]), pieces)

    assert got == [b"a\n", b"bb\n", b"ccc"]
    assert sent[-1]["more_body"] is False


class _DrainOnClose:
    """A response whose close reads the rest of the request body (like LingeringClose)."""

    def __init__(self, stream: Any, log: list[str]) -> None:
        self.stream = stream
        self.log = log

    def __iter__(self) -> Iterator[bytes]:
        yield b"too large"

    def close(self) -> None:
        while self.stream.read(65536):
            pass
        self.log.append("drained")


def test_the_answer_goes_out_before_the_rest_of_the_body_is_drained_and_ends_after() -> None:
    log: list[str] = []

    def app(environ: dict, start_response: Callable) -> _DrainOnClose:
        start_response("413 Payload Too Large", [("Content-Length", "9")])
        return _DrainOnClose(environ["wsgi.input"], log)

    async def record(message: Message) -> None:
        log.append("end" if not message.get("more_body", True) else message["type"])

    size = PREFETCH_BYTES * 4
    headers = [(b"content-length", str(size).encode())]
    pieces = [b"z" * PREFETCH_BYTES] * 4
    sent = _serve(app, _scope("POST", headers=headers), pieces, on_send=record)

    assert _body(sent) == b"too large"
    assert log == ["http.response.start", "http.response.body", "drained", "end"]


def test_an_exception_before_the_answer_reaches_the_server() -> None:
    def app(environ: dict, start_response: Callable) -> list[bytes]:
        raise ValueError("broken app")

    with pytest.raises(ValueError, match="broken app"):
        _serve(app, _scope())


def test_an_error_page_may_replace_headers_not_yet_sent() -> None:
    def app(environ: dict, start_response: Callable) -> list[bytes]:
        start_response("200 OK", [("Content-Length", "2")])
        try:
            raise RuntimeError("late failure")
        except RuntimeError:
            import sys

            start_response("500 Internal Server Error", [("Content-Length", "4")], sys.exc_info())
        return [b"oops"]

    sent = _serve(app, _scope())

    assert sent[0]["status"] == 500
    assert _body(sent) == b"oops"
