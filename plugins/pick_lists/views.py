"""JSON shapes of pick lists: summaries (numbers over their lines) and details (lines by box
and location), each in a constant number of queries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from peewee import Case, fn

from core.plugin_api import cover_urls, one_of, tuples
from plugins.inventory.models import Box, Location
from plugins.kits.models import Kit, KitContent
from plugins.parts.models import Part
from plugins.pick_lists.models import COMPLETED, OPEN, PickList, PickListLine


def iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def line_numbers(pick_list_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """``{pick_list_id: {line_count, open_line_count, completed_line_count,
    total_quantity_to_pick, picked_quantity, remaining_quantity}}`` (one query)."""
    ids = sorted(set(pick_list_ids))
    empty = {
        "line_count": 0,
        "open_line_count": 0,
        "completed_line_count": 0,
        "total_quantity_to_pick": 0,
        "picked_quantity": 0,
        "remaining_quantity": 0,
    }
    result = {pick_list_id: dict(empty) for pick_list_id in ids}
    if not ids:
        return result
    is_open = PickListLine.status == OPEN
    qty = PickListLine.quantity_to_pick
    query = (
        PickListLine.select(
            PickListLine.pick_list,
            fn.COUNT(PickListLine.id),
            fn.SUM(Case(None, [(is_open, 1)], 0)),
            fn.SUM(qty),
            fn.SUM(Case(None, [(PickListLine.status == COMPLETED, qty)], 0)),
            fn.SUM(Case(None, [(is_open, qty)], 0)),
        )
        .where(one_of(PickListLine.pick_list, ids))
        .group_by(PickListLine.pick_list)
    )
    for pick_list_id, count, open_count, total, picked, remaining in tuples(query):
        result[pick_list_id] = {
            "line_count": int(count),
            "open_line_count": int(open_count or 0),
            "completed_line_count": int(count) - int(open_count or 0),
            "total_quantity_to_pick": int(total or 0),
            "picked_quantity": int(picked or 0),
            "remaining_quantity": int(remaining or 0),
        }
    return result


def summary_json(pick_list: PickList, numbers: dict[str, int]) -> dict[str, Any]:
    """The contract's pick list summary."""
    return {
        "id": pick_list.id,
        "kit_id": pick_list.kit_id,
        "requested_units": pick_list.requested_units,
        "status": pick_list.status,
        "created_at": iso(pick_list.created_at),
        "updated_at": iso(pick_list.updated_at),
        "completed_at": iso(pick_list.completed_at),
        **numbers,
    }


def summaries(pick_lists: list[PickList]) -> list[dict[str, Any]]:
    numbers = line_numbers(row.id for row in pick_lists)
    return [summary_json(row, numbers[row.id]) for row in pick_lists]


def detail_lines(pick_list: PickList) -> list[dict[str, Any]]:
    """The list's lines by box, location and part key, with parts and covers (two queries)."""
    query = (
        PickListLine.select(
            PickListLine.id,
            PickListLine.status,
            PickListLine.quantity_to_pick,
            PickListLine.inventory_change_id,
            PickListLine.picked_at,
            KitContent.id.alias("content_id"),
            Part.id.alias("part_id"),
            Part.key.alias("part_key"),
            Part.description.alias("part_description"),
            Part.attachment_set.alias("part_set_id"),
            Location.id.alias("location_id"),
            Box.box_no,
            Location.loc_no,
            Box.description.alias("box_description"),
        )
        .join(KitContent, on=(PickListLine.kit_content == KitContent.id))
        .join(Part, on=(KitContent.part == Part.id))
        .switch(PickListLine)
        .join(Location, on=(PickListLine.location == Location.id))
        .join(Box, on=(Location.box == Box.id))
        .where(PickListLine.pick_list == pick_list.id)
        .order_by(Box.box_no, Location.loc_no, Part.key, PickListLine.id)
        .dicts()
    )
    rows: list[dict[str, Any]] = list(query)  # type: ignore[arg-type]
    covers = cover_urls(row["part_set_id"] for row in rows)
    return [
        {
            "id": row["id"],
            "status": row["status"],
            "quantity_to_pick": row["quantity_to_pick"],
            "inventory_change_id": row["inventory_change_id"],
            "picked_at": iso(row["picked_at"]),
            "kit_content": {
                "id": row["content_id"],
                "part_id": row["part_id"],
                "part_key": row["part_key"],
                "part_description": row["part_description"],
                "cover_url": covers.get(row["part_set_id"]),
            },
            "location": {
                "id": row["location_id"],
                "box_no": row["box_no"],
                "loc_no": row["loc_no"],
                "box_description": row["box_description"],
            },
        }
        for row in rows
    ]


def detail_json(pick_list: PickList) -> dict[str, Any]:
    """The contract's pick list detail: the summary, the kit's name and the lines."""
    kit_name = Kit.select(Kit.name).where(Kit.id == pick_list.kit_id).scalar()
    numbers = line_numbers([pick_list.id])[pick_list.id]
    return {
        **summary_json(pick_list, numbers),
        "kit_name": kit_name,
        "lines": detail_lines(pick_list),
    }
