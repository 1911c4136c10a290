"""``/api/types``: part types (list, create, rename, delete)."""

from __future__ import annotations

from flask import Response, jsonify
from flask_openapi3 import APIBlueprint, Tag

from core.plugin_api import error_responses
from plugins.parts import type_service, views
from plugins.parts.schemas import TypeIn, TypeList, TypeListQuery, TypeOut, TypePath

blueprint = APIBlueprint("part_types", __name__, url_prefix="/api", abp_tags=[Tag(name="types")])

_TYPE = "/types/<int:type_id>"


@blueprint.get("/types", responses={200: TypeList, **error_responses(400)})
def list_types(query: TypeListQuery) -> Response:
    """Every part type by name; ``include_stats=true`` adds ``part_count`` (one more query)."""
    counts = type_service.part_counts() if query.include_stats else None
    return jsonify(
        [
            views.type_json(row, counts.get(row.id, 0) if counts is not None else None)
            for row in type_service.list_types()
        ]
    )


@blueprint.post("/types", responses={201: TypeOut, **error_responses(400, 409)})
def create_type(body: TypeIn) -> Response:
    """Create a type; a name already used (ignoring case) is a 409 ``TYPE_NAME_TAKEN``."""
    response = jsonify(views.type_json(type_service.create_type(body.name)))
    response.status_code = 201
    return response


@blueprint.get(_TYPE, responses={200: TypeOut, **error_responses(400, 404)})
def get_type(path: TypePath) -> Response:
    """One part type."""
    return jsonify(views.type_json(type_service.get_type(path.type_id)))


@blueprint.put(_TYPE, responses={200: TypeOut, **error_responses(400, 404, 409)})
def rename_type(path: TypePath, body: TypeIn) -> Response:
    """Rename a type; a name already used by another type is a 409 ``TYPE_NAME_TAKEN``."""
    return jsonify(views.type_json(type_service.rename_type(path.type_id, body.name)))


@blueprint.delete(_TYPE, responses={204: None, **error_responses(400, 404, 409)})
def delete_type(path: TypePath) -> Response:
    """Delete a type; a type some part still has is a 409 ``TYPE_IN_USE``."""
    type_service.delete_type(path.type_id)
    return Response(status=204)
