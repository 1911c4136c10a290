"""Remote content shown through our origin: a URL's bytes, or the preview image of a page.

Used by ``GET /api/parts/attachment-proxy/content`` and ``GET /api/parts/attachment-preview/image``
(the UI shows remote PDFs and images in frames without CORS trouble). Every fetch goes through
:func:`core.urlfetch.client.fetch` (address checks, redirect limit, timeouts, size limits). Only
allowed attachment types are passed on, decided from the bytes, and they are served with the same
presentation rules as CAS blobs (:func:`core.cas.serving.decide_presentation`): ``nosniff``, a
sandbox CSP for anything but a real PDF, and never an inline active type.
"""

from __future__ import annotations

from collections.abc import Iterator

from flask import Response

from core.cas.serving import decide_presentation
from core.cas.sniff import SNIFF_BYTES, detect_content_type, is_image
from core.config import Settings
from core.errors import NotFound
from core.urlfetch.analyze import preview_types, preview_url, title_from_url
from core.urlfetch.client import (
    READ_CHUNK_BYTES,
    FetchedResponse,
    UrlUnsupportedType,
    default_deadline,
    fetch,
)

#: How long a browser may keep proxied content (it is not content-addressed).
PROXY_CACHE_CONTROL = "private, max-age=300"
_ACCEPT_CONTENT = "application/pdf,image/*;q=0.9,*/*;q=0.1"
_ACCEPT_IMAGE = "image/avif,image/webp,image/png,image/jpeg,image/gif,image/*;q=0.8"


def proxied_content(url: str, settings: Settings) -> Response:
    """Stream the content at ``url`` if it is an allowed attachment type (detected from its bytes;
    limit ``max_file_bytes``, ``max_image_bytes`` for images).

    Raises the :mod:`core.urlfetch` errors (400/413/422) and :class:`UrlUnsupportedType` (415)
    for any other type (HTML pages included).
    """
    return _serve(url, settings, settings.allowed_types, _ACCEPT_CONTENT)


def proxied_preview_image(url: str, settings: Settings) -> Response:
    """Stream the preview image of ``url``: the URL itself when it is an image, else the first
    usable preview candidate of the page (as :func:`core.urlfetch.analyze.preview_url` chooses).

    Raises :class:`NotFound` when the page has no preview image, and like
    :func:`proxied_content`.
    """
    preview = preview_url(url, settings)
    if preview.image_url is None:
        raise NotFound(f"{url} has no preview image", {"url": url})
    return _serve(preview.image_url, settings, preview_types(settings), _ACCEPT_IMAGE)


def _serve(url: str, settings: Settings, allowed: frozenset[str] | tuple[str, ...],
           accept: str) -> Response:
    limit = max(settings.max_image_bytes, settings.max_file_bytes)
    response = fetch(
        url, settings, max_bytes=limit, deadline=default_deadline(settings), accept=accept
    )
    try:
        head = response.read_up_to(SNIFF_BYTES)
        detected = detect_content_type(head)
        if detected not in allowed:
            raise UrlUnsupportedType(
                f"the content at {url} is {detected}, which is not shown "
                f"(allowed: {', '.join(sorted(allowed))})",
                {"url": url, "detected_type": detected},
            )
        response.set_limit(settings.max_image_bytes if is_image(detected) else limit)
    except BaseException:
        response.close()
        raise
    presentation = decide_presentation(detected, filename=title_from_url(response.url))
    served = Response(_body(head, response), content_type=presentation.content_type)
    served.headers["Content-Disposition"] = presentation.content_disposition
    if presentation.content_security_policy:
        served.headers["Content-Security-Policy"] = presentation.content_security_policy
    served.headers["X-Content-Type-Options"] = "nosniff"
    served.headers["Cache-Control"] = PROXY_CACHE_CONTROL
    served.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    return served


def _body(head: bytes, response: FetchedResponse) -> Iterator[bytes]:
    try:
        if head:
            yield head
        while chunk := response.read(READ_CHUNK_BYTES):
            yield chunk
    finally:
        response.close()
