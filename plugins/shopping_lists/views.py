"""JSON shapes of shopping lists (the established UI's contract), each in a constant number of
queries whatever the number of lines, sellers or parts."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from peewee import fn

from core.plugin_api import cover_urls, one_of, tuples
from plugins.inventory.models import Box, Location, PartLocation
from plugins.kits.models import Kit
from plugins.parts.models import Part
from plugins.sellers.models import Seller, SellerLink
from plugins.sellers.views import logo_urls
from plugins.shopping_lists.models import (
    LINE_DONE,
    LINE_STATUSES,
    ORDERED,
    KitShoppingListLink,
    ShoppingList,
    ShoppingListLine,
    ShoppingListSeller,
)

UNGROUPED = "ungrouped"


def iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


# --- sellers ----------------------------------------------------------------------------------


def sellers_json(seller_ids: Iterable[int | None]) -> dict[int, dict[str, Any]]:
    """``{seller_id: {id, name, website, logo_url}}`` (two queries)."""
    ids = sorted({seller_id for seller_id in seller_ids if seller_id is not None})
    if not ids:
        return {}
    sellers = list(Seller.select().where(Seller.id.in_(ids)))
    logos = logo_urls(sellers)
    return {
        seller.id: {
            "id": seller.id,
            "name": seller.name,
            "website": seller.website,
            "logo_url": logos[seller.id],
        }
        for seller in sellers
    }


# --- lines ------------------------------------------------------------------------------------


def _mismatch(line: ShoppingListLine) -> bool:
    return (line.status == LINE_DONE or line.received > 0) and line.received != line.ordered


def line_list_json(line: ShoppingListLine, list_active: bool = True) -> dict[str, Any]:
    """The light line of ``GET /api/shopping-lists/{id}/lines`` (no part, seller or stock)."""
    return {
        "id": line.id,
        "shopping_list_id": line.shopping_list_id,
        "part_id": line.part_id,
        "seller_id": line.seller_id,
        "needed": line.needed,
        "ordered": line.ordered,
        "received": line.received,
        "note": line.note,
        "status": line.status,
        "can_receive": list_active and line.status == ORDERED,
        "has_quantity_mismatch": _mismatch(line),
        "completion_mismatch": line.completion_mismatch,
        "completion_note": line.completion_note,
        "completed_at": iso(line.completed_at),
        "created_at": iso(line.created_at),
        "updated_at": iso(line.updated_at),
    }


def _part_locations(part_ids: list[int]) -> dict[int, list[dict[str, int]]]:
    if not part_ids:
        return {}
    query = (
        PartLocation.select(
            PartLocation.part, PartLocation.id, Box.box_no, Location.loc_no, PartLocation.qty
        )
        .join(Location, on=(PartLocation.location == Location.id))
        .join(Box, on=(Location.box == Box.id))
        .where(PartLocation.part.in_(part_ids))
        .order_by(Box.box_no, Location.loc_no)
    )
    result: dict[int, list[dict[str, int]]] = defaultdict(list)
    for part_id, row_id, box_no, loc_no, qty in tuples(query):
        result[part_id].append({"id": row_id, "box_no": box_no, "loc_no": loc_no, "qty": qty})
    return result


def _seller_links(part_ids: list[int]) -> dict[tuple[int, int], str]:
    if not part_ids:
        return {}
    query = SellerLink.select(SellerLink.part, SellerLink.seller, SellerLink.link).where(
        SellerLink.part.in_(part_ids)
    )
    return {(part_id, seller_id): link for part_id, seller_id, link in tuples(query)}


def lines_json(
    lines: Sequence[ShoppingListLine],
    list_active: bool,
    sellers: dict[int, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Full lines (part with cover, stock locations, seller, seller link): five queries at
    most for any number of lines (fewer when ``sellers`` is given)."""
    part_ids = sorted({line.part_id for line in lines})
    parts = {part.id: part for part in Part.select().where(Part.id.in_(part_ids))} if lines else {}
    covers = cover_urls(part.attachment_set_id for part in parts.values())
    locations = _part_locations(part_ids)
    links = _seller_links(part_ids)
    if sellers is None:
        sellers = sellers_json(line.seller_id for line in lines)
    result = []
    for line in lines:
        part = parts[line.part_id]
        result.append(
            {
                **line_list_json(line, list_active),
                "part": {
                    "key": part.key,
                    "description": part.description,
                    "manufacturer_code": part.manufacturer_code,
                    "cover_url": covers.get(part.attachment_set_id),
                },
                "part_locations": locations.get(line.part_id, []),
                "seller": sellers.get(line.seller_id) if line.seller_id else None,
                "seller_link": (
                    links.get((line.part_id, line.seller_id)) if line.seller_id else None
                ),
            }
        )
    return result


def one_line(line: ShoppingListLine) -> dict[str, Any]:
    active = (
        ShoppingList.select(ShoppingList.status)
        .where(ShoppingList.id == line.shopping_list_id)
        .scalar()
        == "active"
    )
    return lines_json([line], active)[0]


def _lines_of(list_id: int) -> list[ShoppingListLine]:
    return list(
        ShoppingListLine.select()
        .where(ShoppingListLine.shopping_list == list_id)
        .order_by(ShoppingListLine.created_at, ShoppingListLine.id)
    )


# --- lists ------------------------------------------------------------------------------------


def line_counts(list_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """``{list_id: {new, ordered, done}}`` (one query)."""
    ids = sorted(set(list_ids))
    result = {list_id: dict.fromkeys(LINE_STATUSES, 0) for list_id in ids}
    if not ids:
        return result
    query = (
        ShoppingListLine.select(
            ShoppingListLine.shopping_list, ShoppingListLine.status, fn.COUNT(ShoppingListLine.id)
        )
        .where(one_of(ShoppingListLine.shopping_list, ids))
        .group_by(ShoppingListLine.shopping_list, ShoppingListLine.status)
    )
    for list_id, status, count in tuples(query):
        result[list_id][status] = int(count)
    return result


def summary_json(shopping_list: ShoppingList, counts: dict[str, int]) -> dict[str, Any]:
    """The list item of ``GET /api/shopping-lists``."""
    return {
        "id": shopping_list.id,
        "name": shopping_list.name,
        "description": shopping_list.description,
        "status": shopping_list.status,
        "created_at": iso(shopping_list.created_at),
        "updated_at": iso(shopping_list.updated_at),
        "line_counts": counts,
    }


def summaries(lists: Sequence[ShoppingList]) -> list[dict[str, Any]]:
    counts = line_counts(row.id for row in lists)
    return [summary_json(row, counts[row.id]) for row in lists]


def _totals(lines: Iterable[dict[str, Any]]) -> dict[str, int]:
    lines = list(lines)
    return {
        "needed": sum(line["needed"] for line in lines),
        "ordered": sum(line["ordered"] for line in lines),
        "received": sum(line["received"] for line in lines),
    }


def _group_json(
    seller_id: int | None,
    group: ShoppingListSeller | None,
    seller: dict[str, Any] | None,
    lines: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "group_key": str(seller_id) if seller_id is not None else UNGROUPED,
        "seller_id": seller_id,
        "seller": seller,
        "note": group.note if group is not None else "",
        "status": group.status if group is not None else None,
        "completed": bool(lines) and all(line["status"] == LINE_DONE for line in lines),
        "totals": _totals(lines),
        "lines": lines,
    }


def _groups(list_id: int) -> list[ShoppingListSeller]:
    return list(ShoppingListSeller.select().where(ShoppingListSeller.shopping_list == list_id))


def detail_json(shopping_list: ShoppingList) -> dict[str, Any]:
    """The list with its lines and its seller groups: the ungrouped bucket first, then one
    group per seller by name (persisted groups, and sellers of done lines whose group was
    deleted). Eight queries whatever the size."""
    lines = _lines_of(shopping_list.id)
    groups = {group.seller_id: group for group in _groups(shopping_list.id)}
    sellers = sellers_json([*groups, *(line.seller_id for line in lines)])
    full = lines_json(lines, shopping_list.status == "active", sellers)
    by_seller: dict[int | None, list[dict[str, Any]]] = defaultdict(list)
    for line in full:
        by_seller[line["seller_id"]].append(line)
    seller_ids = sorted(
        {*groups, *(sid for sid in by_seller if sid is not None)},
        key=lambda sid: (sellers[sid]["name"].lower(), sid),
    )
    seller_groups = [_group_json(None, None, None, by_seller.get(None, []))]
    seller_groups += [
        _group_json(sid, groups.get(sid), sellers[sid], by_seller.get(sid, []))
        for sid in seller_ids
    ]
    counts = dict.fromkeys(LINE_STATUSES, 0)
    for row in lines:
        counts[row.status] += 1
    return {**summary_json(shopping_list, counts), "lines": full, "seller_groups": seller_groups}


def group_json(group: ShoppingListSeller) -> dict[str, Any]:
    """One seller group with its lines (six queries)."""
    active = (
        ShoppingList.select(ShoppingList.status)
        .where(ShoppingList.id == group.shopping_list_id)
        .scalar()
        == "active"
    )
    lines = list(
        ShoppingListLine.select()
        .where(
            (ShoppingListLine.shopping_list == group.shopping_list_id)
            & (ShoppingListLine.seller == group.seller_id)
        )
        .order_by(ShoppingListLine.created_at, ShoppingListLine.id)
    )
    sellers = sellers_json([group.seller_id])
    full = lines_json(lines, active, sellers)
    return _group_json(group.seller_id, group, sellers[group.seller_id], full)


def lines_only_json(shopping_list: ShoppingList) -> dict[str, Any]:
    """``{lines: [light line, ...]}``."""
    active = shopping_list.status == "active"
    return {"lines": [line_list_json(line, active) for line in _lines_of(shopping_list.id)]}


# --- kit links and memberships ----------------------------------------------------------------


def _stale(link: KitShoppingListLink, kit: Kit) -> bool:
    return bool(kit.updated_at and kit.updated_at > link.snapshot_kit_updated_at)


def link_json(link: KitShoppingListLink, shopping_list: ShoppingList, kit: Kit) -> dict[str, Any]:
    """A kit's link to a list, seen from the kit (``KitShoppingListLinkSchema``)."""
    return {
        "id": link.id,
        "shopping_list_id": shopping_list.id,
        "shopping_list_name": shopping_list.name,
        "status": shopping_list.status,
        "requested_units": link.requested_units,
        "honor_reserved": link.honor_reserved,
        "is_stale": _stale(link, kit),
        "snapshot_kit_updated_at": iso(link.snapshot_kit_updated_at),
        "created_at": iso(link.created_at),
        "updated_at": iso(link.updated_at),
    }


def kit_chip_json(link: KitShoppingListLink, kit: Kit) -> dict[str, Any]:
    """A list's link to a kit, seen from the list (``KitChipSchema``)."""
    return {
        "id": link.id,
        "kit_id": kit.id,
        "kit_name": kit.name,
        "kit_status": kit.status,
        "requested_units": link.requested_units,
        "honor_reserved": link.honor_reserved,
        "is_stale": _stale(link, kit),
        "snapshot_kit_updated_at": iso(link.snapshot_kit_updated_at),
        "created_at": iso(link.created_at),
        "updated_at": iso(link.updated_at),
    }


def membership_json(
    line: ShoppingListLine, shopping_list: ShoppingList, seller: dict[str, Any] | None
) -> dict[str, Any]:
    """A part's line on a list (``PartShoppingListMembershipSchema``)."""
    return {
        "shopping_list_id": shopping_list.id,
        "shopping_list_name": shopping_list.name,
        "shopping_list_status": shopping_list.status,
        "line_id": line.id,
        "line_status": line.status,
        "needed": line.needed,
        "ordered": line.ordered,
        "received": line.received,
        "note": line.note,
        "seller": seller,
    }


def memberships_json(
    lines: dict[int, list[tuple[ShoppingListLine, ShoppingList]]],
) -> dict[int, list[dict[str, Any]]]:
    """``{part_id: [membership, ...]}`` for the result of ``service.lines_of_parts`` (two more
    queries for the sellers)."""
    sellers = sellers_json(line.seller_id for pairs in lines.values() for line, _list in pairs)
    return {
        part_id: [
            membership_json(line, row, sellers.get(line.seller_id) if line.seller_id else None)
            for line, row in pairs
        ]
        for part_id, pairs in lines.items()
    }
