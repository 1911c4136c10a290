"""Kit content lines with their stock numbers, computed in a constant number of queries.

For a line of kit K needing part P:

- ``total_required`` = ``required_per_unit x K.build_target``
- ``in_stock``: from the parts plugin's ``part_stock_levels`` hook (0 when no plugin keeps stock)
- ``reserved``: the needs (``required_per_unit x build_target``) of the OTHER active kits for P
- ``available`` = ``max(in_stock - reserved, 0)``
- ``shortfall`` = ``max(total_required - available, 0)``
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

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

    @property
    def available(self) -> int:
        return max(self.in_stock - self.reserved, 0)

    @property
    def shortfall(self) -> int:
        return max(self.total_required - self.available, 0)


def reserved_by_other_kits(kit_id: int) -> dict[int, int]:
    """``{part_id: summed needs of the active kits other than kit_id}`` for the parts that kit
    ``kit_id`` lists (one query)."""
    parts_of_kit = KitContent.select(KitContent.part).where(KitContent.kit == kit_id)
    query = (
        KitContent.select(KitContent.part, KitContent.required_per_unit, Kit.build_target)
        .join(Kit, on=(KitContent.kit == Kit.id))
        .where(
            KitContent.part.in_(parts_of_kit) & (Kit.status == ACTIVE) & (Kit.id != kit_id)
        )
        .tuples()
    )
    reserved: dict[int, int] = defaultdict(int)
    for part_id, per_unit, build_target in cast(Iterable[tuple[int, int, int]], query):
        reserved[part_id] += per_unit * build_target
    return reserved


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
    reserved = reserved_by_other_kits(kit.id)
    return [
        ContentLine(
            content=row,
            part=row.part,
            part_cover_url=covers.get(row.part.attachment_set_id),
            total_required=row.required_per_unit * kit.build_target,
            in_stock=stock[row.part_id],
            reserved=reserved.get(row.part_id, 0),
        )
        for row in rows
    ]
