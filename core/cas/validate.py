"""Content checks for uploads: the bytes must really be what their type says, and harmless.

Run on a finished :class:`~core.cas.spool.IngestSpool` before the blob is stored:

- raster images must open with Pillow, stay under the pixel limit (decompression bombs) and pass
  ``verify()`` (truncated or corrupt files);
- PDFs must open with pdfium and have at least one page, checked in the sandboxed child process
  of :mod:`core.cas.render_sandbox` (a PDF that cannot be opened within its time and memory
  limits is refused with ``PDF_TOO_COMPLEX``);
- images and PDFs must not carry HTML or script markup in their first bytes (polyglots that a
  browser could be tricked into rendering as a page).

Every failure is a 422 :class:`core.errors.UnprocessableContent` naming the problem.
"""

from __future__ import annotations

import warnings

from PIL import Image

from core.cas.render_sandbox import RenderLimitExceeded, RenderLimits, check_pdf, current_limits
from core.cas.sniff import find_markup
from core.cas.spool import IngestSpool
from core.errors import UnprocessableContent

_RASTER = {"image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "image/tiff"}


def validate_content(
    spool: IngestSpool, max_pixels: int, limits: RenderLimits | None = None
) -> None:
    """Raise :class:`UnprocessableContent` unless the spooled bytes are a sound file of their type.

    PDFs are checked within ``limits`` (default: the current app's settings). Also raises
    :class:`core.errors.ServiceUnavailable` ``RENDER_BUSY`` when every PDF sandbox slot stays
    busy. Leaves the spool positioned at 0.
    """
    content_type = spool.content_type
    try:
        if content_type in _RASTER or content_type == "application/pdf":
            _reject_markup(spool, content_type)
        if content_type in _RASTER:
            _check_image(spool, content_type, max_pixels)
        elif content_type == "application/pdf":
            _check_pdf(spool, limits)
    finally:
        spool.seek(0)


def _reject_markup(spool: IngestSpool, content_type: str) -> None:
    spool.seek(0)
    if find_markup(spool.read(8192)):
        raise UnprocessableContent(
            f"file is {content_type} but also contains HTML or script markup (a polyglot)",
            {"content_type": content_type},
            code="POLYGLOT_CONTENT",
        )


def _check_image(spool: IngestSpool, content_type: str, max_pixels: int) -> None:
    spool.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(spool) as image:  # type: ignore[arg-type]
                width, height = image.size
                if width * height > max_pixels:
                    raise UnprocessableContent(
                        f"image is {width}x{height} pixels, more than the limit of {max_pixels}",
                        {"width": width, "height": height, "max_pixels": max_pixels},
                        code="IMAGE_TOO_MANY_PIXELS",
                    )
                image.verify()
    except UnprocessableContent:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UnprocessableContent(
            f"image is a decompression bomb: {exc}", code="IMAGE_TOO_MANY_PIXELS"
        ) from None
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types for broken files
        raise UnprocessableContent(
            f"{content_type} image is truncated or corrupt: {exc}",
            {"content_type": content_type},
            code="CORRUPT_IMAGE",
        ) from None


def _check_pdf(spool: IngestSpool, limits: RenderLimits | None) -> None:
    limits = limits or current_limits()
    try:
        check_pdf(spool, limits)  # type: ignore[arg-type]
    except RenderLimitExceeded as exc:
        raise UnprocessableContent(
            f"PDF could not be opened within the {exc.reason} limit "
            f"({limits.timeout:g} s, {limits.max_memory // (1024 * 1024)} MiB)",
            {"limit": exc.reason},
            code="PDF_TOO_COMPLEX",
        ) from None
