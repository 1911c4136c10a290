"""The safe fetch: GET a user-supplied URL without letting it reach anything it must not.

Every hop (the URL and each redirect target) is parsed, resolved and checked by
:mod:`core.urlfetch.policy`, and the request goes to exactly the checked IP address (the pool is
built for the IP; ``Host``, TLS SNI and certificate checks use the host name), so a second DNS
lookup cannot redirect it. Redirects are followed by hand, at most :data:`MAX_REDIRECTS`.
Connect and read timeouts come from ``Settings.url_fetch_timeout``; a :class:`Deadline` bounds
the whole exchange: name resolution, connect, TLS handshake, response headers and body, over
every redirect. Per-
read timeouts alone cannot do that (a server sending one header byte every 0.5 s never trips a
1 s read timeout), so each connection's socket is watched by a :class:`_Watchdog` that shuts it
down when the deadline passes; whatever read was waiting then fails at once, as
:class:`UrlTimeout`. The body is read through :class:`FetchedResponse`, which stops
as soon as its byte limit is passed (decoded size, so a gzip bomb stops early too).

Every failure is an :class:`core.errors.ApiError` with a 4xx status and a stable ``code``; see
the error classes below and those of :mod:`core.urlfetch.policy`.
"""

from __future__ import annotations

import http.client
import logging
import socket
import ssl
import threading
import time
from collections.abc import Mapping, Sequence
from email.message import Message
from types import TracebackType
from typing import Any
from urllib.parse import urljoin

from urllib3 import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import (
    ConnectTimeoutError,
    DecodeError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.response import BaseHTTPResponse
from urllib3.util import Timeout

from core.config import Settings
from core.errors import ApiError, PayloadTooLarge, UnprocessableContent, UnsupportedMediaType
from core.urlfetch.policy import (
    AddressPolicy,
    InvalidUrl,
    IPAddress,
    ResolveTimeout,
    Target,
    UrlBlocked,
    check_url,
)

log = logging.getLogger("partsbin.urlfetch")

#: Redirects followed before :class:`UrlTooManyRedirects`.
MAX_REDIRECTS = 5
#: Statuses whose ``Location`` is followed (always with a GET).
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: The whole exchange (all hops and the body) may take this many times ``url_fetch_timeout``.
DEADLINE_FACTOR = 3.0
#: At most this many of a host's addresses are tried when connections are refused.
MAX_ADDRESSES_TRIED = 3
#: Largest single read from the network.
READ_CHUNK_BYTES = 64 * 1024
USER_AGENT = "Partsbin/0.1 (parts inventory; link preview)"
DEFAULT_ACCEPT = "*/*"


# --- errors -------------------------------------------------------------------------------------


class UrlUnreachable(UnprocessableContent):
    """The server refused or dropped the connection (``details``: ``{"url": ...}``)."""

    status, code = 422, "URL_UNREACHABLE"


class UrlTlsError(UrlUnreachable):
    """The TLS handshake failed (bad certificate, wrong host name, protocol error)."""

    status, code = 422, "URL_TLS_ERROR"


class UrlTimeout(UnprocessableContent):
    """Connecting, waiting for data, or the whole exchange took too long."""

    status, code = 422, "URL_TIMEOUT"


class UrlHttpError(UnprocessableContent):
    """The remote server answered with a status that is not a success or a redirect.

    ``details``: ``{"url": ..., "status": 404}``.
    """

    status, code = 422, "URL_HTTP_ERROR"


class UrlTooManyRedirects(UnprocessableContent):
    """More than :data:`MAX_REDIRECTS` redirects."""

    status, code = 422, "URL_TOO_MANY_REDIRECTS"


class UrlBadResponse(UnprocessableContent):
    """The response is malformed: a redirect without ``Location``, a broken content encoding."""

    status, code = 422, "URL_BAD_RESPONSE"


class UrlTooLarge(PayloadTooLarge):
    """The body is larger than the limit (``details``: ``{"url", "limit_bytes"}``)."""

    status, code = 413, "URL_TOO_LARGE"


class UrlUnsupportedType(UnsupportedMediaType):
    """The content (detected from its bytes) is not something a URL attachment can hold.

    ``details``: ``{"url": ..., "detected_type": ...}``.
    """

    status, code = 415, "URL_UNSUPPORTED_TYPE"


# --- time ---------------------------------------------------------------------------------------


class Deadline:
    """A wall-clock budget shared by every step of a fetch (or of several fetches)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expires = time.monotonic() + seconds

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self.expires - time.monotonic())

    def expired(self) -> bool:
        """Whether the budget is used up."""
        return self.remaining() <= 0.0

    def check(self, url: str) -> None:
        """Raise :class:`UrlTimeout` if the budget is used up."""
        if self.expired():
            raise UrlTimeout(
                f"fetching {url} took longer than {self.seconds:g} s",
                {"url": url, "timeout_seconds": self.seconds},
            )


def default_deadline(settings: Settings) -> Deadline:
    """A fresh deadline of :data:`DEADLINE_FACTOR` x ``url_fetch_timeout``."""
    return Deadline(settings.url_fetch_timeout * DEADLINE_FACTOR)


class _Watchdog:
    """Shuts down the sockets of one connection pool when the deadline passes.

    It holds a duplicate of each socket's file descriptor (``socket.dup``): shutting that down
    ends the connection for whoever reads it, TLS layer included, even in the middle of parsing
    response headers. :meth:`close` cancels the timer and drops the duplicates.
    """

    def __init__(self, deadline: Deadline) -> None:
        self._deadline = deadline
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._timer: threading.Timer | None = None
        self._closed = False

    def watch(self, sock: socket.socket) -> None:
        """Watch ``sock`` (already connected) until :meth:`close`."""
        with self._lock:
            if self._closed:
                return
            self._sockets.append(sock.dup())
            if self._timer is None:
                self._timer = threading.Timer(self._deadline.remaining(), self._fire)
                self._timer.daemon = True
                self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            for watched in self._sockets:
                try:
                    watched.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # already closed by its owner

    def close(self) -> None:
        """Stop watching; close the duplicates (the connections themselves are not touched)."""
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
            for watched in self._sockets:
                watched.close()
            self._sockets.clear()


class _WatchedHTTPConnection(HTTPConnection):
    def __init__(self, *args: Any, watchdog: _Watchdog, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._watchdog = watchdog

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        self._watchdog.watch(sock)  # before the TLS handshake, so it is covered too
        return sock


class _WatchedHTTPSConnection(HTTPSConnection):
    def __init__(self, *args: Any, watchdog: _Watchdog, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._watchdog = watchdog

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        self._watchdog.watch(sock)
        return sock


class _WatchedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection

    def __init__(self, *args: Any, watchdog: _Watchdog, **kwargs: Any) -> None:
        super().__init__(*args, watchdog=watchdog, **kwargs)
        self.watchdog = watchdog

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.watchdog.close()


class _WatchedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection

    def __init__(self, *args: Any, watchdog: _Watchdog, **kwargs: Any) -> None:
        super().__init__(*args, watchdog=watchdog, **kwargs)
        self.watchdog = watchdog

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.watchdog.close()


# --- the response -------------------------------------------------------------------------------


class FetchedResponse:
    """A successful (2xx) response whose body has not been read yet.

    ``read(size)`` returns at most ``size`` decoded bytes and ``b""`` at the end; it raises
    :class:`UrlTooLarge` as soon as more than :attr:`limit` bytes would have been returned
    (nothing past the limit is read from the network beyond one chunk), :class:`UrlTimeout` when
    the deadline passes, and :class:`UrlUnreachable` / :class:`UrlBadResponse` on network or
    encoding failures. Use it as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        url: str,
        response: BaseHTTPResponse,
        pool: HTTPConnectionPool,
        limit: int,
        deadline: Deadline,
        read_timeout: float,
    ) -> None:
        #: The final URL, after redirects.
        self.url = url
        self.status = response.status
        self.headers: Mapping[str, str] = response.headers
        #: Byte limit of the decoded body; may be changed before or while reading.
        self.limit = limit
        #: Decoded bytes returned so far.
        self.bytes_read = 0
        self._response = response
        self._pool = pool
        self._deadline = deadline
        self._read_timeout = read_timeout
        self._eof = False
        message = Message()
        message["content-type"] = response.headers.get("Content-Type", "")
        declared = response.headers.get("Content-Type")
        #: The media type the server declared (lower case, no parameters), or ``None``.
        self.declared_type: str | None = message.get_content_type() if declared else None
        charset = message.get_param("charset") if declared else None
        #: The ``charset`` parameter of ``Content-Type``, or ``None``.
        self.charset: str | None = charset if isinstance(charset, str) and charset else None

    @property
    def content_length(self) -> int | None:
        """The declared length of the (possibly compressed) body, or ``None``."""
        value = self.headers.get("Content-Length")
        if value is None or not value.strip().isdigit():
            return None
        return int(value.strip())

    def set_limit(self, limit: int) -> None:
        """Change the byte limit; raise :class:`UrlTooLarge` at once if it is already exceeded
        by what was read or by the declared (uncompressed) ``Content-Length``."""
        self.limit = limit
        if self.bytes_read > limit:
            raise self._too_large()
        self.check_declared_length()

    def check_declared_length(self) -> None:
        """Raise :class:`UrlTooLarge` now if ``Content-Length`` already exceeds :attr:`limit`.

        Only for uncompressed bodies: a compressed length says nothing sure about the decoded one.
        """
        length = self.content_length
        encoding = self.headers.get("Content-Encoding", "identity").strip().lower()
        if length is not None and encoding in {"", "identity"} and length > self.limit:
            raise self._too_large()

    def read(self, size: int = -1, /) -> bytes:
        """Read up to ``size`` bytes (all remaining when negative). See the class docstring."""
        if size == 0 or self._eof:
            return b""
        if size < 0:
            parts = []
            while chunk := self.read(READ_CHUNK_BYTES):
                parts.append(chunk)
            return b"".join(parts)
        self._deadline.check(self.url)
        self._set_socket_timeout()
        # Ask for one byte more than the limit allows, so a body of exactly ``limit`` bytes
        # reads fine and one byte more is detected.
        want = min(size, READ_CHUNK_BYTES, self.limit - self.bytes_read + 1)
        try:
            chunk = self._response.read1(want)
        except (HTTPError, OSError) as exc:
            if self._deadline.expired():  # the watchdog ended the connection
                raise _deadline_timeout(self.url, self._deadline) from exc
            self._raise_read_error(exc)
        if not chunk and self._deadline.expired():
            raise _deadline_timeout(self.url, self._deadline)
        if not chunk:
            self._eof = True
            return b""
        if self.bytes_read + len(chunk) > self.limit:
            raise self._too_large()
        self.bytes_read += len(chunk)
        self._deadline.check(self.url)
        return chunk

    def _raise_read_error(self, exc: BaseException) -> None:
        try:
            raise exc
        except ReadTimeoutError as exc:
            raise self._timeout() from exc
        except DecodeError as exc:
            raise UrlBadResponse(
                f"the body of {self.url} is not valid for its Content-Encoding",
                {"url": self.url},
            ) from exc
        except SSLError as exc:
            raise UrlTlsError(f"TLS error while reading {self.url}", {"url": self.url}) from exc
        except (ProtocolError, HTTPError, OSError) as exc:
            if isinstance(exc, TimeoutError):
                raise self._timeout() from exc
            raise UrlUnreachable(
                f"the connection to {self.url} broke while reading the body", {"url": self.url}
            ) from exc

    def read_up_to(self, size: int) -> bytes:
        """Read until ``size`` bytes or the end of the body (``read`` may return less)."""
        parts: list[bytes] = []
        got = 0
        while got < size:
            chunk = self.read(size - got)
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
        return b"".join(parts)

    def close(self) -> None:
        """Close the connection without reading the rest of the body."""
        try:
            self._response.close()
        finally:
            self._pool.close()

    def __enter__(self) -> FetchedResponse:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _set_socket_timeout(self) -> None:
        # Each recv may wait ``url_fetch_timeout``, but never past the deadline.
        connection = getattr(self._response, "connection", None)
        sock = getattr(connection, "sock", None)
        if sock is not None:
            sock.settimeout(max(0.01, min(self._read_timeout, self._deadline.remaining())))

    def _timeout(self) -> UrlTimeout:
        return UrlTimeout(
            f"{self.url} stopped sending data (timeout)",
            {"url": self.url, "timeout_seconds": self._read_timeout},
        )

    def _too_large(self) -> UrlTooLarge:
        return UrlTooLarge(
            f"the content at {self.url} is larger than the {self.limit}-byte limit",
            {"url": self.url, "limit_bytes": self.limit},
        )


# --- fetching -----------------------------------------------------------------------------------


def fetch(
    url: str,
    settings: Settings,
    *,
    max_bytes: int,
    deadline: Deadline | None = None,
    accept: str = DEFAULT_ACCEPT,
    policy: AddressPolicy | None = None,
    tls_ca_file: str | None = None,
    early_length_check: bool = True,
) -> FetchedResponse:
    """GET ``url`` safely and return the open 2xx response (the caller closes it).

    ``max_bytes`` limits the decoded body (see :class:`FetchedResponse`); with
    ``early_length_check``, an uncompressed body whose ``Content-Length`` is larger is refused
    before reading (otherwise call :meth:`FetchedResponse.check_declared_length` when ready).
    ``deadline`` defaults to :func:`default_deadline`; ``policy`` to
    :meth:`AddressPolicy.from_settings`; ``tls_ca_file`` replaces the system's trusted CAs
    (tests, private CAs).

    Raises :class:`~core.urlfetch.policy.InvalidUrl`, :class:`~core.urlfetch.policy.UrlBlocked`
    (400), :class:`~core.urlfetch.policy.UrlUnresolvable`, :class:`UrlUnreachable`,
    :class:`UrlTlsError`, :class:`UrlTimeout`, :class:`UrlHttpError`,
    :class:`UrlTooManyRedirects`, :class:`UrlBadResponse` (422) or :class:`UrlTooLarge` (413).
    """
    policy = policy or AddressPolicy.from_settings(settings)
    deadline = deadline or default_deadline(settings)
    current = url
    for hop in range(MAX_REDIRECTS + 1):
        target, addresses = _check_hop(current, url, hop, policy, deadline)
        deadline.check(current)
        response, pool = _request(target, addresses, settings, deadline, accept, tls_ca_file)
        status = response.status
        if status in REDIRECT_STATUSES:
            location = response.headers.get("Location")
            response.close()
            pool.close()
            if not location or not location.strip():
                raise UrlBadResponse(
                    f"{target.url} answered {status} without a Location header",
                    {"url": target.url, "status": status},
                )
            if hop == MAX_REDIRECTS:
                break
            current = urljoin(target.url, location.strip())
            log.debug("redirect %s -> %s", target.url, current)
            continue
        if not 200 <= status < 300:
            response.close()
            pool.close()
            raise UrlHttpError(
                f"{target.url} answered HTTP {status}", {"url": target.url, "status": status}
            )
        fetched = FetchedResponse(
            target.url, response, pool, max_bytes, deadline, settings.url_fetch_timeout
        )
        if early_length_check:
            try:
                fetched.check_declared_length()
            except BaseException:
                fetched.close()
                raise
        return fetched
    raise UrlTooManyRedirects(
        f"{url} redirected more than {MAX_REDIRECTS} times",
        {"url": url, "max_redirects": MAX_REDIRECTS},
    )


def fetch_bytes(
    url: str,
    settings: Settings,
    *,
    max_bytes: int,
    deadline: Deadline | None = None,
    accept: str = DEFAULT_ACCEPT,
) -> tuple[str, bytes]:
    """GET ``url`` and return ``(final_url, body)``; the body is at most ``max_bytes`` long.

    Raises the errors of :func:`fetch` (a longer body is :class:`UrlTooLarge`).
    """
    with fetch(url, settings, max_bytes=max_bytes, deadline=deadline, accept=accept) as response:
        return response.url, response.read()


def _check_hop(
    current: str, original: str, hop: int, policy: AddressPolicy, deadline: Deadline
) -> tuple[Target, Sequence[IPAddress]]:
    try:
        return check_url(current, policy, timeout=deadline.remaining())
    except ResolveTimeout as exc:
        raise _deadline_timeout(current, deadline) from exc
    except (InvalidUrl, UrlBlocked) as exc:
        if hop == 0:
            raise
        # Name the redirect, so the user sees why a harmless-looking URL was refused.
        raise type(exc)(
            f"{original} redirects to a refused URL: {exc.message}",
            {**exc.details, "redirect_to": current},
        ) from exc


def _timeout_for(settings: Settings, deadline: Deadline) -> tuple[Timeout, float]:
    remaining = deadline.remaining()
    seconds = max(0.01, min(settings.url_fetch_timeout, remaining))
    return Timeout(connect=seconds, read=seconds), seconds


def _request(
    target: Target,
    addresses: Sequence[IPAddress],
    settings: Settings,
    deadline: Deadline,
    accept: str,
    tls_ca_file: str | None,
) -> tuple[BaseHTTPResponse, HTTPConnectionPool]:
    """Send the GET to the first of ``addresses`` that accepts the connection."""
    headers = {
        "Host": target.host_header,
        "User-Agent": USER_AGENT,
        "Accept": accept,
        "Accept-Encoding": "gzip, deflate",
        "Connection": "close",
    }
    refused: ApiError | None = None
    for address in addresses[:MAX_ADDRESSES_TRIED]:
        deadline.check(target.url)
        timeout, seconds = _timeout_for(settings, deadline)
        pool = _pool_for(target, address, timeout, tls_ca_file, deadline)
        try:
            response = _urlopen(pool, target, headers, deadline)
        except UrlTimeout:
            pool.close()
            raise
        except NewConnectionError as exc:
            pool.close()
            refused = UrlUnreachable(
                f"could not connect to {_where(target, address)}: {_reason(exc)}",
                {"url": target.url, "address": str(address)},
            )
            refused.__cause__ = exc
            continue
        except ConnectTimeoutError as exc:
            pool.close()
            raise UrlTimeout(
                f"connecting to {_where(target, address)} timed out after {seconds:g} s",
                {"url": target.url, "timeout_seconds": seconds},
            ) from exc
        except ReadTimeoutError as exc:
            pool.close()
            raise UrlTimeout(
                f"{target.url} did not answer within {seconds:g} s",
                {"url": target.url, "timeout_seconds": seconds},
            ) from exc
        except SSLError as exc:
            pool.close()
            raise UrlTlsError(
                f"TLS handshake with {target.host} failed: {_reason(exc)}", {"url": target.url}
            ) from exc
        except (ProtocolError, HTTPError, OSError) as exc:
            pool.close()
            raise UrlUnreachable(
                f"the connection to {_where(target, address)} failed: {_reason(exc)}",
                {"url": target.url, "address": str(address)},
            ) from exc
        return response, pool
    assert refused is not None
    raise refused


def _urlopen(
    pool: HTTPConnectionPool, target: Target, headers: dict[str, str], deadline: Deadline
) -> BaseHTTPResponse:
    """Send the GET; a failure after the deadline passed (the watchdog cut it) is a timeout."""
    try:
        return pool.urlopen(
            "GET",
            target.path,
            headers=headers,
            retries=False,
            redirect=False,
            assert_same_host=False,
            preload_content=False,
            decode_content=True,
            release_conn=False,
        )
    except (HTTPError, OSError) as exc:
        if deadline.expired():
            raise _deadline_timeout(target.url, deadline) from exc
        raise


def _pool_for(
    target: Target,
    address: IPAddress,
    timeout: Timeout,
    tls_ca_file: str | None,
    deadline: Deadline,
) -> HTTPConnectionPool:
    # The pool connects to the checked IP; nothing below resolves the host name again.
    watchdog = _Watchdog(deadline)
    if target.scheme == "https":
        return _WatchedHTTPSConnectionPool(
            str(address),
            target.port,
            timeout=timeout,
            maxsize=1,
            retries=False,
            cert_reqs="CERT_REQUIRED",
            ca_certs=tls_ca_file,
            server_hostname=target.host,
            assert_hostname=target.host,
            watchdog=watchdog,
        )
    return _WatchedHTTPConnectionPool(
        str(address), target.port, timeout=timeout, maxsize=1, retries=False, watchdog=watchdog
    )


def _deadline_timeout(url: str, deadline: Deadline) -> UrlTimeout:
    return UrlTimeout(
        f"fetching {url} took longer than {deadline.seconds:g} s",
        {"url": url, "timeout_seconds": deadline.seconds},
    )


def _where(target: Target, address: IPAddress) -> str:
    """``host`` or ``host (address)`` when the host is a name."""
    return target.host if target.host == str(address) else f"{target.host} ({address})"


def _reason(exc: BaseException) -> str:
    """A short reason for a network error, without library internals."""
    inner: BaseException = exc
    for _ in range(5):
        nested = getattr(inner, "reason", None)
        if not isinstance(nested, BaseException):
            nested = next((a for a in inner.args if isinstance(a, BaseException)), None)
        if nested is None:
            nested = inner.__cause__ or inner.__context__
        if nested is None:
            break
        inner = nested
    if isinstance(inner, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {inner.verify_message}"
    if isinstance(inner, ssl.SSLError):
        return "TLS protocol error"
    if isinstance(inner, http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    if isinstance(inner, ConnectionRefusedError):
        return "connection refused"
    if isinstance(inner, ConnectionResetError):
        return "connection reset"
    if isinstance(inner, ConnectionAbortedError | BrokenPipeError):
        return "connection closed"
    if isinstance(inner, OSError) and inner.strerror:
        return inner.strerror.lower()
    text = str(inner) if isinstance(inner, ValueError) else ""
    return text[:200] or type(inner).__name__
