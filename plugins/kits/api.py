"""``/api/kits``: kits, their archive state and their content lines."""

from __future__ import annotations

from flask import Response, jsonify
from flask_openapi3 import APIBlueprint, Tag

from core.plugin_api import error_responses
from plugins.kits import service, views
from plugins.kits.schemas import (
    KitContentCreateIn,
    KitContentOut,
    KitContentPath,
    KitContentUpdateIn,
    KitCreateIn,
    KitDetailOut,
    KitList,
    KitListQuery,
    KitPath,
    KitUpdateIn,
)

blueprint = APIBlueprint("kits", __name__, url_prefix="/api", abp_tags=[Tag(name="kits")])

_KIT = "/kits/<int:kit_id>"
_CONTENT = f"{_KIT}/contents/<int:content_id>"


def _created(body: object) -> Response:
    response = jsonify(body)
    response.status_code = 201
    return response


@blueprint.get("/kits", responses={200: KitList, **error_responses(400)})
def list_kits(query: KitListQuery) -> Response:
    """Kits, most recently updated first, optionally filtered by status and a search text."""
    kits = service.list_kits(query.status, query.query, query.limit, query.offset)
    return jsonify(views.kit_list(kits))


@blueprint.post("/kits", responses={201: KitDetailOut, **error_responses(400, 409)})
def create_kit(body: KitCreateIn) -> Response:
    """Create an active kit (an empty attachment set comes with it); a taken name is a 409."""
    kit = service.create_kit(body.name, body.description, body.build_target)
    return _created(views.kit_detail(kit))


@blueprint.get(_KIT, responses={200: KitDetailOut, **error_responses(400, 404)})
def get_kit(path: KitPath) -> Response:
    """The kit with its content lines and their stock numbers."""
    return jsonify(views.kit_detail(service.get_kit(path.kit_id)))


@blueprint.patch(_KIT, responses={200: KitDetailOut, **error_responses(400, 404, 409)})
def update_kit(path: KitPath, body: KitUpdateIn) -> Response:
    """Change the fields sent. 409: archived kit, nothing changes, or name taken."""
    changes = body.model_dump(include=body.model_fields_set)
    return jsonify(views.kit_detail(service.update_kit(path.kit_id, changes)))


@blueprint.delete(_KIT, responses={204: None, **error_responses(400, 404)})
def delete_kit(path: KitPath) -> Response:
    """Delete the kit, its content lines and its attachment set."""
    service.delete_kit(path.kit_id)
    return Response(status=204)


@blueprint.post(f"{_KIT}/archive", responses={200: KitDetailOut, **error_responses(400, 404, 409)})
def archive_kit(path: KitPath) -> Response:
    """Archive an active kit (409 ``KIT_ARCHIVED`` if it already is)."""
    return jsonify(views.kit_detail(service.archive_kit(path.kit_id)))


@blueprint.post(
    f"{_KIT}/unarchive", responses={200: KitDetailOut, **error_responses(400, 404, 409)}
)
def unarchive_kit(path: KitPath) -> Response:
    """Make an archived kit active again (409 ``KIT_NOT_ARCHIVED`` if it is active)."""
    return jsonify(views.kit_detail(service.unarchive_kit(path.kit_id)))


@blueprint.post(
    f"{_KIT}/contents", responses={201: KitContentOut, **error_responses(400, 404, 409)}
)
def add_content(path: KitPath, body: KitContentCreateIn) -> Response:
    """Add a part line. 404: unknown kit or part; 409: archived kit or part already listed."""
    content = service.add_content(path.kit_id, body.part_id, body.required_per_unit, body.note)
    return _created(views.one_content(service.get_kit(path.kit_id), content.id))


@blueprint.patch(_CONTENT, responses={200: KitContentOut, **error_responses(400, 404, 409)})
def update_content(path: KitContentPath, body: KitContentUpdateIn) -> Response:
    """Change a line read at ``version``; a stale version is a 409 ``VERSION_CONFLICT``."""
    changes = body.model_dump(include=body.model_fields_set - {"version"})
    content = service.update_content(path.kit_id, path.content_id, body.version, changes)
    return jsonify(views.one_content(service.get_kit(path.kit_id), content.id))


@blueprint.delete(_CONTENT, responses={204: None, **error_responses(400, 404, 409)})
def delete_content(path: KitContentPath) -> Response:
    """Remove a line from an active kit."""
    service.delete_content(path.kit_id, path.content_id)
    return Response(status=204)
