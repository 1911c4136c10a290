"""Kit content lines with their stock numbers, computed in a constant number of queries.

For a line of kit K needing part P:

- ``total_required`` = ``required_per_unit x K.build_target``
- ``in_stock``: from the parts plugin's ``part_stock_levels`` hook (0 when no plugin keeps stock)
- ``reserved``: the needs (``required_per_unit x build_target``) of the OTHER active kits for P
- ``available`` = ``max(in_stock - reserved, 0)``
- ``shortfall`` = ``max(total_required - available, 0)``
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from core.plugin_api import cover_urls
from plugins.kits.models import ACTIVE, Kit, KitContent
from plugins.parts.hook_calls import stock_levels
from plugins.parts.models import Part


@dataclass(frozen=True)
class ContentLine:
    """A content line with its part and computed numbers."""

    content: KitContent
    part: Part
    part_cover_url: str | None
    total_required: int
    in_stock: int
    reserved: int
    #: The other active kits that reserve this line's part (``KitReservationEntry`` dicts).
    active_reservations: tuple[dict[str, Any], ...] = ()

    @property
    def available(self) -> int:
        return max(self.in_stock - self.reserved, 0)

    @property
    def shortfall(self) -> int:
        return max(self.total_required - self.available, 0)


def reserved_by_other_kits(kit_id: int) -> dict[int, int]:
    """``{part_id: summed needs of the active kits other than kit_id}`` for the parts that kit
    ``kit_id`` lists (one query)."""
    return {
        part_id: sum(int(entry["reserved_quantity"]) for entry in entries)
        for part_id, entries in other_active_reservations(kit_id).items()
    }


def other_active_reservations(kit_id: int) -> dict[int, list[dict[str, Any]]]:
    """``{part_id: [{kit_id, kit_name, status, build_target, required_per_unit,
    reserved_quantity, updated_at}]}``: the active kits other than ``kit_id`` reserving the parts
    kit ``kit_id`` lists, by kit name (one query; ``updated_at`` as ISO text)."""
    parts_of_kit = KitContent.select(KitContent.part).where(KitContent.kit == kit_id)
    query = (
        KitContent.select(
            KitContent.part,
            Kit.id,
            Kit.name,
            Kit.build_target,
            KitContent.required_per_unit,
            Kit.updated_at,
        )
        .join(Kit, on=(KitContent.kit == Kit.id))
        .where(
            KitContent.part.in_(parts_of_kit) & (Kit.status == ACTIVE) & (Kit.id != kit_id)
        )
        .order_by(Kit.name, Kit.id)
        .tuples()
    )
    result: dict[int, list[dict[str, Any]]] = defaultdict(list)
    rows = cast(Iterable[tuple[int, int, str, int, int, dt.datetime]], query)
    for part_id, other_id, name, build_target, per_unit, updated_at in rows:
        result[part_id].append(
            {
                "kit_id": other_id,
                "kit_name": name,
                "status": ACTIVE,
                "build_target": build_target,
                "required_per_unit": per_unit,
                "reserved_quantity": per_unit * build_target,
                "updated_at": updated_at.isoformat() if updated_at else None,
            }
        )
    return result


def content_lines(kit: Kit, content_id: int | None = None) -> list[ContentLine]:
    """The kit's lines (oldest first), or just line ``content_id``, with parts, part covers and
    stock numbers: four queries and one hook call, whatever the number of lines."""
    query = (
        KitContent.select(KitContent, Part)
        .join(Part, on=(KitContent.part == Part.id))
        .where(KitContent.kit == kit.id)
        .order_by(KitContent.created_at, KitContent.id)
    )
    if content_id is not None:
        query = query.where(KitContent.id == content_id)
    rows = list(query)
    if not rows:
        return []
    part_ids = [row.part_id for row in rows]
    covers = cover_urls(row.part.attachment_set_id for row in rows)
    stock = stock_levels(part_ids)
    others = other_active_reservations(kit.id)
    return [
        ContentLine(
            content=row,
            part=row.part,
            part_cover_url=covers.get(row.part.attachment_set_id),
            total_required=row.required_per_unit * kit.build_target,
            in_stock=stock[row.part_id],
            reserved=sum(int(e["reserved_quantity"]) for e in others.get(row.part_id, [])),
            active_reservations=tuple(others.get(row.part_id, [])),
        )
        for row in rows
    ]
