"""JPEG thumbnails of CAS blobs, rendered once and shared by every app instance via the store.

A thumbnail of blob ``<sha256>`` with longest side ``N`` is stored under
``thumbs/<sha256>-<N>.jpg`` (:func:`thumbnail_key`) in the same object store as the blob, so any
instance that finds it there serves it without rendering; nothing is cached on local disk. The
keys are flat (no folder per blob): S3-compatible stores that keep folders as directories
(SeaweedFS's filer, MinIO on disk) list a flat prefix several times faster, and garbage collection
lists every thumbnail. Keys of the earlier layout, ``thumbs/<sha256>/<N>.jpg``
(:data:`LEGACY_THUMBNAIL_KEY`), are no longer read: garbage collection removes them, and a
thumbnail missing in the flat layout is rendered again on its first request.

Rendering rules (:func:`render_thumbnail`):

* Raster images (JPEG, PNG, GIF, WebP, BMP, TIFF, AVIF when Pillow has it) are opened by Pillow
  restricted to that one format. EXIF orientation is applied, transparency is flattened onto
  white, the result is RGB. The longest side becomes ``N``; images smaller than that are **never
  upscaled** (a 50x30 image gives a 50x30 JPEG), so ``N`` is an upper bound.
* PDFs: page 0 rendered by PDFium at the scale that makes its longest side exactly ``N`` (the
  largest ladder size, see below, and reduced from there for the others), in a
  sandboxed child process (:mod:`core.cas.render_sandbox`: wall-clock deadline, CPU-time and
  memory limits). A PDF that cannot be rendered within those limits (a "PDF bomb") gets the
  generic PDF preview (:func:`generic_pdf_thumbnail`) and is remembered as such: the marker
  ``thumbs/<sha256>-unrenderable`` is stored next to its thumbnails, and every later request,
  for any size, gets the generic preview without rendering again. The marker goes away with the
  blob (garbage collection removes ``thumbs/<sha256>-*``); deleting it by hand allows a retry.
* Anything else, SVG included (rasterizing untrusted SVG needs a full SVG engine), is refused with
  415 ``THUMBNAIL_UNSUPPORTED``.
* Work is bounded: the source is refused above ``max_source_bytes`` (422 ``SOURCE_TOO_LARGE``);
  images above ``max_pixels`` (checked from the header before decoding) and decompression bombs
  are refused with 422 ``IMAGE_TOO_LARGE``; PDF pages larger than 200x200 inches (the PDF limit)
  likewise; truncated or corrupt files give 422 ``IMAGE_UNREADABLE``. Never a 500.

The ladder (``PARTSBIN_THUMBNAIL_PRERENDER``, default ``150,300,500``: the sizes the web UI's
``srcset`` asks for; PDFs add :data:`PDF_PREVIEW_SIZE`, the size of their ``preview_url``):

* **One decode for every size**: the sizes of the ladder are all made from one decode of the
  source at the largest ladder size (JPEG: Pillow's ``draft``, libjpeg's DCT scaling, to the
  smallest scale that still covers that size), each resized from it directly; a PDF page is
  rasterized once, in one sandboxed child, for all of them. A size outside the ladder is
  rendered on its own, decoded for that size only. So a thumbnail's bytes depend only on the
  source, its size and the largest ladder size (:func:`decode_source`): instances sharing a
  store should share the setting, or their renders of one key may differ (both valid).
* **Pre-rendered after an upload** (:func:`schedule_prerender`): once the upload's row is
  committed, the ladder of a new image or PDF is rendered by this process's background runner
  (:mod:`core.cas.background`; bounded, a full queue skips the job), so the first request
  usually finds its thumbnail stored. Sources under :data:`PRERENDER_MIN_BYTES` are left to
  the on-demand path, which renders them in a few milliseconds.
* **On demand**, a cold request for a ladder size renders and stores its own size first, then
  hands the rest of the ladder (from the same decode) to the background runner, so the answer
  does not wait for them.

Concurrency: storage puts are atomic and every put of one key writes the same bytes (rendering
is deterministic for a given ladder), so concurrent renders of one thumbnail, in several
processes or instances, can only duplicate work, never corrupt it; an in-process lock per
thumbnail key (single flight) makes threads of one process wait for the render in progress
instead of repeating it, whether a request or the background runner does it. A thread blocks on
at most one key lock and only while holding none (further keys are taken only if free), so
requests and background jobs cannot deadlock. PDFium never runs in this process (it is not
thread-safe, and untrusted); no process-wide lock is held while a PDF renders.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import math
import os
import re
import tempfile
import threading
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

from PIL import Image, ImageDraw, ImageOps

from core.cas import background, render_sandbox
from core.cas.ingest import SHA256_HEX, StoredBlob, cas_key
from core.cas.render_sandbox import RenderLimitExceeded, RenderLimits, current_limits
from core.cas.serving import sniff_blob
from core.cas.spool import IngestSpool
from core.errors import NotFound, UnprocessableContent, UnsupportedMediaType
from storage_drivers.base import BlobNotFound, BlobStat, StorageDriver

if TYPE_CHECKING:
    from core.config import Settings

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
#: Name of the marker stored as ``thumbs/<sha256>-unrenderable`` for a PDF that cannot render in
#: bounds.
UNRENDERABLE_MARKER = "unrenderable"
#: A thumbnail (or marker) key of blob ``group(1)``, in the layout of :func:`thumbnail_key`.
THUMBNAIL_KEY = re.compile(r"thumbs/([0-9a-f]{64})-[^/]+")
#: A key of the earlier layout, one folder per blob: ``thumbs/<sha256>/<name>``. Never read;
#: garbage collection removes such keys.
LEGACY_THUMBNAIL_KEY = re.compile(r"thumbs/([0-9a-f]{64})/[^/]+")
#: The thumbnail size a PDF attachment's ``preview_url`` asks for (part of a PDF's ladder).
PDF_PREVIEW_SIZE = 400
#: Sources smaller than this are not pre-rendered: decoding them on demand takes a few ms,
#: while pre-rendering would cost a put per ladder size for every small upload.
PRERENDER_MIN_BYTES = 128 * 1024
#: Largest upload whose pre-render reads the upload's own spool (kept open for the queued job:
#: at most this much memory or temp disk per job); larger ones are read back from the store.
PRERENDER_SPOOL_MAX_BYTES = 16 * 1024 * 1024

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
    """``thumbs/<sha256>-<size>.jpg``. Raises ``ValueError`` for a bad hash or size."""
    if SHA256_HEX.fullmatch(sha256) is None:
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"thumbnail size must be {MIN_SIZE}..{MAX_SIZE}, not {size}")
    return f"{THUMBS_PREFIX}{sha256}-{size}.jpg"


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


def ladder_for(content_type: str, ladder: Collection[int]) -> list[int]:
    """The sizes rendered together for content sniffed as ``content_type``: ``ladder``
    (ascending, without repeats), plus :data:`PDF_PREVIEW_SIZE` for PDFs; ``[]`` when
    ``ladder`` is empty (no pre-rendering: every size is rendered on its own)."""
    sizes = set(ladder)
    if sizes and content_type == "application/pdf":
        sizes.add(PDF_PREVIEW_SIZE)
    return sorted(sizes)


class DecodedSource:
    """One decode of a source, from which thumbnails of several sizes are made.

    :meth:`jpeg` gives the JPEG bytes of one size (computed on first use, so what is not asked
    for costs nothing). Made by :func:`decode_source`.
    """

    def __init__(self, jpeg: Callable[[int], bytes], sizes: Collection[int]) -> None:
        self._jpeg = jpeg
        self.sizes = sorted(sizes)

    def jpeg(self, size: int) -> bytes:
        """The thumbnail of longest side ``size`` (one of :attr:`sizes`) as JPEG bytes."""
        if size not in self.sizes:
            raise ValueError(f"size {size} was not decoded for (sizes {self.sizes})")
        return self._jpeg(size)


def decode_source(
    source: BinaryIO,
    content_type: str,
    ladder: Collection[int],
    *,
    make: Collection[int] | None = None,
    max_pixels: int,
    limits: RenderLimits | None = None,
) -> DecodedSource:
    """Decode ``source`` (seekable, sniffed as ``content_type``) once for the sizes ``ladder``.

    A raster image is decoded for the largest size of ``ladder`` (JPEG: DCT scaling, see
    :func:`draft_box`), and each size is downscaled from that decode directly (LANCZOS; not
    from the next larger size, so that a request for a small size does not pay for the large
    ones), so a thumbnail's bytes depend only on the source, its size and the largest ladder
    size; only the sizes asked of :meth:`DecodedSource.jpeg` are resized and encoded. A PDF page
    is rasterized once at the largest size in the sandbox (within ``limits``, default: the
    current app's settings), and each size of ``make`` (default: all of ``ladder``) made there
    from that rasterization; only those can then be asked for. Raises like
    :func:`render_thumbnail` (415, 422, and for PDFs
    :class:`~core.cas.render_sandbox.RenderLimitExceeded` and ``RENDER_BUSY``).
    """
    chain = sorted(set(ladder), reverse=True)
    if not chain:
        raise ValueError("no thumbnail sizes to decode for")
    for size in chain:
        if not MIN_SIZE <= size <= MAX_SIZE:
            raise ValueError(f"thumbnail size must be {MIN_SIZE}..{MAX_SIZE}, not {size}")
    wanted = chain if make is None else sorted(set(make), reverse=True)
    if not set(wanted) <= set(chain):
        raise ValueError(f"sizes {wanted} are not all on the ladder {chain}")
    if not can_render(content_type):
        raise _unsupported(content_type)
    if content_type == "application/pdf":
        rendered = render_sandbox.render_pdf_thumbnails(
            source, wanted, chain[0], limits or current_limits()
        )
        return DecodedSource(rendered.__getitem__, wanted)
    decoded = _decode_raster(source, PILLOW_FORMATS[content_type], content_type, chain[0],
                             max_pixels)  # fmt: skip

    def jpeg(size: int) -> bytes:
        try:
            image = decoded.copy()
            image.thumbnail((size, size), Image.Resampling.LANCZOS)  # never upscales
            return _encode(_flatten_on_white(image))
        except Exception as exc:
            raise _unreadable(content_type, exc) from exc

    return DecodedSource(jpeg, wanted)


def render_thumbnail(
    source: BinaryIO,
    content_type: str,
    size: int,
    *,
    max_pixels: int,
    limits: RenderLimits | None = None,
) -> bytes:
    """Render ``source`` (seekable, content sniffed as ``content_type``) as JPEG bytes.

    The longest side of the result is ``size`` (at most the original's for raster images),
    decoded for that size alone. Raises :class:`~core.errors.UnsupportedMediaType` (415) for
    content without thumbnails, :class:`~core.errors.UnprocessableContent` (422) for oversized,
    bomb, truncated or corrupt input, and for PDFs (rendered within ``limits``, default: the
    current app's settings) :class:`~core.cas.render_sandbox.RenderLimitExceeded` and
    :class:`~core.errors.ServiceUnavailable` ``RENDER_BUSY``. See the module docstring.
    """
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"thumbnail size must be {MIN_SIZE}..{MAX_SIZE}, not {size}")
    decoded = decode_source(source, content_type, [size], max_pixels=max_pixels, limits=limits)
    return decoded.jpeg(size)


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


def draft_box(width: int, height: int, size: int) -> tuple[int, int]:
    """The box a thumbnail of longest side ``size`` of a ``width`` x ``height`` image fills
    (rounded up, never larger than the image): what a JPEG decode must at least cover."""
    scale = min(1.0, size / max(width, height))
    box_width = max(1, min(width, math.ceil(width * scale)))
    return box_width, max(1, min(height, math.ceil(height * scale)))


def _decode_raster(
    source: BinaryIO, fmt: str, content_type: str, decode_for: int, max_pixels: int
) -> Image.Image:
    try:
        with Image.open(source, formats=[fmt]) as opened:
            width, height = opened.size
            if width * height > max_pixels:
                raise _too_large(
                    f"image is {width}x{height} pixels, more than the {max_pixels}-pixel limit "
                    "for thumbnails",
                    width=width,
                    height=height,
                    max_pixels=max_pixels,
                )
            # JPEG: decode at 1/2, 1/4 or 1/8 scale, the smallest that still covers the box
            opened.draft("RGB", draft_box(width, height, decode_for))
            image = ImageOps.exif_transpose(opened)  # loads the pixels
        if image.mode not in ("RGB", "RGBA", "L", "LA"):
            image = image.convert("RGBA" if _has_alpha(image) else "RGB")
        return image
    except Image.DecompressionBombError as exc:
        raise _too_large(f"image refused as a decompression bomb: {exc}") from exc
    except (UnprocessableContent, UnsupportedMediaType):
        raise
    except Exception as exc:
        raise _unreadable(content_type, exc) from exc


def _encode(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


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


def _acquire(key: str, *, blocking: bool = True) -> bool:
    """Take the per-key lock shared by every thread of this process (``False``: it was held and
    ``blocking`` is off). Entries are forgotten when nobody holds or waits for them."""
    with _key_locks_guard:
        entry = _key_locks.get(key)
        if entry is None:
            entry = _key_locks[key] = _KeyLock()
        entry.users += 1
    if entry.lock.acquire(blocking):
        return True
    _forget(key, entry)
    return False


def _release(key: str) -> None:
    """Release a lock taken with :func:`_acquire` (from any thread)."""
    with _key_locks_guard:
        entry = _key_locks[key]
    entry.lock.release()
    _forget(key, entry)


def _forget(key: str, entry: _KeyLock) -> None:
    with _key_locks_guard:
        entry.users -= 1
        if entry.users == 0:
            del _key_locks[key]


@contextlib.contextmanager
def _key_lock(key: str) -> Iterator[None]:
    """Hold a per-key lock shared by every thread of this process (forgotten when unused)."""
    _acquire(key)
    try:
        yield
    finally:
        _release(key)


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
    """``thumbs/<sha256>-unrenderable``: present when the PDF cannot render within the limits."""
    if SHA256_HEX.fullmatch(sha256) is None:
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
    return f"{THUMBS_PREFIX}{sha256}-{UNRENDERABLE_MARKER}"


def ensure_thumbnail(
    storage: StorageDriver,
    sha256: str,
    size: int,
    *,
    max_pixels: int,
    max_source_bytes: int,
    limits: RenderLimits | None = None,
    ladder: Collection[int] = (),
) -> BlobStat:
    """Return the stored thumbnail of blob ``sha256``, rendering and storing it if absent.

    An existing ``thumbs/<sha256>-<size>.jpg`` is returned without reading the source. Otherwise
    (under the per-key lock, re-checking) the source type is sniffed with a ranged read, the source
    is copied into a spooled temp file (at most ``max_source_bytes``), decoded with
    :func:`decode_source` (PDFs within ``limits``, default :func:`current_limits`), and this size
    is put atomically. When ``size`` is on the source's :func:`ladder_for` ``ladder``, the decode
    is made for the largest ladder size and the other ladder sizes are handed, with that decode,
    to the background runner (stored if still missing; skipped if its queue is full). A PDF that
    exceeds the limits, or is marked as having done so, gets :func:`generic_pdf_thumbnail`
    instead (see the module docstring). Raises :class:`~core.errors.NotFound` when the blob does
    not exist, the 415/422 errors of :func:`render_thumbnail`,
    :class:`~core.errors.ServiceUnavailable` ``RENDER_BUSY`` and
    :class:`~storage_drivers.base.StorageUnavailable`.
    """
    key = thumbnail_key(sha256, size)
    found = storage.stat(key)
    if found is not None:
        return found
    others: list[int] = []
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
        sizes = ladder_for(content_type, ladder)
        if size in sizes:
            others = [other for other in sizes if other != size]
        else:
            sizes = [size]
        with _spooled_source(storage, source_key, max_source_bytes) as spooled:
            try:
                decoded = decode_source(
                    spooled, content_type, sizes, max_pixels=max_pixels, limits=limits
                )
                data = decoded.jpeg(size)
            except RenderLimitExceeded as exc:
                _mark_unrenderable(storage, sha256, exc)
                data, others = generic_pdf_thumbnail(size), []
        stat = _put(storage, key, data)
        log.info("thumbnail rendered", extra={"key": key, "bytes": len(data)})
    if others:  # when the request ends, not to slow its answer down
        background.submit_after_response(
            functools.partial(_store_sizes, storage, sha256, decoded, others)
        )
    return stat


def _mark_unrenderable(storage: StorageDriver, sha256: str, exc: RenderLimitExceeded) -> None:
    log.warning(
        "PDF %s cannot be rendered within the limits (%s); using the generic preview",
        sha256, exc.reason,
    )  # fmt: skip
    note = f"PDF rendering exceeded the {exc.reason} limit\n".encode()
    storage.put(unrenderable_marker_key(sha256), io.BytesIO(note), len(note))


def _store_sizes(
    storage: StorageDriver, sha256: str, decoded: DecodedSource, sizes: Collection[int]
) -> list[int]:
    """Store each of ``sizes`` from ``decoded`` that is still missing and whose key lock is free
    (a held lock means another thread is storing it); return the sizes stored."""
    stored = []
    for size in sorted(sizes, reverse=True):  # the largest first, as the pre-render does
        key = thumbnail_key(sha256, size)
        if not _acquire(key, blocking=False):
            continue
        try:
            if storage.stat(key) is None:
                _put(storage, key, decoded.jpeg(size))
                stored.append(size)
        finally:
            _release(key)
    return stored


def _put(storage: StorageDriver, key: str, data: bytes) -> BlobStat:
    storage.put(key, io.BytesIO(data), len(data))
    return BlobStat(key, len(data))


# --- pre-rendering ---------------------------------------------------------------------------


def prerender_thumbnails(
    storage: StorageDriver,
    blob: StoredBlob,
    *,
    ladder: Collection[int],
    max_pixels: int,
    max_source_bytes: int,
    limits: RenderLimits,
    source: BinaryIO | None = None,
) -> list[int]:
    """Render and store the ladder of a blob the caller has just stored, from one decode; return
    the sizes stored, in the order stored (largest first: browsers pick the largest ``srcset``
    candidate for the UI's layouts).

    ``blob`` carries the type sniffed when it was stored. ``source`` (optional, closed here) is
    a private handle on the same bytes (the upload's spool); without it the bytes are read from
    ``storage``. The key locks of the ladder are taken first, only those that are free (a held
    one is being rendered by a request, which stores it); each size is put and its lock released
    at once, so a request waiting for that size goes on while the next one is encoded. The
    thumbnails are not looked for first: the blob is new, so at most leftovers of the same bytes
    can be there, and a put rewrites them with the same bytes. Nothing is done for a source
    over ``max_source_bytes``, a blob already gone, or a PDF marked unrenderable; a PDF over
    the render limits gets the marker (the on-demand path then serves the generic preview).
    Raises the errors of :func:`decode_source` and
    :class:`~storage_drivers.base.StorageUnavailable` (the background runner logs them).
    """
    with source if source is not None else contextlib.nullcontext():
        sizes = ladder_for(blob.content_type, ladder)
        if not sizes or not can_render(blob.content_type) or blob.size > max_source_bytes:
            return []
        held = [
            size for size in sizes if _acquire(thumbnail_key(blob.sha256, size), blocking=False)
        ]
        try:
            if not held:
                return []
            if blob.content_type == "application/pdf" and storage.exists(
                unrenderable_marker_key(blob.sha256)
            ):
                return []
            with _source_or_stored(storage, blob, source, max_source_bytes) as readable:
                if readable is None:
                    return []
                try:
                    decoded = decode_source(
                        readable, blob.content_type, sizes, make=held, max_pixels=max_pixels,
                        limits=limits,
                    )  # fmt: skip
                except RenderLimitExceeded as exc:
                    _mark_unrenderable(storage, blob.sha256, exc)
                    return []
                stored = []
                for size in sorted(held, reverse=True):
                    _put(storage, thumbnail_key(blob.sha256, size), decoded.jpeg(size))
                    held.remove(size)
                    _release(thumbnail_key(blob.sha256, size))
                    stored.append(size)
            log.info("thumbnails pre-rendered", extra={"sha256": blob.sha256, "sizes": stored})
            return stored
        finally:
            for size in held:
                _release(thumbnail_key(blob.sha256, size))


@contextlib.contextmanager
def _source_or_stored(
    storage: StorageDriver, blob: StoredBlob, source: BinaryIO | None, limit: int
) -> Iterator[BinaryIO | None]:
    if source is not None:
        source.seek(0)
        yield source
        return
    with contextlib.ExitStack() as stack:
        spooled: BinaryIO | None
        try:
            spooled = stack.enter_context(_spooled_source(storage, blob.key, limit))
        except BlobNotFound:  # removed since (its attachment deleted, then garbage collected)
            spooled = None
        yield spooled


def schedule_prerender(
    storage: StorageDriver, blob: StoredBlob, settings: Settings, spool: IngestSpool | None = None
) -> bool:
    """Queue :func:`prerender_thumbnails` of a blob this request just stored on the process's
    background runner when the request ends (:func:`~core.cas.background.submit_after_response`);
    ``True`` if queued or deferred. With ``spool`` (the upload's, still open), a blob of at most
    :data:`PRERENDER_SPOOL_MAX_BYTES` is read from a private handle on it
    (:meth:`~core.cas.spool.IngestSpool.reopen`) instead of the store.

    Call it only after the row that references the blob is committed (until then garbage
    collection could remove the blob under the job). Nothing is queued when
    ``settings.thumbnail_prerender`` is empty, the content has no thumbnails, the blob is under
    :data:`PRERENDER_MIN_BYTES` or the queue is full; never raises (the upload succeeded whatever
    happens here).
    """
    if (
        not settings.thumbnail_prerender
        or blob.size < PRERENDER_MIN_BYTES
        or not can_render(blob.content_type)
    ):
        return False
    source: BinaryIO | None = None
    try:
        if spool is not None and blob.size <= PRERENDER_SPOOL_MAX_BYTES:
            source = spool.reopen()
        job = functools.partial(
            _prerender_job, storage, blob,
            ladder=tuple(settings.thumbnail_prerender),
            max_pixels=settings.thumbnail_max_pixels,
            max_source_bytes=max(settings.max_file_bytes, settings.max_image_bytes),
            limits=RenderLimits.from_settings(settings),
            source=source,
        )  # fmt: skip
        release = source.close if source is not None else None
        return background.submit_after_response(job, on_refused=release)
    except Exception:  # never fail the upload that already succeeded
        log.warning("cannot queue the thumbnail pre-render of %s", blob.sha256, exc_info=True)
        if source is not None:
            source.close()
        return False


def _prerender_job(storage: StorageDriver, blob: StoredBlob, **options: Any) -> None:
    try:
        prerender_thumbnails(storage, blob, **options)
    except (UnprocessableContent, UnsupportedMediaType) as exc:
        log.info("thumbnail pre-render of %s gave up: %s", blob.sha256, exc)
