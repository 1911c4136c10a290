"""JPEG thumbnails of CAS blobs, rendered once and shared by every app instance via the store.

A thumbnail of blob ``<sha256>`` with longest side ``N`` is stored under
``thumbs/<sha256>/<N>.jpg`` (:func:`thumbnail_key`) in the same object store as the blob, so any
instance that finds it there serves it without rendering; nothing is cached on local disk.

Rendering rules (:func:`render_thumbnail`):

* Raster images (JPEG, PNG, GIF, WebP, BMP, TIFF, AVIF when Pillow has it) are opened by Pillow
  restricted to that one format. EXIF orientation is applied, transparency is flattened onto
  white, the result is RGB. The longest side becomes ``N``; images smaller than that are **never
  upscaled** (a 50x30 image gives a 50x30 JPEG), so ``N`` is an upper bound.
* PDFs: page 0 rendered by PDFium at the scale that makes its longest side exactly ``N``, in a
  sandboxed child process (:mod:`core.cas.render_sandbox`: wall-clock deadline, CPU-time and
  memory limits). A PDF that cannot be rendered within those limits (a "PDF bomb") gets the
  generic PDF preview (:func:`generic_pdf_thumbnail`) and is remembered as such: the marker
  ``thumbs/<sha256>/unrenderable`` is stored next to its thumbnails, and every later request,
  for any size, gets the generic preview without rendering again. The marker goes away with the
  blob (garbage collection removes ``thumbs/<sha256>/*``); deleting it by hand allows a retry.
* Anything else, SVG included (rasterizing untrusted SVG needs a full SVG engine), is refused with
  415 ``THUMBNAIL_UNSUPPORTED``.
* Work is bounded: the source is refused above ``max_source_bytes`` (422 ``SOURCE_TOO_LARGE``);
  images above ``max_pixels`` (checked from the header before decoding) and decompression bombs
  are refused with 422 ``IMAGE_TOO_LARGE``; PDF pages larger than 200x200 inches (the PDF limit)
  likewise; truncated or corrupt files give 422 ``IMAGE_UNREADABLE``. Never a 500.

Concurrency: storage puts are atomic and every put of one key writes the same bytes (rendering
is deterministic), so concurrent renders of one thumbnail, in several processes or instances,
can only duplicate work, never corrupt it; an in-process lock per thumbnail key (single flight)
makes threads of one process wait for the first render instead of repeating it. PDFium never
runs in this process (it is not thread-safe, and untrusted); no process-wide lock is held while
a PDF renders.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from PIL import Image, ImageDraw, ImageOps

from core.cas import render_sandbox
from core.cas.ingest import SHA256_HEX, cas_key
from core.cas.render_sandbox import RenderLimitExceeded, RenderLimits, current_limits
from core.cas.serving import sniff_blob
from core.errors import NotFound, UnprocessableContent, UnsupportedMediaType
from storage_drivers.base import BlobStat, StorageDriver

log = logging.getLogger("partsbin.thumbnails")

#: Smallest and largest accepted ``?thumbnail=N``.
MIN_SIZE, MAX_SIZE = 1, 1000
#: Key prefix of every thumbnail.
THUMBS_PREFIX = "thumbs/"
#: The type of every thumbnail.
THUMBNAIL_CONTENT_TYPE = "image/jpeg"
JPEG_QUALITY = 85
#: Largest PDF page side accepted, in points (ISO 32000: 14,400 units = 200 inches).
PDF_MAX_PAGE_POINTS = render_sandbox.PDF_MAX_PAGE_POINTS
#: Name of the marker stored under ``thumbs/<sha256>/`` for a PDF that cannot render in bounds.
UNRENDERABLE_MARKER = "unrenderable"

#: Source bytes kept in memory before the spooled copy moves to a temp file.
SPOOL_MEMORY_BYTES = 1024 * 1024

#: Detected content type -> the only Pillow format tried for it.
PILLOW_FORMATS = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/gif": "GIF",
    "image/webp": "WEBP",
    "image/bmp": "BMP",
    "image/tiff": "TIFF",
    "image/avif": "AVIF",
}


def thumbnail_key(sha256: str, size: int) -> str:
    """``thumbs/<sha256>/<size>.jpg``. Raises ``ValueError`` for a bad hash or size."""
    if SHA256_HEX.fullmatch(sha256) is None:
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"thumbnail size must be {MIN_SIZE}..{MAX_SIZE}, not {size}")
    return f"{THUMBS_PREFIX}{sha256}/{size}.jpg"


def thumbnail_etag(sha256: str, size: int) -> str:
    """The (unquoted) ETag of a thumbnail: ``<sha256>-t<size>``."""
    return f"{sha256}-t{size}"


def can_render(content_type: str) -> bool:
    """Whether :func:`render_thumbnail` handles content sniffed as ``content_type``."""
    if content_type == "application/pdf":
        return True
    fmt = PILLOW_FORMATS.get(content_type)
    if fmt is None:
        return False
    Image.init()
    return fmt in Image.OPEN


# --- errors ---------------------------------------------------------------------------------


def _unsupported(content_type: str) -> UnsupportedMediaType:
    return UnsupportedMediaType(
        f"cannot make a thumbnail of {content_type} content "
        "(only raster images and PDFs have thumbnails)",
        {"content_type": content_type},
        code="THUMBNAIL_UNSUPPORTED",
    )


def _too_large(message: str, **details: object) -> UnprocessableContent:
    return UnprocessableContent(message, dict(details), code="IMAGE_TOO_LARGE")


def _unreadable(content_type: str, exc: BaseException) -> UnprocessableContent:
    log.info("thumbnail: unreadable %s: %s", content_type, exc)
    return UnprocessableContent(
        f"cannot make a thumbnail: the {content_type} file is truncated or corrupt",
        {"content_type": content_type},
        code="IMAGE_UNREADABLE",
    )


# --- rendering ------------------------------------------------------------------------------


def render_thumbnail(
    source: BinaryIO,
    content_type: str,
    size: int,
    *,
    max_pixels: int,
    limits: RenderLimits | None = None,
) -> bytes:
    """Render ``source`` (seekable, content sniffed as ``content_type``) as JPEG bytes.

    The longest side of the result is ``size`` (at most the original's for raster images). Raises
    :class:`~core.errors.UnsupportedMediaType` (415) for content without thumbnails,
    :class:`~core.errors.UnprocessableContent` (422) for oversized, bomb, truncated or corrupt
    input, and for PDFs (rendered within ``limits``, default: the current app's settings)
    :class:`~core.cas.render_sandbox.RenderLimitExceeded` and
    :class:`~core.errors.ServiceUnavailable` ``RENDER_BUSY``. See the module docstring.
    """
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"thumbnail size must be {MIN_SIZE}..{MAX_SIZE}, not {size}")
    if not can_render(content_type):
        raise _unsupported(content_type)
    if content_type == "application/pdf":
        return render_sandbox.render_pdf_thumbnail(source, size, limits or current_limits())
    image = _render_raster(source, PILLOW_FORMATS[content_type], content_type, size, max_pixels)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


@functools.lru_cache(maxsize=64)
def generic_pdf_thumbnail(size: int) -> bytes:
    """The generic PDF preview (a page with a folded corner and a red "PDF" band) as JPEG bytes,
    ``size`` pixels high and shaped like an A4 page. Served for PDFs that cannot be
    rendered within the limits."""
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"thumbnail size must be {MIN_SIZE}..{MAX_SIZE}, not {size}")
    scale = 4  # drawn large, then reduced: smooth edges at every size
    height = size * scale
    width = max(scale, round(height / 1.414))
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    line = max(1, height // 60)
    fold = width // 4
    right, bottom = width - 1, height - 1
    outline = [(0, 0), (width - fold, 0), (right, fold), (right, bottom), (0, bottom)]
    draw.polygon(outline, fill=(245, 245, 245), outline=(120, 120, 120), width=line)
    draw.polygon(
        [(width - fold, 0), (width - fold, fold), (width - 1, fold)],
        fill=(210, 210, 210), outline=(120, 120, 120), width=line,
    )  # fmt: skip
    band_top, band_bottom = height * 45 // 100, height * 62 // 100
    draw.rectangle([0, band_top, width - 1, band_bottom], fill=(200, 30, 30))
    draw.text(
        (width // 2, (band_top + band_bottom) // 2), "PDF", fill=(255, 255, 255), anchor="mm",
        font_size=max(1, (band_bottom - band_top) * 7 // 10),
    )  # fmt: skip
    image = image.resize((max(1, width // scale), size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


def _render_raster(
    source: BinaryIO, fmt: str, content_type: str, size: int, max_pixels: int
) -> Image.Image:
    try:
        with Image.open(source, formats=[fmt]) as opened:
            width, height = opened.size
            if width * height > max_pixels:
                raise _too_large(
                    f"image is {width}x{height} pixels, more than the {max_pixels}-pixel limit "
                    "for thumbnails",
                    width=width, height=height, max_pixels=max_pixels,
                )
            opened.draft("RGB", (size, size))  # JPEG: decode at 1/2, 1/4 or 1/8 scale
            image = ImageOps.exif_transpose(opened)  # loads the pixels
        if image.mode not in ("RGB", "RGBA", "L", "LA"):
            image = image.convert("RGBA" if _has_alpha(image) else "RGB")
        image.thumbnail((size, size), Image.Resampling.LANCZOS)  # never upscales
        return _flatten_on_white(image)
    except Image.DecompressionBombError as exc:
        raise _too_large(f"image refused as a decompression bomb: {exc}") from exc
    except (UnprocessableContent, UnsupportedMediaType):
        raise
    except Exception as exc:
        raise _unreadable(content_type, exc) from exc


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def _flatten_on_white(image: Image.Image) -> Image.Image:
    if _has_alpha(image):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image if image.mode == "RGB" else image.convert("RGB")


# --- storing --------------------------------------------------------------------------------


@dataclass
class _KeyLock:
    lock: threading.Lock = field(default_factory=threading.Lock)
    users: int = 0


_key_locks: dict[str, _KeyLock] = {}
_key_locks_guard = threading.Lock()


@contextlib.contextmanager
def _key_lock(key: str) -> Iterator[None]:
    """Hold a per-key lock shared by every thread of this process (forgotten when unused)."""
    with _key_locks_guard:
        entry = _key_locks.setdefault(key, _KeyLock())
        entry.users += 1
    try:
        with entry.lock:
            yield
    finally:
        with _key_locks_guard:
            entry.users -= 1
            if entry.users == 0:
                del _key_locks[key]


@contextlib.contextmanager
def _spooled_source(storage: StorageDriver, key: str, limit: int) -> Iterator[BinaryIO]:
    """Blob ``key`` as a seekable file; refuse more than ``limit`` bytes.

    A driver that stores blobs as local files (``path_for``, the local driver) gives the file
    itself, opened read-only: no copy. Otherwise the bytes are copied into a spooled temp file
    (memory, then disk).
    """
    local = _open_local(storage, key, limit)
    if local is not None:
        with local:
            yield local
        return
    spooled = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)
    try:
        chunks = storage.open(key)
        try:
            total = 0
            for chunk in chunks:
                total += len(chunk)
                if total > limit:
                    raise _source_too_large(total, limit)
                spooled.write(chunk)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        spooled.seek(0)
        yield spooled  # type: ignore[misc]
    finally:
        spooled.close()


def _open_local(storage: StorageDriver, key: str, limit: int) -> BinaryIO | None:
    path_for = getattr(storage, "path_for", None)
    if path_for is None:
        return None
    try:
        opened: BinaryIO = open(path_for(key), "rb")
    except OSError:
        return None  # let the driver's own read report what is wrong
    size = os.fstat(opened.fileno()).st_size
    if size > limit:
        opened.close()
        raise _source_too_large(size, limit)
    return opened


def _source_too_large(size: int, limit: int) -> UnprocessableContent:
    return UnprocessableContent(
        f"blob is larger than the {limit}-byte limit for making thumbnails",
        {"size": size, "limit_bytes": limit},
        code="SOURCE_TOO_LARGE",
    )


def unrenderable_marker_key(sha256: str) -> str:
    """``thumbs/<sha256>/unrenderable``: present when the PDF cannot render within the limits."""
    if SHA256_HEX.fullmatch(sha256) is None:
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
    return f"{THUMBS_PREFIX}{sha256}/{UNRENDERABLE_MARKER}"


def ensure_thumbnail(
    storage: StorageDriver,
    sha256: str,
    size: int,
    *,
    max_pixels: int,
    max_source_bytes: int,
    limits: RenderLimits | None = None,
) -> BlobStat:
    """Return the stored thumbnail of blob ``sha256``, rendering and storing it if absent.

    An existing ``thumbs/<sha256>/<size>.jpg`` is returned without reading the source. Otherwise
    (under the per-key lock, re-checking) the source type is sniffed with a ranged read, the source
    is copied into a spooled temp file (at most ``max_source_bytes``), rendered with
    :func:`render_thumbnail` (PDFs within ``limits``, default :func:`current_limits`), and put
    atomically. A PDF that exceeds the limits, or is marked as having done so, gets
    :func:`generic_pdf_thumbnail` instead (see the module docstring). Raises
    :class:`~core.errors.NotFound` when the blob does not exist, the 415/422 errors of
    :func:`render_thumbnail`, :class:`~core.errors.ServiceUnavailable` ``RENDER_BUSY`` and
    :class:`~storage_drivers.base.StorageUnavailable`.
    """
    key = thumbnail_key(sha256, size)
    found = storage.stat(key)
    if found is not None:
        return found
    with _key_lock(key):
        found = storage.stat(key)
        if found is not None:
            return found
        source_key = cas_key(sha256)
        source = storage.stat(source_key)
        if source is None:
            raise NotFound(f"no blob with hash {sha256}", {"sha256": sha256})
        content_type = sniff_blob(storage, source_key, source.size)
        if not can_render(content_type):
            raise _unsupported(content_type)
        if source.size > max_source_bytes:
            raise _source_too_large(source.size, max_source_bytes)
        is_pdf = content_type == "application/pdf"
        if is_pdf and storage.stat(unrenderable_marker_key(sha256)) is not None:
            return _put(storage, key, generic_pdf_thumbnail(size))
        with _spooled_source(storage, source_key, max_source_bytes) as spooled:
            try:
                data = render_thumbnail(
                    spooled, content_type, size, max_pixels=max_pixels, limits=limits
                )
            except RenderLimitExceeded as exc:
                log.warning(
                    "PDF %s cannot be rendered within the limits (%s); using the generic preview",
                    sha256, exc.reason,
                )  # fmt: skip
                note = f"PDF rendering exceeded the {exc.reason} limit\n".encode()
                storage.put(unrenderable_marker_key(sha256), io.BytesIO(note), len(note))
                data = generic_pdf_thumbnail(size)
        stat = _put(storage, key, data)
        log.info("thumbnail rendered", extra={"key": key, "bytes": len(data)})
        return stat


def _put(storage: StorageDriver, key: str, data: bytes) -> BlobStat:
    storage.put(key, io.BytesIO(data), len(data))
    return BlobStat(key, len(data))
