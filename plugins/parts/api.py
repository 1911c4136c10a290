"""``/api/parts``: parts, their kit usages, and attachment helpers scoped to parts."""

from __future__ import annotations

import hashlib
from pathlib import Path

from flask import Response, jsonify, request, url_for
from flask_openapi3 import APIBlueprint, Tag

from core.plugin_api import (
    attachment_json,
    error_responses,
    preview_url,
    proxied_content,
    proxied_preview_image,
)
from plugins.parts import hook_calls, service, views
from plugins.parts.schemas import (
    CopyAttachmentIn,
    CopyAttachmentOut,
    PartCreateIn,
    PartDetailOut,
    PartKitReservationsOut,
    PartKitUsageList,
    PartList,
    PartListQuery,
    PartLocationList,
    PartPath,
    PartUpdateIn,
    UrlPreviewIn,
    UrlPreviewOut,
    UrlQuery,
)

blueprint = APIBlueprint("parts", __name__, url_prefix="/api", abp_tags=[Tag(name="parts")])

_PART = "/parts/<key>"


def _created(body: object) -> Response:
    response = jsonify(body)
    response.status_code = 201
    return response


@blueprint.get("/parts", responses={200: PartList, **error_responses(400)})
def list_parts(query: PartListQuery) -> Response:
    """Parts newest first. ``include`` adds ``kits`` and/or ``in_stock`` to each item.

    Page with ``limit``/``offset`` or, cheaper at depth, with ``cursor``: a full page carries
    ``X-Next-Cursor`` and a ``Link: <...>; rel="next"`` header. ``X-Total-Count`` (the number of
    matching parts) is sent on a short page, where it is free, and always with ``count=exact``.
    """
    after = service.PageCursor.decode(query.cursor) if query.cursor else None
    page = service.list_parts(
        query.limit, query.offset, query.type_id, after=after, exact_count=query.count == "exact"
    )
    response = jsonify(views.part_list(page.parts, query.include_tokens))
    if page.total is not None:
        response.headers["X-Total-Count"] = str(page.total)
    if page.next_cursor is not None:
        cursor = page.next_cursor.encode()
        args = {k: v for k, v in request.args.items() if k not in ("offset", "cursor")}
        link = url_for(".list_parts", _external=False, **args, cursor=cursor)
        response.headers["X-Next-Cursor"] = cursor
        response.headers["Link"] = f'<{link}>; rel="next"'
    return response


@blueprint.post("/parts", responses={201: PartDetailOut, **error_responses(400, 404, 409)})
def create_part(body: PartCreateIn) -> Response:
    """Create a part (a random 4-letter key and an empty attachment set come with it).

    An unknown ``type_id`` is a 404.
    """
    part = service.create_part(body.model_dump())
    return _created(views.one_part(part))


@blueprint.get(_PART, responses={200: PartDetailOut, **error_responses(400, 404)})
def get_part(path: PartPath) -> Response:
    """One part by key; a malformed key (not 4 uppercase letters) is a 400."""
    return jsonify(views.one_part(service.get_part(path.key)))


@blueprint.put(_PART, responses={200: PartDetailOut, **error_responses(400, 404)})
def update_part(path: PartPath, body: PartUpdateIn) -> Response:
    """Change exactly the fields sent; ``null`` clears a field (``description`` is required)."""
    changes = body.model_dump(include=body.model_fields_set)
    return jsonify(views.one_part(service.update_part(path.key, changes)))


@blueprint.delete(_PART, responses={204: None, **error_responses(400, 404, 409)})
def delete_part(path: PartPath) -> Response:
    """Delete a part with its attachment set; a part still used (e.g. in a kit) is a 409
    ``PART_IN_USE`` naming the users."""
    service.delete_part(path.key)
    return Response(status=204)


@blueprint.get(f"{_PART}/kits", responses={200: PartKitUsageList, **error_responses(400, 404)})
def part_kits(path: PartPath) -> Response:
    """The kits using this part, by kit name."""
    part = service.get_part(path.key)
    usages = hook_calls.kit_usages([part.id])[part.id]
    return jsonify([views.usage_json(usage) for usage in usages])


@blueprint.get(
    f"{_PART}/kit-reservations",
    responses={200: PartKitReservationsOut, **error_responses(400, 404)},
)
def part_kit_reservations(path: PartPath) -> Response:
    """The active kits reserving this part and the sum of their reservations."""
    part = service.get_part(path.key)
    usages = hook_calls.kit_usages([part.id])[part.id]
    return jsonify(views.kit_reservations_json(part, usages))


@blueprint.get(f"{_PART}/locations", responses={200: PartLocationList, **error_responses(400, 404)})
def part_locations(path: PartPath) -> Response:
    """Where the part is stored, ``[{key, box_no, loc_no, qty}]`` by box and location (from the
    ``part_locations`` hook: empty until an inventory plugin provides it)."""
    part = service.get_part(path.key)
    return jsonify(
        [
            {"key": part.key, **views.location_json(place)}
            for place in hook_calls.locations([part.id])[part.id]
        ]
    )


_URL_FETCH_ERRORS = error_responses(400, 404, 413, 415, 422)


@blueprint.get("/parts/attachment-proxy/content", responses=_URL_FETCH_ERRORS)
def attachment_proxy_content(query: UrlQuery) -> Response:
    """The bytes at ``url`` (an allowed image or a PDF, decided from the bytes), fetched through
    the SSRF-safe fetcher and served with ``nosniff`` and a sandbox CSP, so the UI can show
    remote documents in frames."""
    return proxied_content(query.url)


@blueprint.get("/parts/attachment-preview/image", responses=_URL_FETCH_ERRORS)
def attachment_preview_image(query: UrlQuery) -> Response:
    """The preview image of ``url`` (the image itself, or the page's first usable preview
    image); 404 when the page has none."""
    return proxied_preview_image(query.url)


_PDF_ICON = (Path(__file__).resolve().parent / "static" / "pdf-icon.svg").read_bytes()
_PDF_ICON_ETAG = hashlib.sha256(_PDF_ICON).hexdigest()[:32]


@blueprint.get("/icons/pdf", responses={200: None})
def pdf_icon() -> Response:
    """The PDF icon shown on PDF attachment tiles (SVG, cacheable forever; ``version`` in the
    query string is only for cache busting)."""
    if request.if_none_match.contains(_PDF_ICON_ETAG):
        response = Response(status=304)
    else:
        response = Response(_PDF_ICON, content_type="image/svg+xml")
    response.set_etag(_PDF_ICON_ETAG)
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


@blueprint.post(
    "/parts/copy-attachment", responses={200: CopyAttachmentOut, **error_responses(400, 404)}
)
def copy_attachment(body: CopyAttachmentIn) -> Response:
    """Copy an attachment of any set into a part's set, sharing its stored bytes."""
    attachment = service.copy_attachment_to_part(
        body.target_part_key, body.attachment_id, body.set_as_cover
    )
    return jsonify({"attachment": attachment_json(attachment)})


@blueprint.post(
    "/parts/attachment-preview",
    responses={200: UrlPreviewOut, **error_responses(400, 413, 415, 422)},
)
def attachment_preview(body: UrlPreviewIn) -> Response:
    """What a URL would become as a part attachment (title, preview image), without saving.

    Same answer as ``POST /api/attachment-preview``.
    """
    return jsonify(preview_url(body.url))
