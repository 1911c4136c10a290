"""Turn a URL into an attachment: a web page with a preview image, an image, or a PDF.

What a URL *is* is decided from the bytes it serves (:func:`core.cas.sniff.detect_content_type`),
never from its ``Content-Type`` header or its file name; the header only helps recognise HTML
that does not start with markup the sniffer knows. Every fetch, preview candidates included, goes
through :func:`core.urlfetch.client.fetch` with its address checks, redirect limit, timeouts and
size limits. One :class:`~core.urlfetch.client.Deadline` (3 x ``url_fetch_timeout``) bounds a
whole analysis; preview candidates are tried only while it lasts.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import IO, Literal, cast
from urllib.parse import unquote, urlsplit

from PIL import Image

from core.api.schemas import strip_control_characters
from core.cas.ingest import StoredBlob, ingest, store_spool
from core.cas.sniff import SNIFF_BYTES, detect_content_type, find_markup, is_image
from core.cas.spool import IngestSpool
from core.config import Settings
from core.errors import ApiError
from core.urlfetch.client import (
    READ_CHUNK_BYTES,
    Deadline,
    FetchedResponse,
    UrlUnsupportedType,
    default_deadline,
    fetch,
)
from core.urlfetch.page import PageMetadata, PageParser, collapse_whitespace
from storage_drivers.base import StorageDriver

log = logging.getLogger("partsbin.urlfetch")

#: Longest title an attachment holds (the column is 255 characters).
TITLE_MAX_CHARS = 255
#: At most this much of an HTML page is read; metadata past it is ignored (not an error).
PAGE_MAX_BYTES = 2 * 1024 * 1024
#: At most this many preview candidates are tried.
MAX_PREVIEW_CANDIDATES = 8
#: :func:`preview_url` reads at most this much of a candidate image to check it.
PREVIEW_PROBE_BYTES = 256 * 1024

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
#: Sniffed types that may still be HTML when the server says so (markup the sniffer missed).
_TEXTUAL_TYPES = frozenset({"text/html", "text/plain", "application/xml"})
#: Image types Pillow cannot measure; never used as preview images.
_NOT_PREVIEWABLE = frozenset({"image/svg+xml"})
_ACCEPT_ANY = "text/html,application/xhtml+xml,image/*,application/pdf;q=0.9,*/*;q=0.8"
_ACCEPT_IMAGE = "image/avif,image/webp,image/png,image/jpeg,image/gif,image/*;q=0.8"

Kind = Literal["page", "image", "pdf"]


@dataclass(frozen=True)
class UrlAnalysis:
    """The outcome of :func:`analyze_url`.

    ``kind`` is the attachment type: ``"url"`` (a web page; ``blob`` is ``None`` and
    ``preview_blob`` the stored preview image, or ``None`` if no candidate worked), ``"image"`` or
    ``"pdf"`` (``blob`` holds the stored bytes, ``preview_blob`` is ``None``). ``title`` is never
    empty and at most :data:`TITLE_MAX_CHARS` long. ``final_url`` is the URL after redirects.
    ``content_type`` is the detected type of ``blob`` (``"text/html"`` for a page).
    """

    kind: Literal["url", "image", "pdf"]
    title: str
    final_url: str
    blob: StoredBlob | None
    preview_blob: StoredBlob | None
    content_type: str | None


@dataclass(frozen=True)
class UrlPreview:
    """What ``POST /api/attachment-preview`` shows before anything is stored.

    ``image_url``: for a ``"webpage"``, the absolute URL of the first preview candidate that
    answered with an allowed raster image larger than 1x1 pixels (checked on at most
    :data:`PREVIEW_PROBE_BYTES` of it), or ``None``; for an ``"image"``, ``original_url``; for a
    ``"pdf"``, ``None``.
    """

    title: str
    image_url: str | None
    original_url: str
    content_type: Literal["webpage", "image", "pdf"]


class _CandidateRejected(Exception):
    """A preview candidate is not a usable image (the next one is tried)."""


# --- titles -------------------------------------------------------------------------------------


def fit_title(text: str, limit: int = TITLE_MAX_CHARS) -> str:
    """Collapse whitespace (newlines included) and cut ``text`` to at most ``limit`` characters.

    A cut title ends with ``…``. The result may be empty if ``text`` is only whitespace.
    """
    text = collapse_whitespace(strip_control_characters(text))  # a page's text, not the client's
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


def title_from_url(url: str) -> str:
    """A title for a file at ``url``: its last path segment (unquoted), else its host, else the
    URL itself; fitted with :func:`fit_title`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return fit_title(url)
    segment = unquote(parts.path.rstrip("/").rsplit("/", 1)[-1])
    return fit_title(segment) or fit_title(parts.hostname or "") or fit_title(url)


# --- analysis -----------------------------------------------------------------------------------


def analyze_url(url: str, settings: Settings, storage: StorageDriver) -> UrlAnalysis:
    """Fetch ``url``, decide what it is and store its bytes (or its preview image) in the CAS.

    * HTML page -> ``kind="url"``, title from ``<title>`` / ``og:title`` / the URL, and the first
      working preview candidate (see :mod:`core.urlfetch.page`) stored as ``preview_blob``:
      fetched under the same rules, limited to ``max_image_bytes``, an allowed raster image type
      (detected from its bytes; SVG is skipped), larger than 1x1 pixels and at most
      ``thumbnail_max_pixels``; a failing candidate is skipped silently.
    * An allowed image type -> ``kind="image"``, stored (limit ``max_image_bytes``).
    * PDF (if allowed) -> ``kind="pdf"``, stored (limit ``max_file_bytes``).

    Fetched bytes go through exactly the upload pipeline (:func:`core.cas.ingest.ingest` with
    content validation, :mod:`core.cas.validate`): an image or PDF that an upload would refuse
    (pixel bomb, truncated image, fake PDF, polyglot) raises the same 422 and nothing is stored;
    a preview candidate that fails it is skipped (the page is attached without that preview).

    A page without a title is titled with the requested URL; a file with the URL's last path
    segment (see :func:`title_from_url`). ``final_url`` is the URL after redirects. Raises the
    :mod:`core.urlfetch` errors (400/413/422), :class:`~core.urlfetch.client.UrlUnsupportedType`
    (415) naming the detected type for anything else, and
    :class:`storage_drivers.base.StorageUnavailable` if storing fails.
    """
    deadline = default_deadline(settings)
    with _open(url, settings, deadline) as response:
        head = response.read_up_to(SNIFF_BYTES)
        detected = detect_content_type(head)
        kind = _classify(url, detected, response.declared_type, settings)
        final_url = response.url
        if kind == "page":
            metadata = _read_page(response, head)
        else:
            limit = settings.max_image_bytes if kind == "image" else settings.max_file_bytes
            response.set_limit(limit)
            # Exactly the upload pipeline: sniff, allow-list, size limit and content validation
            # (pixel bombs, truncated images, fake PDFs, polyglots, PDFs over the render limits).
            blob = ingest(
                storage,
                _Replay(head, response),
                lambda _type: limit,
                (detected,),
                settings.thumbnail_max_pixels,
            )
            return UrlAnalysis(
                kind="image" if kind == "image" else "pdf",
                title=title_from_url(url),
                final_url=final_url,
                blob=blob,
                preview_blob=None,
                content_type=blob.content_type,
            )
    preview_blob = _store_first_preview(metadata.image_candidates, settings, storage, deadline)
    return UrlAnalysis(
        kind="url",
        title=fit_title(metadata.title or "") or fit_title(url),
        final_url=final_url,
        blob=None,
        preview_blob=preview_blob,
        content_type="text/html",
    )


def preview_url(url: str, settings: Settings) -> UrlPreview:
    """Describe ``url`` without storing anything (see :class:`UrlPreview`).

    Reads only what it needs: the first bytes of a file, the ``<head>`` of a page, and at most
    :data:`PREVIEW_PROBE_BYTES` of each preview candidate. Raises like :func:`analyze_url`.
    """
    deadline = default_deadline(settings)
    with _open(url, settings, deadline) as response:
        head = response.read_up_to(SNIFF_BYTES)
        detected = detect_content_type(head)
        kind = _classify(url, detected, response.declared_type, settings)
        if kind == "image":
            return UrlPreview(title_from_url(url), url, url, "image")
        if kind == "pdf":
            return UrlPreview(title_from_url(url), None, url, "pdf")
        metadata = _read_page(response, head)
    image_url = _first_previewable(metadata.image_candidates, settings, deadline)
    title = fit_title(metadata.title or "") or fit_title(url)
    return UrlPreview(title, image_url, url, "webpage")


def _open(url: str, settings: Settings, deadline: Deadline) -> FetchedResponse:
    # The type is not known yet: allow the largest limit, and check the declared length only
    # once the type is known (an HTML page is truncated, not refused).
    limit = max(settings.max_image_bytes, settings.max_file_bytes, PAGE_MAX_BYTES)
    return fetch(
        url,
        settings,
        max_bytes=limit,
        deadline=deadline,
        accept=_ACCEPT_ANY,
        early_length_check=False,
    )


def _classify(url: str, detected: str, declared: str | None, settings: Settings) -> Kind:
    allowed = settings.allowed_types
    if detected in allowed and is_image(detected):
        return "image"
    if detected == "application/pdf" and detected in allowed:
        return "pdf"
    if detected == "text/html" or (declared in HTML_TYPES and detected in _TEXTUAL_TYPES):
        return "page"
    supported = ", ".join(["web pages (text/html)", *sorted(allowed)])
    raise UrlUnsupportedType(
        f"the content at {url} is {detected}, which cannot be attached (supported: {supported})",
        {"url": url, "detected_type": detected},
    )


def _read_page(response: FetchedResponse, head: bytes) -> PageMetadata:
    """Parse the page's head, reading no more than needed and never past PAGE_MAX_BYTES."""
    parser = PageParser(response.url, response.charset)
    parser.feed(head[:PAGE_MAX_BYTES])
    while not parser.done and response.bytes_read < PAGE_MAX_BYTES:
        chunk = response.read(min(READ_CHUNK_BYTES, PAGE_MAX_BYTES - response.bytes_read))
        if not chunk:
            break
        parser.feed(chunk)
    return parser.result()


class _Replay:
    """A readable giving ``head`` first, then the rest of ``response``."""

    def __init__(self, head: bytes, response: FetchedResponse) -> None:
        self._head = head
        self._response = response

    def read(self, size: int = -1, /) -> bytes:
        if self._head:
            if size < 0 or size >= len(self._head):
                data, self._head = self._head, b""
            else:
                data, self._head = self._head[:size], self._head[size:]
            return data
        return self._response.read(size)


# --- preview images -----------------------------------------------------------------------------


def preview_types(settings: Settings) -> frozenset[str]:
    """Image types accepted as preview images: the allowed raster image types."""
    return frozenset(t for t in settings.allowed_types if is_image(t) and t not in _NOT_PREVIEWABLE)


def _check_dimensions(image_file: IngestSpool | io.BytesIO, settings: Settings) -> None:
    """Raise :class:`_CandidateRejected` unless the image is more than 1x1 and not a bomb.

    Only the image header is parsed (``Image.open`` is lazy); pixels are never decoded.
    """
    try:
        with Image.open(cast(IO[bytes], image_file)) as image:
            width, height = image.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise _CandidateRejected(f"not a readable image ({type(exc).__name__})") from exc
    if width <= 1 or height <= 1:
        raise _CandidateRejected(f"image is {width}x{height} pixels (a tracking pixel or spacer)")
    if width * height > settings.thumbnail_max_pixels:
        raise _CandidateRejected(f"image is {width}x{height} pixels, more than allowed")


def _store_first_preview(
    candidates: Sequence[str], settings: Settings, storage: StorageDriver, deadline: Deadline
) -> StoredBlob | None:
    """Store the first candidate that is a usable preview image; ``None`` if none is.

    Storage failures are not swallowed (:class:`storage_drivers.base.StorageUnavailable`).
    """
    allowed = preview_types(settings)
    for candidate in candidates[:MAX_PREVIEW_CANDIDATES]:
        if deadline.expired():
            log.info("no time left for preview candidates of a page; stopped at %s", candidate)
            break
        try:
            return _store_preview(candidate, settings, storage, deadline, allowed)
        except (ApiError, _CandidateRejected) as exc:
            log.info("preview candidate %s skipped: %s", candidate, exc)
    return None


def _store_preview(
    candidate: str,
    settings: Settings,
    storage: StorageDriver,
    deadline: Deadline,
    allowed: Collection[str],
) -> StoredBlob:
    limit = settings.max_image_bytes
    with IngestSpool(lambda _type: limit, {*allowed, *ICON_TYPES}) as spool:
        with fetch(
            candidate, settings, max_bytes=limit, deadline=deadline, accept=_ACCEPT_IMAGE
        ) as response:
            spool.fill_from(response)
        _check_dimensions(spool, settings)
        if spool.content_type in ICON_TYPES:
            with _icon_as_png(spool, limit, allowed) as png:
                return store_spool(storage, png, settings.thumbnail_max_pixels)
        # Validated like an upload; a failing candidate (422) is skipped by the caller.
        return store_spool(storage, spool, settings.thumbnail_max_pixels)


#: Favicon types: not served as-is (browsers disagree on them), but converted to PNG previews.
ICON_TYPES = frozenset({"image/x-icon", "image/vnd.microsoft.icon"})


def _icon_as_png(icon: IngestSpool, limit: int, allowed: Collection[str]) -> IngestSpool:
    """The largest image in an ICO file, as a finished PNG spool (rejected if unreadable)."""
    icon.seek(0)
    try:
        with Image.open(cast(IO[bytes], icon)) as image:
            ico = getattr(image, "ico", None)  # IcoImageFile: every size the file holds
            largest = ico.getimage(max(ico.sizes())) if ico is not None else image
            frame = largest.convert("RGBA")
    except (OSError, ValueError, SyntaxError) as exc:
        raise _CandidateRejected(f"unreadable icon ({type(exc).__name__})") from exc
    png = IngestSpool(lambda _type: limit, allowed)
    buffer = io.BytesIO()
    frame.save(buffer, "PNG")
    png.write(buffer.getvalue())
    png.finish()
    return png


def _first_previewable(
    candidates: Sequence[str], settings: Settings, deadline: Deadline
) -> str | None:
    """The first candidate that looks like a usable preview image, checked cheaply.

    At most :data:`PREVIEW_PROBE_BYTES` of each candidate are read: its type must be an allowed
    raster image type (from its bytes) and, when the header can be parsed from what was read,
    it must be larger than 1x1 pixels. A candidate whose header lies beyond the probe is
    accepted on its type alone.
    """
    allowed = preview_types(settings)
    for candidate in candidates[:MAX_PREVIEW_CANDIDATES]:
        if deadline.expired():
            break
        try:
            with fetch(
                candidate,
                settings,
                max_bytes=settings.max_image_bytes,
                deadline=deadline,
                accept=_ACCEPT_IMAGE,
            ) as response:
                probe = response.read_up_to(PREVIEW_PROBE_BYTES)
                complete = len(probe) < PREVIEW_PROBE_BYTES or not response.read(1)
            detected = detect_content_type(probe[:SNIFF_BYTES])
            if detected not in allowed and detected not in ICON_TYPES:
                raise _CandidateRejected(f"content is {detected}, not a preview image type")
            if find_markup(probe[:SNIFF_BYTES]):
                raise _CandidateRejected(f"{detected} content also holds HTML (a polyglot)")
            try:
                _check_dimensions(io.BytesIO(probe), settings)
            except _CandidateRejected:
                if complete or _measured(probe):
                    raise
            return candidate
        except (ApiError, _CandidateRejected) as exc:
            log.info("preview candidate %s skipped: %s", candidate, exc)
    return None


def _measured(probe: bytes) -> bool:
    """Whether Pillow could read the image's size from ``probe`` (so a rejection is final)."""
    try:
        with Image.open(io.BytesIO(probe)) as image:
            return bool(image.size)
    except Exception:  # noqa: BLE001 - any failure means "could not measure"
        return False
