"""Fetching user-supplied URLs safely, and turning them into attachments.

* :mod:`core.urlfetch.policy` - which URLs and addresses may be fetched (SSRF protection);
* :mod:`core.urlfetch.client` - the fetch itself: pinned IP, manual redirects, timeouts, limits;
* :mod:`core.urlfetch.page` - title and preview-image candidates of an HTML page;
* :mod:`core.urlfetch.analyze` - :func:`analyze_url` (fetch and store) and :func:`preview_url`.

Every failure is a 4xx :class:`core.errors.ApiError` with a stable code (listed in
:data:`ERROR_CODES`).
"""

from core.urlfetch.analyze import (
    UrlAnalysis,
    UrlPreview,
    analyze_url,
    fit_title,
    preview_url,
    title_from_url,
)
from core.urlfetch.client import (
    Deadline,
    FetchedResponse,
    UrlBadResponse,
    UrlHttpError,
    UrlTimeout,
    UrlTlsError,
    UrlTooLarge,
    UrlTooManyRedirects,
    UrlUnreachable,
    UrlUnsupportedType,
    fetch,
    fetch_bytes,
)
from core.urlfetch.page import PageMetadata, extract_metadata
from core.urlfetch.policy import (
    AddressPolicy,
    InvalidUrl,
    UrlBlocked,
    UrlUnresolvable,
    blocked_reason,
    check_url,
    parse_target,
)

#: Every error class of URL fetching (all :class:`core.errors.ApiError` subclasses, all 4xx).
ERROR_CLASSES = (
    InvalidUrl,
    UrlBlocked,
    UrlUnresolvable,
    UrlUnreachable,
    UrlTlsError,
    UrlTimeout,
    UrlHttpError,
    UrlTooManyRedirects,
    UrlBadResponse,
    UrlTooLarge,
    UrlUnsupportedType,
)
#: Their ``code`` values.
ERROR_CODES = frozenset(cls.code for cls in ERROR_CLASSES)

__all__ = [
    "ERROR_CLASSES",
    "ERROR_CODES",
    "AddressPolicy",
    "Deadline",
    "FetchedResponse",
    "InvalidUrl",
    "PageMetadata",
    "UrlAnalysis",
    "UrlBadResponse",
    "UrlBlocked",
    "UrlHttpError",
    "UrlPreview",
    "UrlTimeout",
    "UrlTlsError",
    "UrlTooLarge",
    "UrlTooManyRedirects",
    "UrlUnreachable",
    "UrlUnresolvable",
    "UrlUnsupportedType",
    "analyze_url",
    "blocked_reason",
    "check_url",
    "extract_metadata",
    "fetch",
    "fetch_bytes",
    "fit_title",
    "parse_target",
    "preview_url",
    "title_from_url",
]
