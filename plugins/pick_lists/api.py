"""``/api/kits/{id}/pick-lists``, ``/api/pick-lists`` and the kits' pick-list membership query."""

from __future__ import annotations

from flask import Response, jsonify
from flask_openapi3 import APIBlueprint, Tag

from core.plugin_api import READER, NotFound, error_responses, requires_role
from plugins.kits.service import get_kit
from plugins.pick_lists import pdf, service, views
from plugins.pick_lists.schemas import (
    PickListCreateIn,
    PickListKitPath,
    PickListLinePath,
    PickListLineQuantityIn,
    PickListMembershipQueryIn,
    PickListPath,
    PickListPreviewIn,
)

blueprint = APIBlueprint(
    "pick_lists", __name__, url_prefix="/api", abp_tags=[Tag(name="pick-lists")]
)

_KIT = "/kits/<int:kit_id>/pick-lists"
_LIST = "/pick-lists/<int:pick_list_id>"
_LINE = f"{_LIST}/lines/<int:line_id>"


def _detail(pick_list_id: int, status: int = 200) -> Response:
    response = jsonify(views.detail_json(service.get_pick_list(pick_list_id)))
    response.status_code = status
    return response


@blueprint.get(_KIT, responses={200: None, **error_responses(400, 404)})
def kit_pick_lists(path: PickListKitPath) -> Response:
    """The kit's pick lists, newest first, with their line numbers."""
    get_kit(path.kit_id)
    return jsonify(views.summaries(service.lists_of_kits([path.kit_id])[path.kit_id]))


@blueprint.post(f"{_KIT}/preview", responses={200: None, **error_responses(400, 404)})
def preview(path: PickListKitPath, body: PickListPreviewIn) -> Response:
    """The parts whose usable stock (in stock minus what open pick lists plan to take) is short
    of what ``requested_units`` units need."""
    short = service.preview(path.kit_id, body.requested_units)
    return jsonify({"parts_with_shortfall": [service.shortfall_json(n) for n in short]})


@blueprint.post(_KIT, responses={201: None, **error_responses(400, 404, 409)})
def create(path: PickListKitPath, body: PickListCreateIn) -> Response:
    """Create a pick list for ``requested_units`` units, allocated over the parts' locations;
    a short part is a 409 ``PICK_LIST_SHORTFALL`` unless ``shortfall_handling`` says ``limit``
    or ``omit`` for it."""
    handling = {key: choice.action for key, choice in (body.shortfall_handling or {}).items()}
    pick_list = service.create_pick_list(path.kit_id, body.requested_units, handling)
    return _detail(pick_list.id, 201)


@blueprint.get(_LIST, responses={200: None, **error_responses(400, 404)})
def get_pick_list(path: PickListPath) -> Response:
    """The pick list with its lines by box and location."""
    return _detail(path.pick_list_id)


@blueprint.delete(_LIST, responses={204: None, **error_responses(400, 404)})
def delete_pick_list(path: PickListPath) -> Response:
    """Delete the pick list (stock already picked stays picked)."""
    service.delete_pick_list(path.pick_list_id)
    return Response(status=204)


@blueprint.patch(_LINE, responses={200: None, **error_responses(400, 404, 409)})
def update_line(path: PickListLinePath, body: PickListLineQuantityIn) -> Response:
    """Change an open line's quantity (0 skips it)."""
    service.set_line_quantity(path.pick_list_id, path.line_id, body.quantity_to_pick)
    return _detail(path.pick_list_id)


@blueprint.post(f"{_LINE}/pick", responses={200: None, **error_responses(400, 404, 409)})
def pick_line(path: PickListLinePath) -> Response:
    """Take the line's quantity out of its location and mark it picked, atomically."""
    service.pick_line(path.pick_list_id, path.line_id)
    return _detail(path.pick_list_id)


@blueprint.post(f"{_LINE}/undo", responses={200: None, **error_responses(400, 404, 409)})
def undo_line(path: PickListLinePath) -> Response:
    """Put a picked line's quantity back into its location and reopen it."""
    service.undo_line(path.pick_list_id, path.line_id)
    return _detail(path.pick_list_id)


@blueprint.get(f"{_LIST}/pdf", responses={200: None, **error_responses(400, 404)})
def pick_list_pdf(path: PickListPath) -> Response:
    """A printable PDF of the pick list."""
    detail = views.detail_json(service.get_pick_list(path.pick_list_id))
    response = Response(pdf.render(detail), mimetype="application/pdf")
    response.headers["Content-Disposition"] = (
        f'inline; filename="pick-list-{path.pick_list_id}.pdf"'
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.post(
    "/kits/pick-list-memberships/query", responses={200: None, **error_responses(400, 404)}
)
@requires_role(READER)  # a query sent as POST: readers may use it
def membership_query(body: PickListMembershipQueryIn) -> Response:
    """The pick lists of each given kit, in the order asked (open ones only unless
    ``include_done``); two queries whatever the number of kits. An unknown kit is a 404."""
    missing = service.missing_kits(body.kit_ids)
    if missing:
        raise NotFound(f"kit(s) {', '.join(map(str, missing))} do not exist", {"kit_ids": missing})
    lists = service.lists_of_kits(body.kit_ids, include_done=body.include_done)
    numbers = views.line_numbers(row.id for rows in lists.values() for row in rows)
    return jsonify(
        {
            "memberships": [
                {
                    "kit_id": kit_id,
                    "pick_lists": [
                        views.summary_json(row, numbers[row.id]) for row in lists[kit_id]
                    ],
                }
                for kit_id in body.kit_ids
            ]
        }
    )
