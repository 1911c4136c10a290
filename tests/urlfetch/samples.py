"""Small sample files made on the fly: images of a given size, a PDF, a zip, HTML pages."""

from __future__ import annotations

import io
import zipfile
from html import escape

from PIL import Image


def png(width: int = 32, height: int = 24, color: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    """A PNG image of ``width`` x ``height`` pixels."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "PNG")
    return buffer.getvalue()


def jpeg(width: int = 32, height: int = 24) -> bytes:
    """A JPEG image of ``width`` x ``height`` pixels."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(buffer, "JPEG")
    return buffer.getvalue()


def gif_1x1() -> bytes:
    """The classic 1x1 tracking pixel."""
    buffer = io.BytesIO()
    Image.new("P", (1, 1)).save(buffer, "GIF")
    return buffer.getvalue()


def pdf() -> bytes:
    """A minimal one-page PDF."""
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 72 72]>>endobj\n"
        b"trailer<</Root 1 0 R>>\n%%EOF\n"
    )


def zip_file() -> bytes:
    """A zip archive holding one text file."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "hello")
    return buffer.getvalue()


def page(title: str | None = "A page", head: str = "", body: str = "<p>hello</p>") -> bytes:
    """An HTML document with ``head`` markup (meta/link tags) and an optional title."""
    title_tag = f"<title>{escape(title)}</title>" if title is not None else ""
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8">{title_tag}{head}</head>'
        f"<body>{body}</body></html>"
    ).encode()
