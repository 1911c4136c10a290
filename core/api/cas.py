"""``GET`` and ``HEAD /api/cas/<sha256>``: blobs and their thumbnails, straight from storage.

Stateless (no database), streamed (never the whole blob in memory) and cacheable forever: the URL
names the content. See :mod:`core.cas.serving` for the header rules and
:mod:`core.cas.thumbnails` for thumbnails. Reads go through the read-through cache when one is
configured (:mod:`storage_drivers.cache`); objects in local files are sent with ``sendfile``.
With ``PARTSBIN_CAS_REDIRECT=presigned`` the answer is a 302 to the storage's presigned URL, with
the response headers signed into it, when that is safe (see :func:`_presigned_url`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from flask import Response, request
from flask_openapi3 import APIBlueprint, Tag
from flask_openapi3.types import ResponseDict
from pydantic import BaseModel, Field, field_validator
from werkzeug.wsgi import wrap_file

from core.api.schemas import QueryModel
from core.cas import thumbnails
from core.cas.ingest import SHA256_HEX, cas_key
from core.cas.serving import (
    IMMUTABLE_CACHE_CONTROL,
    SANDBOX_CSP,
    ByteRange,
    Presentation,
    UnsatisfiableRange,
    base_type,
    decide_presentation,
    is_star,
    normalize_content_type,
    not_modified,
    open_body,
    open_local_file,
    select_range,
    sniff_blob,
    strong_etag,
)
from core.cas.sniff import ACTIVE_TYPES, INLINE_SAFE_TYPES
from core.errors import NotFound, error_response
from core.state import PartsbinState, get_state
from storage_drivers.base import StorageDriver, accepts_keyword
from storage_drivers.streams import CHUNK_SIZE

blueprint = APIBlueprint(
    "cas",
    __name__,
    url_prefix="/api/cas",
    abp_tags=[Tag(name="cas", description="Content-addressed blobs and thumbnails")],
)

#: Lifetime of presigned URLs we redirect to, and how long a client may cache the redirect.
PRESIGNED_EXPIRES_SECONDS = 300
REDIRECT_CACHE_CONTROL = "private, max-age=60"


class CasPath(BaseModel):
    """Path of ``/api/cas/<sha256>``."""

    sha256: str = Field(
        description="SHA-256 of the content: 64 lowercase hexadecimal digits.",
        json_schema_extra={"pattern": "^[0-9a-f]{64}$"},
    )

    @field_validator("sha256")
    @classmethod
    def _is_sha256(cls, value: str) -> str:
        if SHA256_HEX.fullmatch(value) is None:  # fullmatch: `$` would allow a final newline
            raise ValueError("not a SHA-256 hash: expected 64 lowercase hexadecimal digits")
        return value


#: What ``normalize_content_type`` accepts, for the OpenAPI document.
CONTENT_TYPE_PATTERN = (
    r"^\s*[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
    r"(?:[ \t]*;[ \t]*[Cc][Hh][Aa][Rr][Ss][Ee][Tt]=[A-Za-z0-9][A-Za-z0-9_.:+-]{0,39})?\s*$"
)


class CasQuery(QueryModel):
    """Query parameters of ``/api/cas/<sha256>``."""

    content_type: str | None = Field(
        default=None,
        max_length=200,
        json_schema_extra={"pattern": CONTENT_TYPE_PATTERN},
        description="Content-Type to send instead of the detected one (type/subtype, optional "
        "charset). Types that can run script, or are not known to be safe inline, are always "
        "sent as an attachment. Not allowed together with thumbnail.",
    )
    filename: str | None = Field(
        default=None,
        max_length=1024,
        description="File name for Content-Disposition; path parts and control characters are "
        "removed.",
    )
    disposition: Literal["inline", "attachment"] | None = Field(
        default=None,
        description="inline (default) or attachment; unsafe types are always attachment.",
    )
    thumbnail: int | None = Field(
        default=None,
        ge=thumbnails.MIN_SIZE,
        le=thumbnails.MAX_SIZE,
        description="Return a JPEG thumbnail whose longest side is at most this many pixels "
        "(raster images are never upscaled; PDFs show their first page). A content_type given "
        "with it is ignored: thumbnails are JPEG, and clients add thumbnail= to attachment URLs "
        "that already carry the original's content_type.",
    )

    @field_validator("content_type")
    @classmethod
    def _media_type(cls, value: str | None) -> str | None:
        return None if value is None else normalize_content_type(value)


class CasError(BaseModel):
    """The JSON error envelope."""

    error: str
    details: dict[str, Any]
    code: str


def _binary(description: str, **extra_headers: str) -> dict[str, Any]:
    headers = {
        "ETag": "Strong entity tag: the hash, or <hash>-t<N> for a thumbnail.",
        "Cache-Control": IMMUTABLE_CACHE_CONTROL,
        "Content-Disposition": "RFC 6266: inline or attachment, with filename and filename*.",
        "Content-Security-Policy": SANDBOX_CSP + " (no CSP on inline PDFs).",
        "X-Content-Type-Options": "nosniff",
        "Accept-Ranges": "bytes",
    }
    headers.update({name.replace("_", "-"): text for name, text in extra_headers.items()})
    return {
        "description": description,
        "headers": {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in headers.items()
        },
        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
    }


RESPONSES: ResponseDict = {
    200: _binary("The blob, or its JPEG thumbnail"),
    206: _binary(
        "One byte range of it (Range: bytes=a-b, a- or -n)",
        Content_Range="The range sent: bytes <first>-<last>/<size>.",
    ),
    302: {"description": "Redirect to a presigned storage URL (PARTSBIN_CAS_REDIRECT=presigned)"},
    304: {"description": "Not modified: If-None-Match matched the ETag"},
    400: CasError,
    404: CasError,
    415: CasError,
    416: CasError,
    422: CasError,
    503: CasError,
}


@blueprint.after_request
def _harden(response: Response) -> Response:
    """Every answer gets ``nosniff``; error, 304 and redirect answers get the sandbox CSP."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if response.status_code >= 300:
        response.headers.setdefault("Content-Security-Policy", SANDBOX_CSP)
    return response


@blueprint.get(
    "/<sha256>",
    summary="Download a blob or its thumbnail",
    responses=RESPONSES,
    operation_id="get_cas_blob",
)
def get_blob(path: CasPath, query: CasQuery) -> Response:
    """Stream the blob with hash ``sha256`` (HEAD: the same headers, no body).

    The type is detected from the stored bytes unless ``content_type`` is given; content that
    can run script is never rendered inline (attachment + CSP sandbox). ``If-None-Match`` gives
    304, a single ``Range`` gives 206 (416 when it lies outside), several ranges give 200.
    ``thumbnail=N`` answers a JPEG thumbnail, rendered once and kept in storage. A malformed hash
    or query is 400, an unknown hash 404, content without thumbnails 415, an image that cannot
    be thumbnailed (too large, corrupt) 422, storage down 503.
    """
    state = get_state()
    if query.thumbnail is not None:
        as_jpeg = query.model_copy(update={"content_type": None})
        return _serve_thumbnail(state, path.sha256, query.thumbnail, as_jpeg)
    return _serve_blob(state, path.sha256, query)


def _serve_blob(state: PartsbinState, sha256: str, query: CasQuery) -> Response:
    storage = state.read_storage
    key = cas_key(sha256)
    if_none_match = request.headers.get("If-None-Match")
    if not_modified(if_none_match, sha256) and not is_star(if_none_match):
        return _not_modified(sha256)  # the hash names the bytes: no storage access needed
    detected: str | None = None
    if state.settings.cas_redirect == "presigned" and not is_star(if_none_match):
        detected = sniff_blob(storage, key)
        url = _presigned_url(storage, key, detected, query)
        if url is not None:
            return _redirect(url)
    stat = storage.stat(key)
    if stat is None:
        raise NotFound(f"no blob with hash {sha256}", {"sha256": sha256})
    if is_star(if_none_match):
        return _not_modified(sha256)
    return _stream(storage, key, stat.size, sha256, query, detected_type=detected)


def _serve_thumbnail(state: PartsbinState, sha256: str, size: int, query: CasQuery) -> Response:
    etag = thumbnails.thumbnail_etag(sha256, size)
    if_none_match = request.headers.get("If-None-Match")
    if not_modified(if_none_match, etag) and not is_star(if_none_match):
        return _not_modified(etag)
    settings = state.settings
    storage = state.read_storage
    stat = thumbnails.ensure_thumbnail(
        storage,
        sha256,
        size,
        max_pixels=settings.thumbnail_max_pixels,
        max_source_bytes=max(settings.max_file_bytes, settings.max_image_bytes),
        ladder=settings.thumbnail_prerender,
    )
    if is_star(if_none_match):
        return _not_modified(etag)
    if settings.cas_redirect == "presigned":
        url = _presigned_url(storage, stat.key, thumbnails.THUMBNAIL_CONTENT_TYPE, query)
        if url is not None:
            return _redirect(url)
    return _stream(
        storage, stat.key, stat.size, etag, query, detected_type=thumbnails.THUMBNAIL_CONTENT_TYPE
    )


def _stream(
    storage: StorageDriver,
    key: str,
    size: int,
    etag: str,
    query: CasQuery,
    *,
    detected_type: str | None,
) -> Response:
    """Answer 200/206/416 for ``key``; sniff its type unless ``detected_type`` is known.

    A GET of an object the driver holds in a local file (local driver, cache hit) is handed to
    the WSGI server's ``wsgi.file_wrapper`` (``sendfile`` under gunicorn); others stream.
    """
    try:
        byte_range = select_range(
            request.headers.get("Range"), size, etag=etag, if_range=request.headers.get("If-Range")
        )
    except UnsatisfiableRange as exc:
        response = error_response(416, str(exc), "RANGE_NOT_SATISFIABLE", {"size": exc.size})
        response.headers["Content-Range"] = exc.content_range
        return response
    start, end = (byte_range.start, byte_range.end) if byte_range else (0, size - 1)
    body: Iterable[bytes] | None = None
    detected = detected_type
    if request.method == "HEAD":
        detected = detected_type or sniff_blob(storage, key, size)
    else:
        opened = open_local_file(storage, key, start, end, size=size, sniff=detected is None)
        if opened is not None:
            file, sniffed = opened
            body = wrap_file(request.environ, file, buffer_size=CHUNK_SIZE)  # type: ignore[arg-type]
        else:
            body, sniffed = open_body(storage, key, start, end, size=size, sniff=detected is None)
        detected = detected or sniffed or "application/octet-stream"
    try:
        presentation = decide_presentation(
            detected or "application/octet-stream",
            requested_type=query.content_type,
            disposition=query.disposition,
            filename=query.filename,
        )
        return _blob_response(body, presentation, etag, size, byte_range)
    except BaseException:
        close = getattr(body, "close", None)
        if close is not None:
            close()
        raise


def _blob_response(
    body: Iterable[bytes] | None,
    presentation: Presentation,
    etag: str,
    size: int,
    byte_range: ByteRange | None,
) -> Response:
    response = Response(
        body if body is not None else (),
        status=206 if byte_range else 200,
        content_type=presentation.content_type,
        direct_passthrough=True,
    )
    headers = response.headers
    headers["Content-Length"] = str(byte_range.length if byte_range else size)
    if byte_range:
        headers["Content-Range"] = byte_range.content_range
    headers["Accept-Ranges"] = "bytes"
    headers["ETag"] = strong_etag(etag)
    headers["Cache-Control"] = IMMUTABLE_CACHE_CONTROL
    headers["Content-Disposition"] = presentation.content_disposition
    headers["X-Content-Type-Options"] = "nosniff"
    if presentation.content_security_policy:
        headers["Content-Security-Policy"] = presentation.content_security_policy
    return response


def _not_modified(etag: str) -> Response:
    response = Response(status=304)
    response.headers["ETag"] = strong_etag(etag)
    response.headers["Cache-Control"] = IMMUTABLE_CACHE_CONTROL
    return response


def _presigned_url(
    storage: StorageDriver, key: str, detected_type: str, query: CasQuery
) -> str | None:
    """A presigned URL that answers exactly as the app would, or ``None`` to serve it here.

    The URL carries the response's ``Content-Type``, ``Content-Disposition`` (``filename``,
    ``disposition``) and ``Cache-Control`` as signed overrides. The storage origin cannot send
    our CSP or ``nosniff``, so only bytes that need neither leave through a redirect: the
    detected *and* the served type must be safe inline (images, PDF) and not active. Anything
    else, or a driver that cannot sign the overrides, is served by the app.
    """
    presentation = decide_presentation(
        detected_type,
        requested_type=query.content_type,
        disposition=query.disposition,
        filename=query.filename,
    )
    for media_type in (base_type(detected_type), base_type(presentation.content_type)):
        if media_type not in INLINE_SAFE_TYPES or media_type in ACTIVE_TYPES:
            return None
    overrides = {
        "Content-Type": presentation.content_type,
        "Content-Disposition": presentation.content_disposition,
        "Cache-Control": IMMUTABLE_CACHE_CONTROL,
    }
    if not accepts_keyword(storage.presigned_get_url, "response_headers"):
        return None  # a third-party driver that cannot sign overrides: serve it here
    return storage.presigned_get_url(
        key, expires_seconds=PRESIGNED_EXPIRES_SECONDS, response_headers=overrides
    )


def _redirect(url: str) -> Response:
    response = Response(status=302)
    response.headers["Location"] = url
    response.headers["Cache-Control"] = REDIRECT_CACHE_CONTROL
    return response
