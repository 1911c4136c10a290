"""``/api/boxes``, ``/api/locations``, ``/api/inventory``, ``/api/parts/{key}/history`` and
``/api/dashboard``."""

from __future__ import annotations

from flask import Response, jsonify
from flask_openapi3 import APIBlueprint, Tag

from core.plugin_api import error_responses
from plugins.inventory import dashboard, service, views
from plugins.inventory.schemas import (
    BoxIn,
    BoxList,
    BoxLocationsQuery,
    BoxOut,
    BoxPath,
    BoxUsageOut,
    HistoryList,
    LocationOut,
    LocationPath,
    LowStockQuery,
    MoveIn,
    PartLocationOut,
    PartPath,
    RecentActivityQuery,
    StockIn,
    TypePath,
)
from plugins.parts.service import get_part

blueprint = APIBlueprint("inventory", __name__, url_prefix="/api", abp_tags=[Tag(name="inventory")])

_BOX = "/boxes/<int:box_no>"
_STOCK = "/inventory/parts/<key>"


def _status(body: object, status: int) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response


@blueprint.get("/boxes", responses={200: BoxList, **error_responses(400)})
def list_boxes() -> Response:
    """Every box by number, with how many of its locations hold stock."""
    return jsonify(views.box_list(service.list_boxes()))


@blueprint.post("/boxes", responses={201: BoxOut, **error_responses(400, 409)})
def create_box(body: BoxIn) -> Response:
    """Create the next box (numbered one above the highest) with locations 1..capacity."""
    return _status(views.box_detail(service.create_box(body.description, body.capacity)), 201)


@blueprint.get(_BOX, responses={200: BoxOut, **error_responses(400, 404)})
def get_box(path: BoxPath) -> Response:
    """One box with its locations."""
    return jsonify(views.box_detail(service.get_box(path.box_no)))


@blueprint.put(_BOX, responses={200: BoxOut, **error_responses(400, 404, 409)})
def update_box(path: BoxPath, body: BoxIn) -> Response:
    """Change description and capacity; shrinking below an occupied location is a 409
    ``LOCATION_OCCUPIED`` naming it."""
    box = service.update_box(path.box_no, body.description, body.capacity)
    return jsonify(views.box_detail(box))


@blueprint.delete(_BOX, responses={204: None, **error_responses(400, 404, 409)})
def delete_box(path: BoxPath) -> Response:
    """Delete an empty box with its locations and attachment set (409 ``BOX_NOT_EMPTY``)."""
    service.delete_box(path.box_no)
    return Response(status=204)


@blueprint.get(f"{_BOX}/locations", responses={200: None, **error_responses(400, 404)})
def box_locations(path: BoxPath, query: BoxLocationsQuery) -> Response:
    """The box's locations; ``include_parts=true`` adds ``is_occupied`` and
    ``part_assignments`` (key, qty, manufacturer_code, description, cover_url) to each."""
    box = service.get_box(path.box_no)
    return jsonify(views.box_locations(box, query.include_parts))


@blueprint.get(f"{_BOX}/usage", responses={200: BoxUsageOut, **error_responses(400, 404)})
def box_usage(path: BoxPath) -> Response:
    """How many of the box's locations hold stock."""
    box = service.get_box(path.box_no)
    return jsonify(views.usage_json(box, service.occupied_counts([box.id]).get(box.id, 0)))


@blueprint.get(
    "/locations/<int:box_no>/<int:loc_no>",
    responses={200: LocationOut, **error_responses(400, 404)},
)
def get_location(path: LocationPath) -> Response:
    """One location (404 naming the missing box or location)."""
    service.get_location(path.box_no, path.loc_no)
    return jsonify(service.location_json(path.box_no, path.loc_no))


@blueprint.post(f"{_STOCK}/stock", responses={201: PartLocationOut, **error_responses(400, 404)})
def add_stock(path: PartPath, body: StockIn) -> Response:
    """Add ``qty`` of the part to a location; answers what the location now holds of it."""
    assignment = service.add_stock(get_part(path.key), body.box_no, body.loc_no, body.qty)
    return _status(views.assignment_json(assignment), 201)


@blueprint.delete(f"{_STOCK}/stock", responses={204: None, **error_responses(400, 404, 409)})
def remove_stock(path: PartPath, body: StockIn) -> Response:
    """Take ``qty`` of the part out of a location (409 ``INSUFFICIENT_STOCK`` if fewer are there;
    the location is cleared when none is left)."""
    service.remove_stock(get_part(path.key), body.box_no, body.loc_no, body.qty)
    return Response(status=204)


@blueprint.post(f"{_STOCK}/move", responses={204: None, **error_responses(400, 404, 409)})
def move_stock(path: PartPath, body: MoveIn) -> Response:
    """Move ``qty`` of the part between two locations, atomically."""
    service.move_stock(
        get_part(path.key),
        (body.from_box_no, body.from_loc_no),
        (body.to_box_no, body.to_loc_no),
        body.qty,
    )
    return Response(status=204)


@blueprint.get(
    "/inventory/suggestions/<int:type_id>",
    responses={200: LocationOut, **error_responses(400, 404)},
)
def suggest_location(path: TypePath) -> Response:
    """A free location for a part of this type: next to parts of the same type where possible."""
    return jsonify(service.location_json(*service.suggest_location(path.type_id)))


@blueprint.get("/parts/<key>/history", responses={200: HistoryList, **error_responses(400, 404)})
def part_history(path: PartPath) -> Response:
    """Every change of the part's stock, newest first."""
    return jsonify([views.history_json(row) for row in service.history(get_part(path.key))])


# --- dashboard ----------------------------------------------------------------------------------


@blueprint.get("/dashboard/stats", responses={200: None, **error_responses(400)})
def dashboard_stats() -> Response:
    """Totals of parts, stock, boxes and types; stock changes in the last 7 and 30 days; how
    many parts are low on stock (at most 5, more than 0)."""
    return jsonify(dashboard.stats())


@blueprint.get("/dashboard/low-stock", responses={200: None, **error_responses(400)})
def dashboard_low_stock(query: LowStockQuery) -> Response:
    """Parts with stock at or below ``threshold`` (default 5), least first."""
    return jsonify(dashboard.low_stock(query.threshold))


@blueprint.get("/dashboard/recent-activity", responses={200: None, **error_responses(400)})
def dashboard_recent_activity(query: RecentActivityQuery) -> Response:
    """The latest stock changes (default 20), newest first."""
    return jsonify(dashboard.recent_activity(query.limit))


@blueprint.get("/dashboard/storage-summary", responses={200: None, **error_responses(400)})
def dashboard_storage_summary() -> Response:
    """Every box with its usage."""
    return jsonify(dashboard.storage_summary())


@blueprint.get("/dashboard/category-distribution", responses={200: None, **error_responses(400)})
def dashboard_category_distribution() -> Response:
    """How many parts each type has, most first."""
    return jsonify(dashboard.category_distribution())


@blueprint.get("/dashboard/parts-without-documents", responses={200: None, **error_responses(400)})
def dashboard_parts_without_documents() -> Response:
    """How many parts have no attachment at all, and the newest ten of them."""
    return jsonify(dashboard.parts_without_documents())
