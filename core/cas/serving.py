"""HTTP semantics of serving immutable CAS blobs: conditional requests, ranges, naming and safety.

Everything here is pure (no Flask, no request object) except the two helpers at the end that read
from a :class:`~storage_drivers.base.StorageDriver`. Header parsing uses Werkzeug's parsers
(:func:`werkzeug.http.parse_range_header`, :func:`werkzeug.http.parse_etags`); this module adds the
decisions on top:

* :func:`not_modified` - does ``If-None-Match`` match our strong ETag (weak comparison, ``*``)?
* :func:`select_range` - the single byte range to serve, ``None`` for the whole blob, or
  :class:`UnsatisfiableRange` (416).
* :func:`content_disposition` - an RFC 6266 header that no file name can break or inject into.
* :func:`decide_presentation` - the ``Content-Type``, ``Content-Disposition`` and
  ``Content-Security-Policy`` of a response, so that stored bytes can never become an inline,
  script-running page on our origin.
"""

from __future__ import annotations

import io
import itertools
import os
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal
from urllib.parse import quote

from werkzeug.http import parse_etags, parse_range_header, unquote_etag

from core.cas.sniff import ACTIVE_TYPES, INLINE_SAFE_TYPES, SNIFF_BYTES, detect_content_type
from storage_drivers.base import StorageDriver
from storage_drivers.streams import ClosingIterator

#: ``Cache-Control`` of every blob and thumbnail: the bytes under a hash never change.
IMMUTABLE_CACHE_CONTROL = "public, max-age=31536000, immutable"

#: CSP of every CAS response except inline PDFs: no sub-resources, no script, a unique origin.
SANDBOX_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"

#: Inline PDFs get no CSP: Chrome and Safari refuse to start their PDF viewers in a document with
#: ``sandbox`` or ``object-src 'none'`` (crbug.com/271452, crbug.com/41131921). Only bytes that
#: *are* a PDF (sniffed ``%PDF-``) and are served as ``application/pdf`` with ``nosniff`` get this.
PDF_INLINE_CSP: str | None = None

Disposition = Literal["inline", "attachment"]

_CONTENT_TYPE = re.compile(
    r"^(?P<type>[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126})"
    r"(?:[ \t]*;[ \t]*charset=(?P<charset>[a-z0-9][a-z0-9_.:+-]{0,39}))?$",
    re.IGNORECASE,
)
#: RFC 5987 ``attr-char`` minus ALPHA / DIGIT (which :func:`urllib.parse.quote` never escapes).
_ATTR_CHAR_SAFE = "!#$&+-.^_`|~"
_MAX_FILENAME_CHARS = 255


# --- conditional requests ---------------------------------------------------------------------


def strong_etag(value: str) -> str:
    """Quote ``value`` as a strong ETag header value (``"<value>"``)."""
    return f'"{value}"'


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header matches ``etag`` (unquoted), so the answer is 304.

    Uses the weak comparison RFC 9110 prescribes for ``If-None-Match``: ``W/"x"`` matches ``"x"``;
    ``*`` matches any existing representation (the caller must know the blob exists).
    """
    if not if_none_match:
        return False
    return parse_etags(if_none_match).contains_weak(etag)


def is_star(if_none_match: str | None) -> bool:
    """Whether ``If-None-Match`` is ``*`` (matches only when the blob exists)."""
    return if_none_match is not None and if_none_match.strip() == "*"


# --- ranges -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ByteRange:
    """An inclusive byte range ``start..end`` of a blob of ``size`` bytes."""

    start: int
    end: int
    size: int

    @property
    def length(self) -> int:
        """Number of bytes in the range."""
        return self.end - self.start + 1

    @property
    def content_range(self) -> str:
        """The ``Content-Range`` header of a 206 answer (``bytes a-b/size``)."""
        return f"bytes {self.start}-{self.end}/{self.size}"


class UnsatisfiableRange(ValueError):
    """The single requested range lies outside the blob: answer 416 with :attr:`content_range`."""

    def __init__(self, size: int) -> None:
        super().__init__(f"requested range is outside the {size}-byte blob")
        self.size = size

    @property
    def content_range(self) -> str:
        """The ``Content-Range`` header of the 416 answer (``bytes */size``)."""
        return f"bytes */{self.size}"


def select_range(
    range_header: str | None, size: int, *, etag: str, if_range: str | None = None
) -> ByteRange | None:
    """Return the byte range to serve for a ``Range`` header, or ``None`` for the whole blob.

    Handles one range of the forms ``bytes=a-b``, ``bytes=a-`` and ``bytes=-n`` (a suffix longer
    than the blob means the whole blob, as a 206). ``None`` (serve 200 with everything) when there
    is no header, it is malformed or not in bytes (RFC 9110 says ignore it), it asks for several
    ranges (we do not send multipart), or ``If-Range`` is present and does not strongly match
    ``etag`` (a date never matches: we send no ``Last-Modified``). Raises
    :class:`UnsatisfiableRange` when the single range starts past the end.
    """
    if not range_header:
        return None
    parsed = parse_range_header(range_header)
    if parsed is None or parsed.units != "bytes" or len(parsed.ranges) != 1:
        return None
    if if_range is not None and not _if_range_matches(if_range, etag):
        return None
    first, stop = parsed.ranges[0]
    if first < 0:  # suffix: the last -first bytes
        if size == 0:
            raise UnsatisfiableRange(size)
        return ByteRange(max(0, size + first), size - 1, size)
    if first >= size:
        raise UnsatisfiableRange(size)
    end = size - 1 if stop is None else min(stop - 1, size - 1)
    return ByteRange(first, end, size)


def _if_range_matches(if_range: str, etag: str) -> bool:
    value = if_range.strip()
    if value.startswith(("W/", "w/")) or not value.startswith('"'):
        return False  # weak tags never match If-Range; a date never matches (no Last-Modified)
    tag, _weak = unquote_etag(value)
    return tag == etag


# --- content type and disposition -------------------------------------------------------------


def normalize_content_type(value: str) -> str:
    """Return ``value`` as ``type/subtype`` or ``type/subtype; charset=x``, lower-cased.

    Raises :class:`ValueError` for anything else (parameters other than ``charset``, spaces,
    control characters, missing subtype), so the value can be put into a header verbatim.
    """
    match = _CONTENT_TYPE.fullmatch(value.strip())
    if match is None:
        raise ValueError(
            f"{value!r} is not a media type of the form type/subtype[; charset=name]"
        )
    media_type = match.group("type").lower()
    charset = match.group("charset")
    return f"{media_type}; charset={charset.lower()}" if charset else media_type


def base_type(content_type: str) -> str:
    """``type/subtype`` of a ``Content-Type`` value, lower-cased, without parameters."""
    return content_type.split(";", 1)[0].strip().lower()


def sanitize_filename(name: str) -> str:
    """Return the last path segment of ``name`` without control or format characters.

    Backslashes count as separators; control (Cc), format (Cf, e.g. bidi overrides), surrogate,
    private-use, unassigned and line/paragraph separator characters are dropped; leading dots and
    surrounding spaces are stripped (``..``, ``.bashrc`` and ``../x`` cannot name a hidden or parent
    file); the result is at most 255 characters, keeping a short extension. May return ``""``.
    """
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(
        ch for ch in name if not unicodedata.category(ch).startswith(("C", "Zl", "Zp"))
    )
    name = name.strip().lstrip(".").strip().rstrip(". ")
    if len(name) > _MAX_FILENAME_CHARS:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 16:
            name = stem[: _MAX_FILENAME_CHARS - len(ext) - 1] + "." + ext
        else:
            name = name[:_MAX_FILENAME_CHARS]
    return name


def ascii_filename(name: str) -> str:
    """An ASCII stand-in for ``name`` that is safe inside a quoted-string.

    Accents are folded (NFKD), other non-ASCII characters dropped; ``"``, ``\\`` and ``%`` (some
    browsers percent-decode ``filename``) become ``_``. Falls back to ``download`` (keeping the
    extension) when nothing printable is left.
    """
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    folded = "".join(ch if 0x20 <= ord(ch) < 0x7F else "" for ch in folded)
    folded = re.sub(r'["\\%]', "_", folded).strip()
    stem, dot, ext = folded.rpartition(".")
    if not folded or (dot and not stem.strip(" ._")):
        _, dot, ext = name.rpartition(".")
        ext = ext if dot and ext.isascii() and ext.isalnum() else ""
        return "download" + (f".{ext}" if ext else "")
    return folded


def content_disposition(disposition: Disposition, filename: str | None) -> str:
    """Build an RFC 6266 ``Content-Disposition`` value.

    With a file name: ``<disposition>; filename="<ascii fallback>"; filename*=UTF-8''<pct-encoded>``
    after :func:`sanitize_filename`. Quotes, CR/LF, path parts and non-ASCII characters cannot break
    out of the header: the fallback is ASCII without ``"``/``\\``, and ``filename*`` is
    percent-encoded. Without a usable file name, just the disposition type.
    """
    name = sanitize_filename(filename) if filename else ""
    if not name:
        return disposition
    encoded = quote(name, safe=_ATTR_CHAR_SAFE, encoding="utf-8")
    return f"{disposition}; filename=\"{ascii_filename(name)}\"; filename*=UTF-8''{encoded}"


@dataclass(frozen=True)
class Presentation:
    """How a response presents the bytes: its type, disposition and CSP (``None``: no CSP)."""

    content_type: str
    content_disposition: str
    content_security_policy: str | None

    @property
    def inline(self) -> bool:
        """Whether the browser may render the bytes in place."""
        return self.content_disposition.split(";", 1)[0] == "inline"


def served_type(detected_type: str, requested_type: str | None) -> str:
    """The ``Content-Type`` to send: the client's (normalized) if given, else the detected one.

    Detected ``text/plain`` gets ``; charset=utf-8`` (the sniffer only calls UTF-8 text plain).
    Raises :class:`ValueError` for a malformed ``requested_type``.
    """
    if requested_type:
        return normalize_content_type(requested_type)
    if detected_type == "text/plain":
        return "text/plain; charset=utf-8"
    return detected_type


def decide_presentation(
    detected_type: str,
    *,
    requested_type: str | None = None,
    disposition: Disposition | None = None,
    filename: str | None = None,
) -> Presentation:
    """Decide the type, disposition and CSP of a response for bytes sniffed as ``detected_type``.

    The served type is :func:`served_type`. Inline rendering (the default disposition) is allowed
    only when the served type is in :data:`~core.cas.sniff.INLINE_SAFE_TYPES` *and* the bytes were
    not sniffed as an active type; otherwise the disposition is forced to ``attachment``, so a
    client's ``content_type=text/html`` can never turn stored bytes into an inline page. Every
    response carries :data:`SANDBOX_CSP`, except an inline PDF whose bytes are a PDF
    (:data:`PDF_INLINE_CSP`, see there). Raises :class:`ValueError` for a bad ``requested_type``.
    """
    content_type = served_type(detected_type, requested_type)
    media_type = base_type(content_type)
    inline_ok = media_type in INLINE_SAFE_TYPES and detected_type not in ACTIVE_TYPES
    chosen: Disposition = disposition or "inline"
    if not inline_ok:
        chosen = "attachment"
    csp: str | None = SANDBOX_CSP
    if chosen == "inline" and media_type == "application/pdf" == detected_type:
        csp = PDF_INLINE_CSP
    return Presentation(content_type, content_disposition(chosen, filename), csp)


# --- reading from storage ---------------------------------------------------------------------


def sniff_blob(storage: StorageDriver, key: str, size: int | None = None) -> str:
    """Detect the type of the blob ``key`` from a ranged read of its first bytes.

    ``size`` (when known) avoids asking for bytes past the end. Raises
    :class:`~storage_drivers.base.BlobNotFound` / ``StorageUnavailable`` from the driver.
    """
    if size == 0:
        return detect_content_type(b"")
    last = SNIFF_BYTES - 1 if size is None else min(SNIFF_BYTES, size) - 1
    chunks = storage.open(key, 0, last)
    try:
        head = b"".join(chunks)
    finally:
        _close(chunks)
    return detect_content_type(head[:SNIFF_BYTES])


def open_body(
    storage: StorageDriver, key: str, start: int, end: int, *, size: int, sniff: bool
) -> tuple[Iterator[bytes], str | None]:
    """Open bytes ``start..end`` (inclusive) of ``key`` for streaming; optionally sniff its type.

    The driver is called before this returns, so a missing blob or a storage outage raises here
    (before any response header is sent). With ``sniff``, the detected type is returned too: when
    the body itself starts with the sniffed head, the head is taken from the stream (one storage
    request); otherwise a separate ranged read fetches it. The returned iterator closes the
    driver's stream when exhausted or closed (WSGI servers call ``close()``).
    """
    want = min(SNIFF_BYTES, size)
    detected: str | None = None
    if sniff and not (start == 0 and end + 1 >= want):
        detected = sniff_blob(storage, key, size)
    if end < start:  # empty blob
        return ClosingIterator(iter(()), lambda: None), detected or detect_content_type(b"")
    # A read to the end is asked as such, so a caching driver can keep the whole object.
    chunks = storage.open(key, start, None if end + 1 >= size else end)
    if not sniff or detected is not None:
        return _closing(chunks, iter(())), detected
    peeked: list[bytes] = []
    have = 0
    try:
        while have < want:
            chunk = next(chunks, None)
            if chunk is None:
                break
            peeked.append(chunk)
            have += len(chunk)
    except BaseException:
        _close(chunks)
        raise
    head = b"".join(peeked)[:want]
    return _closing(chunks, iter(peeked)), detect_content_type(head)


class RangeFile(io.RawIOBase):
    """A read-only view of ``length`` bytes of an open file from its current position.

    Has the file's ``fileno()``, so a WSGI server's ``sendfile`` (gunicorn sends
    ``Content-Length`` bytes from the current offset) and plain ``read`` loops (every other
    server) send the same bytes. Closing it closes the file.
    """

    def __init__(self, file: BinaryIO, length: int) -> None:
        super().__init__()
        self._file = file
        self._remaining = length

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._file.fileno()

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        """Move the underlying file (``socket.sendfile`` seeks to where it sent up to)."""
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def read(self, size: int = -1) -> bytes:
        want = self._remaining if size is None or size < 0 else min(size, self._remaining)
        data = self._file.read(want) if want > 0 else b""
        self._remaining -= len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._file.close()
        super().close()


def open_local_file(
    storage: StorageDriver, key: str, start: int, end: int, *, size: int, sniff: bool
) -> tuple[RangeFile, str | None] | None:
    """Open bytes ``start..end`` of ``key`` as a local file, when the driver has one.

    Returns the :class:`RangeFile` (positioned at ``start``) and, with ``sniff``, the type
    detected from the file's head; ``None`` when the driver keeps no local file or the file
    changed (vanished, or no longer ``size`` bytes), so the caller streams from the driver.
    """
    path = storage.local_path(key)
    if path is None or end < start:
        return None
    try:
        file = open(path, "rb", buffering=0)  # closed with the RangeFile
    except OSError:
        return None
    try:
        if os.fstat(file.fileno()).st_size != size:
            file.close()
            return None
        detected = None
        if sniff:
            detected = detect_content_type(os.pread(file.fileno(), min(SNIFF_BYTES, size), 0))
        file.seek(start)
    except BaseException:
        file.close()
        raise
    return RangeFile(file, end - start + 1), detected


def _closing(chunks: Iterator[bytes], prefix: Iterator[bytes]) -> Iterator[bytes]:
    return ClosingIterator(itertools.chain(prefix, chunks), lambda: _close(chunks))


def _close(chunks: object) -> None:
    close = getattr(chunks, "close", None)
    if close is not None:
        close()
