"""Deterministic content for browser tests: an HTML page, a PNG with text, a PDF."""

from __future__ import annotations

import html
import io
import time

from PIL import Image, ImageDraw

PAGE_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<meta property="og:title" content="{title}">
<meta property="og:image" content="/api/testing/content/image?text={query}">
</head>
<body>{banner}<main><h1>{title}</h1><p>Deterministic test content.</p></main></body>
</html>
"""
#: The creation and modification date written into the generated PDF.
FIXED_DATE = time.gmtime(1_704_067_200)  # 2024-01-01 00:00 UTC; Pillow takes a struct_time
BANNER = '<div class="deployment-banner" role="status">A new version is available.</div>'


def html_page(title: str, *, banner: bool = False) -> bytes:
    """An HTML page titled ``title`` (escaped) whose ``og:image`` is the testing image."""
    from urllib.parse import quote

    return PAGE_TEMPLATE.format(
        title=html.escape(title), query=quote(title), banner=BANNER if banner else ""
    ).encode()


def png_image(text: str, size: tuple[int, int] = (400, 100)) -> bytes:
    """A PNG showing ``text`` (dark on light)."""
    image = Image.new("RGB", size, (230, 236, 245))
    draw = ImageDraw.Draw(image)
    draw.rectangle([(4, 4), (size[0] - 5, size[1] - 5)], outline=(40, 60, 120), width=3)
    draw.text((16, size[1] // 2 - 6), text[:60], fill=(20, 30, 60))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def pdf_document(text: str = "Partsbin test PDF") -> bytes:
    """A one-page PDF showing ``text``, the same bytes on every call (fixed dates: Pillow
    would otherwise stamp the current second)."""
    page = Image.open(io.BytesIO(png_image(text, (420, 594))))
    out = io.BytesIO()
    page.save(out, "PDF", resolution=72.0, creationDate=FIXED_DATE, modDate=FIXED_DATE)
    return out.getvalue()
