"""The WSGI app behind the worker's event loop: each request runs in a pool thread.

:class:`WsgiBridge` is an ASGI app around a WSGI app, built for few hand-offs between the loop
and the threads, since on a busy 2-core machine each one is a wake-up and a wait for the GIL:

* a request body of at most :data:`PREFETCH_BYTES` (with a ``Content-Length``) is read on the
  loop before the request goes to a thread, which then never waits on the loop to read it;
  larger and chunked bodies are streamed to the thread: from its first read on, the loop reads
  ahead of it, up to :data:`READ_AHEAD_BYTES` not yet taken, so the thread waits on the loop only
  when the client has sent nothing new (not once per piece the server reads);
* a response with a ``Content-Length`` of at most :data:`BUFFER_BYTES` goes back to the loop in
  one piece once the app is done (start, body and end in one hand-off); a larger or unsized
  one streams, each chunk handed over without waiting unless more than
  :data:`HIGH_WATER_BYTES` are handed over and not yet written (back-pressure from a slow
  client).

So an ordinary request costs two hand-offs: to a thread, and back. The end of the response is
handed over only after the app's iterable was closed, so a close that still reads the request
body (:class:`core.lingering.LingeringClose`) runs while the server keeps the connection open.
Each request runs in a fresh :class:`contextvars.Context`, as in a new thread.

Where the server offers the ASGI zero-copy extension (:data:`ZEROCOPY`, added by
:class:`core.events.worker.LimitedHttpToolsProtocol`), ``wsgi.file_wrapper`` is
:class:`FileBody`: a response that is exactly such a wrapper, with a ``Content-Length``, hands
the open file to the loop, which sends it with ``sendfile`` and closes it; the thread reads none
of it (what gunicorn's gthread worker did with ``sendfile`` too).
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import sys
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
#: The ASGI extension (and message type) sending a file's bytes with ``sendfile``.
ZEROCOPY = "http.response.zerocopy"

#: What the thread hands the loop: messages to send, bytes counted against the high water mark,
#: whether they end the response, what to close once they are sent; or the app's exception.
_Item = tuple[list[Message], int, bool, "FileBody | None"] | BaseException

#: A request body up to this size (by its ``Content-Length``) is read before the app runs
#: (what uvicorn buffers anyway before it pauses reading).
PREFETCH_BYTES = 64 * 1024
#: A streamed request body is read this far ahead of the thread that reads it.
READ_AHEAD_BYTES = 1024 * 1024
#: A response of known length up to this size is handed to the loop whole.
BUFFER_BYTES = 256 * 1024
#: A streamed response waits while more than this is handed over and not yet written.
HIGH_WATER_BYTES = 1024 * 1024


class ClientGone(OSError):
    """The request's connection or the server went away while the app was answering."""


class FileBody:
    """``wsgi.file_wrapper``: ``file`` as an iterable of ``block_size`` reads, whose close closes
    it; the bridge sends it with ``sendfile`` instead, from the file's current position."""

    def __init__(self, file: Any, block_size: int = 8192) -> None:
        self.file = file
        self.block_size = block_size

    def __iter__(self) -> Iterator[bytes]:
        return iter(lambda: self.file.read(self.block_size), b"")

    def close(self) -> None:
        self.file.close()


class WsgiBridge:
    """ASGI app running ``app`` (WSGI) in a pool of ``threads`` threads."""

    def __init__(self, app: WsgiApp, threads: int) -> None:
        self.app = app
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="request")
        self.script_name = _to_wsgi(os.environ.get("SCRIPT_NAME", ""))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        loop = asyncio.get_running_loop()
        body = await _prefetch(scope, receive)
        exchange = _Exchange(loop, receive, send, body)
        environ = _environ(scope, exchange.input, self.script_name)
        self.executor.submit(contextvars.Context().run, exchange.run, self.app, environ)
        await exchange.respond()


async def _prefetch(scope: Scope, receive: Receive) -> bytes | None:
    """The whole request body when it is small and sized (``b""`` for none), else ``None``."""
    length: int | None = None
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                return None
        elif name == b"transfer-encoding":
            return None
    if not length:
        return b""
    if length > PREFETCH_BYTES:
        return None
    parts = []
    while True:
        message = await receive()
        if message["type"] != "http.request":  # disconnected: the app sees a short body
            break
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(parts)


class _Exchange:
    """One request between the loop (``respond``, ``_deliver``) and its thread (``run``)."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, receive: Receive, send: Send, body: bytes | None
    ) -> None:
        self.loop = loop
        self._receive = receive
        self._send = send
        self.input = _Input(self, body)
        # loop side
        self._inbox: deque[_Item] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._pump: asyncio.Task[None] | None = None
        self._room: asyncio.Future[None] | None = None  # the pump waits for the thread to read
        # thread side
        self._start: Message | None = None
        self._started = False  # the start message was handed over
        self._buffered = False
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        # shared (under _flow)
        self._flow = threading.Condition()
        self._in_flight = 0
        self._abandoned = False
        self._body: list[bytes] = []  # read ahead, not yet taken by the thread
        self._body_bytes = 0
        self._body_ended = False
        self._pumping = False

    # --- loop side ------------------------------------------------------------------------

    async def respond(self) -> None:
        """Send what the thread hands over until the response is complete."""
        try:
            while True:
                if not self._inbox:
                    self._waiter = self.loop.create_future()
                    await self._waiter
                    self._waiter = None
                item = self._inbox.popleft()
                if isinstance(item, BaseException):
                    raise item
                messages, counted, final, owned = item
                try:
                    for message in messages:
                        await self._send(message)
                finally:
                    if owned is not None:
                        owned.close()
                if counted:
                    with self._flow:
                        self._in_flight -= counted
                        self._flow.notify_all()
                if final:
                    return
        finally:
            self._abandon()

    def _deliver(self, item: _Item) -> None:
        if self._abandoned:  # too late: nobody will send it
            if not isinstance(item, BaseException) and item[3] is not None:
                item[3].close()
            return
        self._inbox.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _abandon(self) -> None:
        with self._flow:
            self._abandoned = True
            self._flow.notify_all()
        if self._pump is not None:
            self._pump.cancel()

    def _start_pump(self) -> None:
        if not self._abandoned:
            self._pump = self.loop.create_task(self._read_ahead())

    async def _read_ahead(self) -> None:
        """Read the request body into ``_body`` while less than :data:`READ_AHEAD_BYTES` wait
        there; a disconnect ends the body (the app sees it short)."""
        try:
            more = True
            while more:
                with self._flow:
                    full = self._body_bytes >= READ_AHEAD_BYTES and not self._abandoned
                    if full:
                        self._room = self.loop.create_future()
                if full:
                    assert self._room is not None
                    await self._room
                    continue
                message = await self._receive()
                more = message["type"] == "http.request" and bool(message.get("more_body"))
                data = message.get("body", b"") if message["type"] == "http.request" else b""
                with self._flow:
                    if data:
                        self._body.append(data)
                        self._body_bytes += len(data)
                    self._body_ended = not more
                    self._flow.notify_all()
        except BaseException:
            with self._flow:
                self._body_ended = True
                self._flow.notify_all()
            raise

    def _make_room(self) -> None:
        room, self._room = self._room, None
        if room is not None and not room.done():
            room.set_result(None)

    # --- thread side ----------------------------------------------------------------------

    def run(self, app: WsgiApp, environ: dict[str, Any]) -> None:
        """Run ``app`` for ``environ`` and hand its answer (or its exception) to the loop."""
        try:
            result = app(environ, self._start_response)
            if type(result) is FileBody and self._send_file(result):
                return
            try:
                for chunk in result:
                    if chunk:
                        self._write(chunk)
                if self.input.unread:  # the close may read on: let the answer out first
                    self._flush(final=False)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            if self._start is None:
                raise RuntimeError("the WSGI app returned without calling start_response")
            self._flush(final=True)
        except BaseException as exc:  # noqa: BLE001 - raised again on the loop (uvicorn logs it)
            self._hand_over(exc)

    def _send_file(self, body: FileBody) -> bool:
        """Hand ``body``'s file to the loop to ``sendfile``; ``False`` when it cannot be."""
        assert self._start is not None, "a file wrapper returned before start_response"
        length = next((v for k, v in self._start["headers"] if k == b"content-length"), b"")
        if self.input.unread or not length.isdigit():
            return False
        try:
            offset = body.file.tell()
            body.file.fileno()
        except (OSError, ValueError):  # no OS-level file (io.UnsupportedOperation is an OSError)
            return False
        message = {
            "type": ZEROCOPY,
            "file": body.file,
            "offset": offset,
            "count": int(length),
            "more_body": False,
        }
        self._started = True
        self._hand_over(([self._start, message], 0, True, body))
        if self._abandoned:
            body.close()
        return True

    def _start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        if exc_info is not None:
            if self._started:
                raise exc_info[1].with_traceback(exc_info[2])
        elif self._start is not None:
            raise RuntimeError("start_response called twice without exc_info")
        encoded = [(k.strip().lower().encode("latin1"), v.encode("latin1")) for k, v in headers]
        length = next((v for k, v in encoded if k == b"content-length"), None)
        self._buffered = length is not None and length.isdigit() and int(length) <= BUFFER_BYTES
        self._start = {
            "type": "http.response.start",
            "status": int(status.split(" ", 1)[0]),
            "headers": encoded,
        }
        return self._write

    def _write(self, chunk: bytes) -> None:
        if self._start is None:
            raise RuntimeError("the WSGI app wrote before calling start_response")
        self._pending.append(chunk)
        self._pending_bytes += len(chunk)
        if not self._buffered or self._pending_bytes >= BUFFER_BYTES:
            self._flush(final=False)

    def _flush(self, final: bool) -> None:
        messages: list[Message] = []
        if not self._started:
            assert self._start is not None
            messages.append(self._start)
            self._started = True
        if self._pending or final:
            body = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
            messages.append({"type": "http.response.body", "body": body, "more_body": not final})
        counted = 0 if final else self._pending_bytes
        self._pending = []
        self._pending_bytes = 0
        if not messages:
            return
        if counted:
            with self._flow:
                self._in_flight += counted
        self._hand_over((messages, counted, final, None))
        if counted:
            with self._flow:
                while self._in_flight > HIGH_WATER_BYTES and not self._abandoned:
                    self._flow.wait()
        if self._abandoned and not final:
            raise ClientGone("the connection closed before the response was sent")

    def _hand_over(self, item: _Item) -> None:
        if self._abandoned:
            return
        try:
            self.loop.call_soon_threadsafe(self._deliver, item)
        except RuntimeError:  # the loop is closed: the worker is gone
            with self._flow:
                self._abandoned = True

    def read_more(self, timeout: float | None) -> tuple[list[bytes], bool]:
        """The pieces of the request body read ahead since the last call (at least one byte
        unless it ended) and whether more may follow (thread side); raises
        :class:`TimeoutError` when none came within ``timeout`` seconds (``None``: no limit),
        :class:`ClientGone` when the response was abandoned."""
        with self._flow:
            if not self._pumping:
                self._pumping = True
                try:
                    self.loop.call_soon_threadsafe(self._start_pump)
                except RuntimeError as exc:  # the loop is closed: the worker is gone
                    raise ClientGone("the server stopped before the request body was read") from exc
            waited = self._flow.wait_for(
                lambda: self._body or self._body_ended or self._abandoned, timeout
            )
            if not waited:
                raise TimeoutError(f"no request body bytes came within {timeout} s")
            if self._abandoned and not self._body:
                raise ClientGone("the connection closed before the request body was read")
            data = self._body
            was_full = self._body_bytes >= READ_AHEAD_BYTES
            self._body = []
            self._body_bytes = 0
            more = not self._body_ended
        if was_full:
            try:
                self.loop.call_soon_threadsafe(self._make_room)
            except RuntimeError:  # the loop is closed; the next read finds the end
                pass
        return data, more


class _Input:
    """``wsgi.input``: the prefetched body, or the body read from the loop as needed.

    The pieces the loop read are kept as they came and copied once, into what a read returns
    (or into the caller's buffer for :meth:`readinto`).
    """

    def __init__(self, exchange: _Exchange, body: bytes | None) -> None:
        self._exchange = exchange
        self._chunks: deque[bytes] = deque([body] if body else [])
        self._offset = 0  # bytes of _chunks[0] already read
        self._buffered = len(body or b"")
        self._more = body is None
        self._timeout: float | None = None

    def settimeout(self, seconds: float | None) -> None:
        """Longest wait for the client's next body bytes from now on, like a socket's; a read
        that waits longer raises :class:`TimeoutError` (:class:`core.lingering.LingeringClose`
        bounds its drain with it)."""
        self._timeout = seconds

    @property
    def unread(self) -> bool:
        """Whether the client may still be sending body bytes nobody read."""
        return self._more

    def _fill(self) -> bool:
        if not self._more:
            return False
        chunks, self._more = self._exchange.read_more(self._timeout)
        for chunk in chunks:
            if chunk:
                self._chunks.append(chunk)
                self._buffered += len(chunk)
        return True

    def _take(self, size: int) -> bytes:
        """The next ``size`` buffered bytes (``size <= self._buffered``)."""
        if not size:
            return b""
        first = self._chunks[0]
        if self._offset == 0 and len(first) == size:
            self._chunks.popleft()
            self._buffered -= size
            return first
        pieces = []
        while size:
            first = self._chunks[0]
            count = min(len(first) - self._offset, size)
            pieces.append(memoryview(first)[self._offset : self._offset + count])
            size -= count
            self._buffered -= count
            self._offset += count
            if self._offset == len(first):
                self._chunks.popleft()
                self._offset = 0
        return pieces[0].tobytes() if len(pieces) == 1 else b"".join(pieces)

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            while self._fill():
                pass
            size = self._buffered
        while self._buffered < size and self._fill():
            pass
        return self._take(min(size, self._buffered))

    def readinto(self, buffer: bytearray | memoryview) -> int:
        """Fill ``buffer`` from what is buffered, waiting for the client only when nothing is;
        0 at the end of the body."""
        view = memoryview(buffer).cast("B")
        while not self._buffered and self._fill():
            pass
        done = 0
        while done < len(view) and self._chunks:
            first = self._chunks[0]
            count = min(len(first) - self._offset, len(view) - done)
            view[done : done + count] = memoryview(first)[self._offset : self._offset + count]
            done += count
            self._offset += count
            if self._offset == len(first):
                self._chunks.popleft()
                self._offset = 0
        self._buffered -= done
        return done

    def _find(self, byte: bytes, start: int) -> int:
        """Position of the first ``byte`` at or after ``start`` in the buffered bytes, or -1."""
        base = 0
        for index, chunk in enumerate(self._chunks):
            begin = self._offset if index == 0 else 0
            length = len(chunk) - begin
            if start < base + length:
                found = chunk.find(byte, begin + max(0, start - base))
                if found >= 0:
                    return base + found - begin
            base += length
        return -1

    def readline(self, size: int | None = -1) -> bytes:
        limit = None if size is None or size < 0 else size
        start = 0
        while True:
            end = self._find(b"\n", start)
            if end >= 0 and (limit is None or end < limit):
                return self.read(end + 1)
            if limit is not None and self._buffered >= limit:
                return self.read(limit)
            start = self._buffered
            if not self._fill():
                return self.read(self._buffered)

    def readlines(self, hint: int = -1) -> list[bytes]:
        lines = []
        total = 0
        for line in self:
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                break
        return lines

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")


def _to_wsgi(text: str) -> str:
    """A str as WSGI wants it: its UTF-8 bytes, each as one latin-1 character."""
    return text.encode("utf-8", "surrogateescape").decode("latin1")


def _environ(scope: Scope, body: _Input, script_name: str) -> dict[str, Any]:
    """The WSGI environ of ``scope``: PEP 3333 with ``asgi.scope``, ``wsgi.input_terminated``
    and, where the server can ``sendfile``, :class:`FileBody` as ``wsgi.file_wrapper``."""
    root = _to_wsgi(scope.get("root_path", ""))
    path = _to_wsgi(scope["path"])
    if root and path.startswith(root):
        path = path[len(root) :]
    server = scope.get("server") or ("localhost", 80)
    environ: dict[str, Any] = {
        "asgi.scope": scope,
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": script_name or root,
        "PATH_INFO": path,
        "QUERY_STRING": scope["query_string"].decode("latin1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1] or 0),
        "SERVER_PROTOCOL": f"HTTP/{scope['http_version']}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body,
        "wsgi.input_terminated": True,  # the server de-chunked the body; its end is the end
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if ZEROCOPY in (scope.get("extensions") or {}):
        environ["wsgi.file_wrapper"] = FileBody
    client = scope.get("client")
    if client:
        environ["REMOTE_ADDR"] = client[0]
        environ["REMOTE_PORT"] = str(client[1])
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin1")
        if "_" in name:  # dropped, as gunicorn does: X_Forwarded_For would pass for X-Forwarded-For
            continue
        if name == "content-length":
            key = "CONTENT_LENGTH"
        elif name == "content-type":
            key = "CONTENT_TYPE"
        else:
            key = "HTTP_" + name.upper().replace("-", "_")
        value = raw_value.decode("latin1")
        if key in environ:
            value = f"{environ[key]},{value}"
        environ[key] = value
    return environ
