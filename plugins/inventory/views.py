"""JSON shapes of boxes, locations, stock and history (lists in a constant number of queries)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from core.plugin_api import cover_urls
from plugins.inventory import service
from plugins.inventory.models import Box, QuantityHistory
from plugins.parts.models import Part


def iso(value: dt.datetime) -> str:
    return value.isoformat()


def usage_json(box: Box, occupied: int) -> dict[str, Any]:
    """``{box_no, total_locations, occupied_locations, available_locations, usage_percentage}``."""
    total = box.capacity
    return {
        "box_no": box.box_no,
        "total_locations": total,
        "occupied_locations": occupied,
        "available_locations": total - occupied,
        "usage_percentage": round(100.0 * occupied / total, 2) if total else 0.0,
    }


def _box_fields(box: Box, cover_url: str | None) -> dict[str, Any]:
    return {
        "box_no": box.box_no,
        "description": box.description,
        "capacity": box.capacity,
        "attachment_set_id": box.attachment_set_id,
        "cover_url": cover_url,
        "created_at": iso(box.created_at),
        "updated_at": iso(box.updated_at),
    }


def box_list(boxes: list[Box]) -> list[dict[str, Any]]:
    """Every box with its usage: three queries whatever the number of boxes."""
    occupied = service.occupied_counts()
    covers = cover_urls(box.attachment_set_id for box in boxes)
    return [
        {
            **_box_fields(box, covers.get(box.attachment_set_id)),
            **usage_json(box, occupied.get(box.id, 0)),
        }
        for box in boxes
    ]


def box_detail(box: Box) -> dict[str, Any]:
    """The box with the list of its locations."""
    cover = cover_urls([box.attachment_set_id]).get(box.attachment_set_id)
    locations = [service.location_json(box.box_no, n) for n in service.box_locations(box)]
    return {**_box_fields(box, cover), "locations": locations}


def box_locations(box: Box, include_parts: bool) -> list[dict[str, Any]]:
    """The box's locations; with ``include_parts`` each says what it holds (four queries)."""
    numbers = service.box_locations(box)
    if not include_parts:
        return [service.location_json(box.box_no, n) for n in numbers]
    held = service.assignments_in_box(box)
    part_ids = {a.part_id for assignments in held.values() for a in assignments}
    parts = (
        {part.id: part for part in Part.select().where(Part.id.in_(list(part_ids)))}
        if part_ids
        else {}
    )
    covers = cover_urls(part.attachment_set_id for part in parts.values())
    result = []
    for loc_no in numbers:
        assignments = held.get(loc_no, [])
        result.append(
            {
                **service.location_json(box.box_no, loc_no),
                "is_occupied": bool(assignments),
                "part_assignments": [
                    {
                        "key": a.key,
                        "qty": a.qty,
                        "manufacturer_code": parts[a.part_id].manufacturer_code,
                        "description": parts[a.part_id].description,
                        "cover_url": covers.get(parts[a.part_id].attachment_set_id),
                    }
                    for a in assignments
                ],
            }
        )
    return result


def assignment_json(assignment: service.Assignment) -> dict[str, Any]:
    """``{key, box_no, loc_no, qty}``."""
    return {
        "key": assignment.key,
        "box_no": assignment.box_no,
        "loc_no": assignment.loc_no,
        "qty": assignment.qty,
    }


def history_json(row: QuantityHistory) -> dict[str, Any]:
    """``{id, delta_qty, location_reference, timestamp}``."""
    return {
        "id": row.id,
        "delta_qty": row.delta_qty,
        "location_reference": row.location_reference,
        "timestamp": iso(row.created_at),
    }
