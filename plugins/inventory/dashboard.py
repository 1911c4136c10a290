"""Dashboard figures: each is one query (or a few), never one per part."""

from __future__ import annotations

import datetime as dt
from typing import Any

from peewee import JOIN, fn

from core.plugin_api import Attachment, tuples, utcnow
from plugins.inventory import service
from plugins.inventory.models import Box, PartLocation, QuantityHistory
from plugins.parts.models import Part, PartType

#: A part with stock at or below this total (and above zero) is low on stock.
LOW_STOCK_THRESHOLD = 5
#: How many parts without documents are listed as a sample.
UNDOCUMENTED_SAMPLE = 10


def _totals() -> Any:
    return (
        PartLocation.select(
            PartLocation.part.alias("part_id"), fn.SUM(PartLocation.qty).alias("qty")
        )
        .group_by(PartLocation.part)
        .alias("totals")
    )


def stats(now: dt.datetime | None = None) -> dict[str, int]:
    """``{total_parts, total_quantity, total_boxes, total_types, changes_7d, changes_30d,
    low_stock_count}``."""
    now = now or utcnow()
    totals = _totals()
    low = (
        Part.select(fn.COUNT(Part.id))
        .join(totals, on=(totals.c.part_id == Part.id))
        .where(totals.c.qty <= LOW_STOCK_THRESHOLD)
        .scalar()
    )
    return {
        "total_parts": Part.select().count(),
        "total_quantity": int(PartLocation.select(fn.SUM(PartLocation.qty)).scalar() or 0),
        "total_boxes": Box.select().count(),
        "total_types": PartType.select().count(),
        "changes_7d": _changes_since(now - dt.timedelta(days=7)),
        "changes_30d": _changes_since(now - dt.timedelta(days=30)),
        "low_stock_count": int(low or 0),
    }


def _changes_since(moment: dt.datetime) -> int:
    return int(QuantityHistory.select().where(QuantityHistory.created_at >= moment).count())


def low_stock(threshold: int) -> list[dict[str, Any]]:
    """Parts with stock at or below ``threshold`` (and above zero), least first."""
    totals = _totals()
    query = (
        Part.select(Part.key, Part.description, PartType.name, totals.c.qty)
        .join(totals, on=(totals.c.part_id == Part.id))
        .join(PartType, JOIN.LEFT_OUTER, on=(Part.part_type == PartType.id))
        .where(totals.c.qty <= threshold)
        .order_by(totals.c.qty, Part.key)
    )
    return [
        {
            "part_key": key,
            "description": description,
            "type_name": type_name,
            "current_quantity": int(qty),
        }
        for key, description, type_name, qty in tuples(query)
    ]


def recent_activity(limit: int) -> list[dict[str, Any]]:
    """The latest ``limit`` stock changes, newest first, with their parts."""
    query = (
        QuantityHistory.select(
            Part.key,
            Part.description,
            QuantityHistory.delta_qty,
            QuantityHistory.location_reference,
            QuantityHistory.created_at,
        )
        .join(Part, on=(QuantityHistory.part == Part.id))
        .order_by(QuantityHistory.created_at.desc(), QuantityHistory.id.desc())
        .limit(limit)
    )
    return [
        {
            "part_key": key,
            "part_description": description,
            "delta_qty": delta,
            "location_reference": reference,
            "timestamp": at.isoformat(),
        }
        for key, description, delta, reference, at in tuples(query)
    ]


def storage_summary() -> list[dict[str, Any]]:
    """Every box with its capacity, occupied locations and usage."""
    occupied = service.occupied_counts()
    result = []
    for box in service.list_boxes():
        used = occupied.get(box.id, 0)
        result.append(
            {
                "box_no": box.box_no,
                "description": box.description,
                "total_locations": box.capacity,
                "occupied_locations": used,
                "usage_percentage": round(100.0 * used / box.capacity, 2),
            }
        )
    return result


def category_distribution() -> list[dict[str, Any]]:
    """``[{type_name, part_count}]`` for every type with parts, most parts first."""
    query = (
        PartType.select(PartType.name, fn.COUNT(Part.id).alias("n"))
        .join(Part, on=(Part.part_type == PartType.id))
        .group_by(PartType.id, PartType.name)
        .order_by(fn.COUNT(Part.id).desc(), PartType.name)
    )
    return [{"type_name": name, "part_count": int(n)} for name, n in tuples(query)]


def parts_without_documents() -> dict[str, Any]:
    """``{count, sample_parts}``: parts whose attachment set holds nothing, newest first."""
    documented = Attachment.select(Attachment.attachment_set)
    undocumented = Part.select().where(Part.attachment_set.not_in(documented))
    sample = (
        Part.select(Part.key, Part.description, PartType.name)
        .join(PartType, JOIN.LEFT_OUTER, on=(Part.part_type == PartType.id))
        .where(Part.attachment_set.not_in(documented))
        .order_by(Part.created_at.desc(), Part.id.desc())
        .limit(UNDOCUMENTED_SAMPLE)
    )
    return {
        "count": undocumented.count(),
        "sample_parts": [
            {"part_key": key, "description": description, "type_name": type_name}
            for key, description, type_name in tuples(sample)
        ],
    }
