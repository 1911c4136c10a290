"""``/api/sellers`` (with logos) and ``/api/parts/{key}/seller-links``."""

from __future__ import annotations

from flask import Response, jsonify
from flask_openapi3 import APIBlueprint, Tag

from core.plugin_api import error_responses, get_state, receive_upload
from plugins.parts.service import get_part
from plugins.sellers import service, views
from plugins.sellers.schemas import (
    PartPath,
    SellerIn,
    SellerLinkIn,
    SellerLinkOut,
    SellerLinkPath,
    SellerList,
    SellerOut,
    SellerPath,
    SellerUpdateIn,
)

blueprint = APIBlueprint("sellers", __name__, url_prefix="/api", abp_tags=[Tag(name="sellers")])

_SELLER = "/sellers/<int:seller_id>"


def _status(body: object, status: int) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response


@blueprint.get("/sellers", responses={200: SellerList, **error_responses(400)})
def list_sellers() -> Response:
    """Every seller by name, each with its logo URL (two queries in all)."""
    sellers = service.list_sellers()
    logos = views.logo_urls(sellers)
    return jsonify([views.seller_json(seller, logos[seller.id]) for seller in sellers])


@blueprint.post("/sellers", responses={201: SellerOut, **error_responses(400, 409)})
def create_seller(body: SellerIn) -> Response:
    """Create a seller (a taken name is a 409 ``SELLER_NAME_TAKEN``)."""
    return _status(views.one_seller(service.create_seller(body.name, body.website)), 201)


@blueprint.get(_SELLER, responses={200: SellerOut, **error_responses(400, 404)})
def get_seller(path: SellerPath) -> Response:
    """One seller."""
    return jsonify(views.one_seller(service.get_seller(path.seller_id)))


@blueprint.put(_SELLER, responses={200: SellerOut, **error_responses(400, 404, 409)})
def update_seller(path: SellerPath, body: SellerUpdateIn) -> Response:
    """Change name and/or website."""
    changes = body.model_dump(include=body.model_fields_set)
    return jsonify(views.one_seller(service.update_seller(path.seller_id, changes)))


@blueprint.delete(_SELLER, responses={204: None, **error_responses(400, 404, 409)})
def delete_seller(path: SellerPath) -> Response:
    """Delete a seller no part link or shopping list uses (409 ``SELLER_IN_USE`` otherwise)."""
    service.delete_seller(path.seller_id)
    return Response(status=204)


_LOGO_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


@blueprint.put(
    f"{_SELLER}/logo",
    responses={200: SellerOut, **error_responses(400, 404, 413, 415, 422, 503)},
    openapi_extensions=_LOGO_BODY,
)
def put_logo(path: SellerPath) -> Response:
    """Upload or replace the seller's logo (multipart ``file``, an image), stored once per
    content in the CAS as the cover of the seller's attachment set."""
    seller = service.get_seller(path.seller_id)
    settings = get_state().settings
    images = [kind for kind in settings.allowed_types if kind.startswith("image/")]
    with receive_upload("file", max_bytes=settings.max_image_bytes, allowed_types=images) as upload:
        service.set_logo(seller, upload)
    return jsonify(views.one_seller(seller))


@blueprint.delete(f"{_SELLER}/logo", responses={200: SellerOut, **error_responses(400, 404)})
def delete_logo(path: SellerPath) -> Response:
    """Remove the seller's logo (its bytes stay in the CAS until garbage collection)."""
    seller = service.get_seller(path.seller_id)
    service.delete_logo(seller)
    return jsonify(views.one_seller(seller))


@blueprint.get(f"{_SELLER}/initial-logo.svg", responses={200: None, **error_responses(400, 404)})
def initial_logo(path: SellerPath) -> Response:
    """The letter badge shown for a seller without a logo of its own."""
    seller = service.get_seller(path.seller_id)
    response = Response(views.initial_logo_svg(seller), mimetype="image/svg+xml")
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-cache"
    return response


@blueprint.post(
    "/parts/<key>/seller-links", responses={201: SellerLinkOut, **error_responses(400, 404, 409)}
)
def add_seller_link(path: PartPath, body: SellerLinkIn) -> Response:
    """Link the part to its product page at a seller (one link per seller: 409 otherwise)."""
    part = get_part(path.key)
    link = service.add_link(part.id, part.key, body.seller_id, body.link)
    seller = service.get_seller(body.seller_id)
    return _status(views.link_json(link, seller, views.logo_urls([seller])[seller.id]), 201)


@blueprint.delete(
    "/parts/<key>/seller-links/<int:seller_link_id>",
    responses={204: None, **error_responses(400, 404)},
)
def delete_seller_link(path: SellerLinkPath) -> Response:
    """Remove one of the part's seller links."""
    part = get_part(path.key)
    service.delete_link(part.id, part.key, path.seller_link_id)
    return Response(status=204)
