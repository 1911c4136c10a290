"""Content type detection from the first bytes of a file (never from headers or names).

Everything here sees client bytes, so it runs in time linear in the input: the markup checks
are small hand-written scanners (one pass, each ``find`` resuming where the last one ended), not
regular expressions, so input such as ``<!---->`` repeated then one odd byte cannot make it
backtrack (a regular expression with a quantified group of comments did, exponentially).
"""

from __future__ import annotations

import filetype

#: How many leading bytes :func:`detect_content_type` looks at.
SNIFF_BYTES = 8192

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
    if starts_like_html(text):
        return "text/html"
    has_declaration, start = _xml_prolog_end(text)
    if _tag_at(text, start, b"svg") and _ends_tag_name(text, start + 4, allow_end=False):
        return "image/svg+xml"
    if has_declaration and text.startswith(b"<", start):
        return "application/xml"
    if _looks_like_text(text):
        return "text/plain"
    return "application/octet-stream"


#: The bytes ``\s`` matches in a bytes regular expression.
WHITESPACE = b" \t\n\r\x0b\x0c"
_HTML_START_TAGS = (b"html", b"head", b"body", b"script", b"iframe")


def _skip_whitespace(data: bytes, index: int) -> int:
    while index < len(data) and data[index] in WHITESPACE:
        index += 1
    return index


def _skip_comments(data: bytes, index: int) -> int:
    """Skip whitespace and complete ``<!-- ... -->`` comments (each ending at its first
    ``-->``) from ``index``; linear time."""
    index = _skip_whitespace(data, index)
    while data.startswith(b"<!--", index):
        end = data.find(b"-->", index + 4)
        if end < 0:  # an unclosed comment is not skipped
            break
        index = _skip_whitespace(data, end + 3)
    return index


def _is_word_byte(byte: int) -> bool:
    return byte == 0x5F or 0x30 <= byte <= 0x39 or 0x41 <= byte <= 0x5A or 0x61 <= byte <= 0x7A


def _tag_at(data: bytes, index: int, name: bytes) -> bool:
    """Whether ``<name`` (ASCII case-insensitive) starts at ``index``."""
    end = index + 1 + len(name)
    return data[index : index + 1] == b"<" and data[index + 1 : end].lower() == name


def _ends_tag_name(data: bytes, index: int, *, allow_end: bool) -> bool:
    """Whether the tag name ends at ``index``: whitespace or ``>`` (or the end, if allowed)."""
    if index >= len(data):
        return allow_end
    return data[index] in WHITESPACE or data[index] == 0x3E


def _doctype_html_at(data: bytes, index: int) -> int:
    """The index after ``<!doctype <ws>+ html`` at ``index`` (case-insensitive), or -1."""
    if not _tag_at(data, index, b"!doctype"):
        return -1
    after = _skip_whitespace(data, index + 9)
    if after == index + 9 or data[after : after + 4].lower() != b"html":
        return -1
    return after + 4


def _html_tag_at(text: bytes, index: int) -> bool:
    end = _doctype_html_at(text, index)
    if end < 0:
        for name in _HTML_START_TAGS:
            if _tag_at(text, index, name):
                end = index + 1 + len(name)
                break
    if end < 0:
        return False
    return end >= len(text) or not _is_word_byte(text[end])


def starts_like_html(text: bytes) -> bool:
    """Whether ``text`` starts, after whitespace and comments, with an HTML document's markup:
    ``<!doctype html``, ``<html``, ``<head``, ``<body``, ``<script`` or ``<iframe``, as a whole
    word, case-insensitive.

    As the regular expression ``^\\s*(<!--.*?-->\\s*)*<(...)\\b`` would, a run of comments may
    end at *any* ``-->`` after the first ``<!--`` (so ``<!-- a --> b --> <html>`` counts). So
    every occurrence of a tag name is tried once: does whitespace back to a ``-->`` precede it?
    Linear time, where the regular expression backtracked exponentially.
    """
    start = _skip_whitespace(text, 0)
    if _html_tag_at(text, start):
        return True
    if not text.startswith(b"<!--", start):
        return False
    earliest = start + 7  # just after the shortest comment, "<!---->"
    lowered = text.lower()
    for needle in (b"<!doctype", *(b"<" + name for name in _HTML_START_TAGS)):
        index = lowered.find(needle, earliest)
        while index >= 0:
            before = index
            while before > earliest and text[before - 1] in WHITESPACE:
                before -= 1
            if before >= earliest and text[before - 3 : before] == b"-->":
                if _html_tag_at(text, index):
                    return True
            index = lowered.find(needle, index + 1)
    return False


def _xml_prolog_end(text: bytes) -> tuple[bool, int]:
    """Skip an XML prolog: ``<?xml ...>``, comments, ``<!DOCTYPE svg ...>`` and whitespace.

    Returns whether an XML declaration was there, and where the first element may start.
    """
    index = _skip_whitespace(text, 0)
    has_declaration = False
    if text.startswith(b"<?xml", index):
        end = text.find(b">", index + 5)
        if end >= 0:
            has_declaration = True
            index = end + 1
    index = _skip_comments(text, index)
    if text.startswith(b"<!DOCTYPE", index):
        after = _skip_whitespace(text, index + 9)
        if after > index + 9 and text.startswith(b"svg", after):
            end = text.find(b">", after + 3)
            if end >= 0:
                index = _skip_whitespace(text, end + 1)
    return has_declaration, index


def find_markup(data: bytes) -> bool:
    """Whether ``data`` contains HTML or script markup a browser could render as a page:
    ``<script``, ``<html``, ``<!doctype html``, ``<iframe``, ``<body`` or ``<svg`` followed by
    whitespace or ``>`` (case-insensitive), anywhere. Linear time: one ``find`` pass per tag."""
    lowered = data.lower()
    for name in (b"script", b"html", b"iframe", b"body", b"svg"):
        needle = b"<" + name
        index = lowered.find(needle)
        while index >= 0:
            if _ends_tag_name(lowered, index + len(needle), allow_end=False):
                return True
            index = lowered.find(needle, index + 1)
    index = lowered.find(b"<!doctype")
    while index >= 0:
        end = _doctype_html_at(lowered, index)
        if end >= 0 and _ends_tag_name(lowered, end, allow_end=False):
            return True
        index = lowered.find(b"<!doctype", index + 1)
    return False


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
