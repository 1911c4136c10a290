"""Content type detection from the first bytes of a file (never from headers or names)."""

from __future__ import annotations

import re

import filetype

#: How many leading bytes :func:`detect_content_type` looks at.
SNIFF_BYTES = 8192

_XML_DECL = re.compile(rb"^\s*(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*(<!DOCTYPE\s+svg[^>]*>\s*)?", re.S)
_HTML_START = re.compile(
    rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body|script|iframe)\b", re.I | re.S
)

#: Types that can carry script when a browser renders them.
ACTIVE_TYPES = frozenset(
    {
        "image/svg+xml",
        "text/html",
        "application/xhtml+xml",
        "application/xml",
        "text/xml",
        "text/javascript",
        "application/javascript",
    }
)

#: Types a browser may render inline without risk (no script).
INLINE_SAFE_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "image/avif",
        "image/bmp",
        "application/pdf",
        "text/plain",
    }
)


def detect_content_type(head: bytes) -> str:
    """Return the MIME type of content starting with ``head``.

    Binary formats come from their magic numbers; SVG, HTML and XML from their markup; other text
    is ``text/plain``; anything else ``application/octet-stream``.
    """
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    kind = filetype.guess(head)
    if kind is not None:
        return str(kind.mime)
    text = head.lstrip(b"\xef\xbb\xbf")
    if _HTML_START.match(text):
        return "text/html"
    prolog = _XML_DECL.match(text)
    rest = text[prolog.end() :] if prolog else text
    if re.match(rb"<svg[\s>]", rest, re.I):
        return "image/svg+xml"
    if prolog and prolog.group(1) and rest.startswith(b"<"):
        return "application/xml"
    if _looks_like_text(text):
        return "text/plain"
    return "application/octet-stream"


def _looks_like_text(data: bytes) -> bool:
    if not data or b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sniffed head is still text.
        if exc.start < len(data) - 4:
            return False
    return True


def is_image(content_type: str | None) -> bool:
    """Whether ``content_type`` is an image type."""
    return bool(content_type) and str(content_type).startswith("image/")
