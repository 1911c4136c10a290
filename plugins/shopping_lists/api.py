"""``/api/shopping-lists``, ``/api/shopping-list-lines``, seller groups, kit pushes and links,
and the part and kit membership queries."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from flask_openapi3 import APIBlueprint, Tag

from core.plugin_api import READER, NotFound, error_responses, requires_role, tuples
from plugins.kits.service import get_kit
from plugins.parts.models import Part
from plugins.parts.service import get_part
from plugins.shopping_lists import service, views
from plugins.shopping_lists.schemas import (
    CompleteIn,
    GroupIn,
    GroupPath,
    GroupUpdateIn,
    KitMembershipQueryIn,
    KitPath,
    KitPushIn,
    LineIn,
    LinePath,
    LineUpdateIn,
    LinkPath,
    ListIn,
    ListPath,
    ListsQuery,
    ListUpdateIn,
    PartKeyPath,
    PartMembershipIn,
    PartMembershipQueryIn,
    ReceiveIn,
    StatusIn,
)

blueprint = APIBlueprint(
    "shopping_lists", __name__, url_prefix="/api", abp_tags=[Tag(name="shopping-lists")]
)

_LIST = "/shopping-lists/<int:list_id>"
_GROUP = f"{_LIST}/seller-groups/<int:seller_id>"
_LINE = "/shopping-list-lines/<int:line_id>"


def _status(body: object, status: int = 200) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response


def _detail(list_id: int, status: int = 200) -> Response:
    return _status(views.detail_json(service.get_list(list_id)), status)


# --- lists ------------------------------------------------------------------------------------


@blueprint.get("/shopping-lists", responses={200: None, **error_responses(400)})
def list_lists(query: ListsQuery) -> Response:
    """Active lists, most recently updated first (``include_done`` adds done ones; ``status``
    picks statuses), each with its line counts: two queries."""
    rows = service.list_lists(query.status, query.include_done)
    return jsonify(views.summaries(rows))


@blueprint.post("/shopping-lists", responses={201: None, **error_responses(400, 409)})
def create_list(body: ListIn) -> Response:
    """A new active list; 409 ``SHOPPING_LIST_NAME_TAKEN`` (names are unique ignoring case)."""
    return _detail(service.create_list(body.name, body.description).id, 201)


@blueprint.get(_LIST, responses={200: None, **error_responses(400, 404)})
def get_list(path: ListPath) -> Response:
    """The list with its lines and seller groups."""
    return _detail(path.list_id)


@blueprint.put(_LIST, responses={200: None, **error_responses(400, 404, 409)})
def update_list(path: ListPath, body: ListUpdateIn) -> Response:
    """Change the name and/or description."""
    service.update_list(path.list_id, body.model_dump(include=body.model_fields_set))
    return _detail(path.list_id)


@blueprint.delete(_LIST, responses={204: None, **error_responses(400, 404)})
def delete_list(path: ListPath) -> Response:
    """Delete the list with its lines (received stock stays)."""
    service.delete_list(path.list_id)
    return Response(status=204)


@blueprint.put(f"{_LIST}/status", responses={200: None, **error_responses(400, 404, 409)})
def set_status(path: ListPath, body: StatusIn) -> Response:
    """Move the list to ``status``; the only transition is active to done (409
    ``INVALID_STATUS_TRANSITION`` otherwise)."""
    service.set_status(path.list_id, body.status)
    return _detail(path.list_id)


@blueprint.get(f"{_LIST}/lines", responses={200: None, **error_responses(400, 404)})
def list_lines(path: ListPath) -> Response:
    """The list's lines, without parts and sellers."""
    return jsonify(views.lines_only_json(service.get_list(path.list_id)))


@blueprint.post(f"{_LIST}/lines", responses={201: None, **error_responses(400, 404, 409)})
def add_line(path: ListPath, body: LineIn) -> Response:
    """Add a part to the list (409 ``PART_ALREADY_ON_LIST``)."""
    line = service.add_line_by_part_id(
        path.list_id, body.part_id, body.needed, body.note, body.seller_id
    )
    return _status(views.one_line(line), 201)


@blueprint.get(f"{_LIST}/kits", responses={200: None, **error_responses(400, 404)})
def list_kits(path: ListPath) -> Response:
    """The kits that filled this list."""
    return jsonify(
        [views.kit_chip_json(link, kit) for link, _row, kit in service.links_of_list(path.list_id)]
    )


# --- seller groups ----------------------------------------------------------------------------


@blueprint.post(f"{_LIST}/seller-groups", responses={201: None, **error_responses(400, 404, 409)})
def create_group(path: ListPath, body: GroupIn) -> Response:
    """A new, empty seller group (409 ``SELLER_GROUP_EXISTS``)."""
    group = service.create_group(path.list_id, body.seller_id)
    return _status(views.group_json(group), 201)


@blueprint.get(_GROUP, responses={200: None, **error_responses(400, 404)})
def get_group(path: GroupPath) -> Response:
    """The seller group with its lines and totals."""
    return jsonify(views.group_json(service.get_group(path.list_id, path.seller_id)))


@blueprint.put(_GROUP, responses={200: None, **error_responses(400, 404, 409)})
def update_group(path: GroupPath, body: GroupUpdateIn) -> Response:
    """Change the note and/or the status: ``ordered`` orders every new line of the group,
    ``active`` reopens it."""
    group = service.update_group(path.list_id, path.seller_id, body.note, body.status)
    return jsonify(views.group_json(group))


@blueprint.delete(_GROUP, responses={204: None, **error_responses(400, 404, 409)})
def delete_group(path: GroupPath) -> Response:
    """Delete an active seller group; its lines that are not done become ungrouped."""
    service.delete_group(path.list_id, path.seller_id)
    return Response(status=204)


# --- lines ------------------------------------------------------------------------------------


@blueprint.put(_LINE, responses={200: None, **error_responses(400, 404, 409)})
def update_line(path: LinePath, body: LineUpdateIn) -> Response:
    """Change the fields sent (see ``service.update_line``)."""
    line = service.update_line(path.line_id, body.model_dump(include=body.model_fields_set))
    return jsonify(views.one_line(line))


@blueprint.delete(_LINE, responses={204: None, **error_responses(400, 404, 409)})
def delete_line(path: LinePath) -> Response:
    """Delete a line (received stock stays)."""
    service.delete_line(path.line_id)
    return Response(status=204)


@blueprint.post(f"{_LINE}/receive", responses={200: None, **error_responses(400, 404, 409)})
def receive_line(path: LinePath, body: ReceiveIn) -> Response:
    """Receive stock for an ordered line into one or more locations, in one transaction."""
    allocations = [service.Allocation(a.box_no, a.loc_no, a.qty) for a in body.allocations]
    service.receive(path.line_id, body.receive_qty, allocations)
    return jsonify(views.one_line(service.get_line(path.line_id)))


@blueprint.post(f"{_LINE}/complete", responses={200: None, **error_responses(400, 404, 409)})
def complete_line(path: LinePath, body: CompleteIn) -> Response:
    """Mark an ordered line done (a reason is needed when received differs from ordered)."""
    return jsonify(views.one_line(service.complete(path.line_id, body.mismatch_reason)))


# --- kits -------------------------------------------------------------------------------------


@blueprint.get(
    "/kits/<int:kit_id>/shopping-lists", responses={200: None, **error_responses(400, 404)}
)
def kit_lists(path: KitPath) -> Response:
    """The lists the kit filled, newest link first."""
    get_kit(path.kit_id)
    links = service.links_of_kits([path.kit_id])[path.kit_id]
    return jsonify([views.link_json(link, row, kit) for link, row, kit in links])


@blueprint.post(
    "/kits/<int:kit_id>/shopping-lists",
    responses={200: None, 201: None, **error_responses(400, 404, 409)},
)
def push_kit(path: KitPath, body: KitPushIn) -> Response:
    """Add what the kit lacks for ``units`` units to an active list or a new one (201 when a
    list was created, else 200; ``noop`` when nothing was lacking)."""
    result = service.push_kit(
        path.kit_id,
        units=body.units,
        honor_reserved=body.honor_reserved,
        shopping_list_id=body.shopping_list_id,
        new_list_name=body.new_list_name,
        new_list_description=body.new_list_description,
        note_prefix=body.note_prefix,
    )
    link = None
    if result.link is not None and result.shopping_list is not None:
        link = views.link_json(result.link, result.shopping_list, get_kit(path.kit_id))
    answer = {
        "noop": result.noop,
        "created_new_list": result.created_new_list,
        "lines_modified": result.lines_modified,
        "total_needed_quantity": result.total_needed_quantity,
        "link": link,
        "shopping_list": (
            views.detail_json(result.shopping_list) if result.shopping_list is not None else None
        ),
    }
    return _status(answer, 201 if result.created_new_list else 200)


@blueprint.delete(
    "/kit-shopping-list-links/<int:link_id>", responses={204: None, **error_responses(400, 404)}
)
def delete_link(path: LinkPath) -> Response:
    """Forget which kit filled a list; its lines stay."""
    service.delete_link(path.link_id)
    return Response(status=204)


@blueprint.post(
    "/kits/shopping-list-memberships/query", responses={200: None, **error_responses(400, 404)}
)
@requires_role(READER)  # a query sent as POST: readers may use it
def kit_memberships(body: KitMembershipQueryIn) -> Response:
    """The list links of each given kit, in the order asked (links to active lists only unless
    ``include_done``): two queries whatever the number of kits. An unknown kit is a 404."""
    missing = service.missing_kits(body.kit_ids)
    if missing:
        raise NotFound(f"kit(s) {', '.join(map(str, missing))} do not exist", {"kit_ids": missing})
    links = service.links_of_kits(body.kit_ids, include_done=body.include_done)
    return jsonify(
        {
            "memberships": [
                {
                    "kit_id": kit_id,
                    "memberships": [
                        views.link_json(link, row, kit) for link, row, kit in links[kit_id]
                    ],
                }
                for kit_id in body.kit_ids
            ]
        }
    )


# --- parts ------------------------------------------------------------------------------------


@blueprint.get(
    "/parts/<part_key>/shopping-list-memberships",
    responses={200: None, **error_responses(400, 404)},
)
def part_memberships(path: PartKeyPath) -> Response:
    """The part's lines on active lists that are not done."""
    part = get_part(path.part_key)
    lines = service.lines_of_parts([part.id])
    return jsonify(views.memberships_json(lines).get(part.id, []))


@blueprint.post(
    "/parts/<part_key>/shopping-list-memberships",
    responses={201: None, **error_responses(400, 404, 409)},
)
def add_part_membership(path: PartKeyPath, body: PartMembershipIn) -> Response:
    """Put the part on an active list; answers the new membership."""
    part = get_part(path.part_key)
    line = service.add_line(body.shopping_list_id, part, body.needed, body.note, body.seller_id)
    lines = {part.id: [(line, service.get_list(body.shopping_list_id))]}
    return _status(views.memberships_json(lines)[part.id][0], 201)


@blueprint.post(
    "/parts/shopping-list-memberships/query", responses={200: None, **error_responses(400, 404)}
)
@requires_role(READER)  # a query sent as POST: readers may use it
def part_memberships_query(body: PartMembershipQueryIn) -> Response:
    """The memberships of each given part, in the order asked: four queries whatever the number
    of parts. An unknown part key is a 404."""
    keys = list(body.part_keys)
    found: dict[str, int] = dict(tuples(Part.select(Part.key, Part.id).where(Part.key.in_(keys))))
    missing = sorted({key for key in keys if key not in found})
    if missing:
        raise NotFound(f"part(s) {', '.join(missing)} do not exist", {"part_keys": missing})
    lines = service.lines_of_parts(found.values(), include_done=bool(body.include_done))
    memberships: dict[int, list[dict[str, Any]]] = views.memberships_json(lines)
    return jsonify(
        {
            "memberships": [
                {"part_key": key, "memberships": memberships.get(found[key], [])} for key in keys
            ]
        }
    )
