"""Metadata of an HTML page: its title and the images that could preview it.

Parsing uses the standard library's tolerant :class:`html.parser.HTMLParser` (no regular
expressions on HTML) and is incremental: :class:`PageParser` is fed bytes as they arrive and
says when it has seen everything it needs (the end of ``<head>`` or the start of ``<body>``), so
the fetcher can stop reading a large page early.

Character set, in order of precedence: a byte-order mark, the ``charset`` of the
``Content-Type`` header, a ``<meta charset>`` / ``<meta http-equiv="Content-Type">`` in the
first :data:`PRESCAN_BYTES`, else UTF-8. Undecodable bytes become U+FFFD.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import Message
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

#: How much of the page is searched for a ``<meta charset>`` before decoding.
PRESCAN_BYTES = 4096
#: ``<meta property|name>`` keys giving preview images, best first.
OG_IMAGE_KEYS = ("og:image", "og:image:url", "og:image:secure_url")
TWITTER_IMAGE_KEYS = ("twitter:image", "twitter:image:src")
#: ``<link rel>`` tokens giving icons, best first (``rel="icon"`` alone ranks before
#: ``rel="shortcut icon"`` and other lists containing ``icon``).
ICON_RELS = ("icon", "apple-touch-icon", "apple-touch-icon-precomposed")

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


@dataclass(frozen=True)
class PageMetadata:
    """What a page says about itself.

    ``title`` is the ``<title>`` text, else ``og:title``, else ``None`` (whitespace collapsed).
    ``image_candidates`` are absolute http(s) URLs, deduplicated, in order of preference:
    ``og:image`` (and ``:url``, ``:secure_url``), ``twitter:image`` (and ``:src``), ``<link
    rel="icon">``, ``shortcut icon``, ``apple-touch-icon``, then ``/favicon.ico`` of the page's
    origin. ``base_url`` is what relative URLs were resolved against.
    """

    title: str | None
    image_candidates: list[str] = field(default_factory=list)
    base_url: str = ""
    og_title: str | None = None
    html_title: str | None = None


def collapse_whitespace(text: str) -> str:
    """Strip ``text`` and replace each run of whitespace (newlines included) by one space."""
    return " ".join(text.split())


def resolve_url(base: str, reference: str) -> str | None:
    """Resolve ``reference`` against ``base``; ``None`` unless the result is an http(s) URL."""
    reference = reference.strip()
    if not reference:
        return None
    try:
        absolute = urljoin(base, reference)
        parts = urlsplit(absolute)
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        return None
    return absolute.split("#", 1)[0]


def favicon_url(page_url: str) -> str | None:
    """``/favicon.ico`` at the origin of ``page_url`` (``None`` if it is not http(s))."""
    return resolve_url(page_url, "/favicon.ico")


class _MetaCollector(HTMLParser):
    """Collects title, meta, link and base elements until ``</head>`` or ``<body>``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.done = False
        self.title_parts: list[str] | None = None
        self.title: str | None = None
        self.meta: list[tuple[str, str]] = []  # (lowercased property/name, content)
        self.links: list[tuple[str, str]] = []  # (normalised rel, href)
        self.base_href: str | None = None
        self.charset: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.done:
            return
        values = {name.lower(): (value or "") for name, value in attrs}
        if tag == "body":
            self.done = True
        elif tag == "title" and self.title is None:
            self.title_parts = []
        elif tag == "meta":
            self._meta(values)
        elif tag == "link":
            rel = " ".join(values.get("rel", "").lower().split())
            href = values.get("href", "")
            if rel and href:
                self.links.append((rel, href))
        elif tag == "base" and self.base_href is None and values.get("href"):
            self.base_href = values["href"]

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self.title_parts is not None:
            self.title = "".join(self.title_parts)
            self.title_parts = None
        elif tag == "head":
            self.done = True

    def handle_data(self, data: str) -> None:
        if self.title_parts is not None:
            self.title_parts.append(data)

    def _meta(self, values: dict[str, str]) -> None:
        if "charset" in values and self.charset is None:
            self.charset = values["charset"].strip() or None
        http_equiv = values.get("http-equiv", "").strip().lower()
        if http_equiv == "content-type" and self.charset is None:
            self.charset = charset_from_content_type(values.get("content", ""))
        key = (values.get("property") or values.get("name") or "").strip().lower()
        if key and "content" in values:
            self.meta.append((key, values["content"]))


def charset_from_content_type(value: str) -> str | None:
    """The ``charset`` parameter of a ``Content-Type`` value, or ``None``."""
    message = Message()
    message["content-type"] = value
    charset = message.get_param("charset")
    return charset.strip() if isinstance(charset, str) and charset.strip() else None


def _codec(name: str | None) -> str | None:
    """A Python codec name for a declared charset, or ``None`` if unknown or unsafe."""
    if not name:
        return None
    try:
        codec = codecs.lookup(name.strip().strip("'\"")).name
    except LookupError:
        return None
    # A page that claims UTF-16 in a meta tag was read as ASCII to find it: that cannot be.
    if codec.startswith("utf-16") or codec.startswith("utf-32"):
        return None
    # As browsers do, read "latin-1" / "ascii" as windows-1252, its superset.
    if codec in {"latin-1", "iso8859-1", "ascii"}:
        return "cp1252"
    return codec


def sniff_charset(head: bytes, header_charset: str | None = None) -> str:
    """Choose the codec for a page starting with ``head`` (see the module docstring)."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    declared = _codec(header_charset)
    if declared:
        return declared
    prescan = _MetaCollector()
    try:
        prescan.feed(head[:PRESCAN_BYTES].decode("latin-1"))
    except Exception:  # noqa: BLE001 - a broken prefix just means "no declaration found"
        return "utf-8"
    return _codec(prescan.charset) or "utf-8"


class PageParser:
    """Incremental page parser: ``feed()`` bytes, check :attr:`done`, then :meth:`result`.

    The codec is chosen once :data:`PRESCAN_BYTES` have arrived (or at :meth:`result`), so the
    header's charset is passed to the constructor.
    """

    def __init__(self, url: str, header_charset: str | None = None) -> None:
        self.url = url
        self._header_charset = header_charset
        self._pending = b""
        self._decoder: codecs.IncrementalDecoder | None = None
        self._collector = _MetaCollector()
        self.encoding: str | None = None

    @property
    def done(self) -> bool:
        """Whether everything needed has been seen (``</head>`` or ``<body>`` reached)."""
        return self._collector.done

    def feed(self, data: bytes) -> None:
        """Parse the next bytes of the page."""
        if self._decoder is None:
            self._pending += data
            if len(self._pending) < PRESCAN_BYTES:
                return
            self._start()
            data, self._pending = self._pending, b""
        self._feed_text(data)

    def result(self) -> PageMetadata:
        """Finish parsing (what was fed is all there is) and return the metadata."""
        if self._decoder is None:
            self._start()
            data, self._pending = self._pending, b""
            self._feed_text(data)
        assert self._decoder is not None
        tail = self._decoder.decode(b"", final=True)
        if tail and not self._collector.done:
            self._collector.feed(tail)
        self._collector.close()
        return _metadata(self.url, self._collector)

    def _start(self) -> None:
        self.encoding = sniff_charset(self._pending, self._header_charset)
        self._decoder = codecs.getincrementaldecoder(self.encoding)(errors="replace")

    def _feed_text(self, data: bytes) -> None:
        assert self._decoder is not None
        if self._collector.done:
            return
        text = self._decoder.decode(data)
        if text:
            self._collector.feed(text)


def _metadata(url: str, collector: _MetaCollector) -> PageMetadata:
    base = url
    if collector.base_href:
        resolved_base = resolve_url(url, collector.base_href)
        if resolved_base:
            base = resolved_base
    meta: dict[str, list[str]] = {}
    for key, content in collector.meta:
        meta.setdefault(key, []).append(content)

    html_title = _text(collector.title)
    if html_title is None and collector.title_parts:  # <title> never closed
        html_title = _text("".join(collector.title_parts))
    og_title = next((text for text in (_text(v) for v in meta.get("og:title", [])) if text), None)

    candidates: list[str] = []
    for key in (*OG_IMAGE_KEYS, *TWITTER_IMAGE_KEYS):
        candidates.extend(meta.get(key, []))
    icons = [(rank, href) for rel, href in collector.links if (rank := _icon_rank(rel)) is not None]
    candidates.extend(href for _, href in sorted(icons, key=lambda item: item[0]))
    absolute = _unique(resolve_url(base, candidate) for candidate in candidates)
    fallback = favicon_url(url)
    if fallback and fallback not in absolute:
        absolute.append(fallback)
    return PageMetadata(
        title=html_title or og_title,
        image_candidates=absolute,
        base_url=base,
        og_title=og_title,
        html_title=html_title,
    )


def _icon_rank(rel: str) -> int | None:
    """Order of an icon ``<link>`` by its ``rel``: icon, shortcut icon, apple-touch-icon(s)."""
    tokens = rel.split()
    if tokens == ["icon"]:
        return 0
    if "icon" in tokens:
        return 1
    for rank, name in enumerate(ICON_RELS[1:], start=2):
        if name in tokens:
            return rank
    return None


def _text(value: str | None) -> str | None:
    if value is None:
        return None
    return collapse_whitespace(value) or None


def _unique(urls: Iterable[str | None]) -> list[str]:
    seen: list[str] = []
    for url in urls:
        if url and url not in seen:
            seen.append(url)
    return seen


def extract_metadata(html: bytes, url: str, header_charset: str | None = None) -> PageMetadata:
    """Parse a whole (or truncated) page at ``url``; see :class:`PageMetadata`."""
    parser = PageParser(url, header_charset)
    parser.feed(html)
    return parser.result()
