"""JSON shapes of types and parts. List shapes batch every lookup (constant query count)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from typing import Any

from core.plugin_api import cas_url, cover_urls
from plugins.parts import hook_calls
from plugins.parts.models import Part, PartType


def iso(value: dt.datetime | None) -> str | None:
    """ISO 8601 text of a timestamp, or ``None``."""
    return value.isoformat() if value else None


def type_json(row: PartType, part_count: int | None = None) -> dict[str, Any]:
    """``{id, name, created_at, updated_at}``, plus ``part_count`` when given."""
    result: dict[str, Any] = {"id": row.id, "name": row.name}
    if part_count is not None:
        result["part_count"] = part_count
    result["created_at"] = iso(row.created_at)
    result["updated_at"] = iso(row.updated_at)
    return result


def part_json(
    part: Part,
    cover_url: str | None,
    total_quantity: int = 0,
    seller_links: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The part as the API returns it. ``part`` must come from the parts service (with its
    ``type_name``).

    ``total_quantity`` comes from the ``part_stock_levels`` hook, ``seller_links`` from
    ``part_seller_links``.
    """
    return {
        "id": part.id,
        "key": part.key,
        "description": part.description,
        "manufacturer_code": part.manufacturer_code,
        "manufacturer": part.manufacturer,
        "product_page": part.product_page,
        "type_id": part.type_id,
        "type": {"id": part.type_id, "name": part.type_name}  # type: ignore[attr-defined]
        if part.type_id is not None
        else None,
        "tags": list(part.tags or []),
        "package": part.package,
        "pin_count": part.pin_count,
        "pin_pitch": part.pin_pitch,
        "voltage_rating": part.voltage_rating,
        "input_voltage": part.input_voltage,
        "output_voltage": part.output_voltage,
        "mounting_type": part.mounting_type,
        "series": part.series,
        "dimensions": part.dimensions,
        "attachment_set_id": part.attachment_set_id,
        "cover_url": cover_url,
        "total_quantity": total_quantity,
        "seller_links": [_seller_link_json(link) for link in seller_links],
        "created_at": iso(part.created_at),
        "updated_at": iso(part.updated_at),
    }


def one_part(part: Part) -> dict[str, Any]:
    """A single part with its cover URL, ``total_quantity``, ``seller_links`` and
    ``used_in_kits`` (whether an active kit reserves it): one query and three hook calls."""
    result = part_json(
        part,
        cover_urls([part.attachment_set_id]).get(part.attachment_set_id),
        hook_calls.stock_levels([part.id])[part.id],
        hook_calls.seller_links([part.id])[part.id],
    )
    usages = hook_calls.kit_usages([part.id])[part.id]
    result["used_in_kits"] = any(usage.get("status") == "active" for usage in usages)
    return result


def usage_json(usage: dict[str, Any]) -> dict[str, Any]:
    """A kit usage as the API returns it (timestamps as ISO text)."""
    result = {
        name: usage.get(name)
        for name in (
            "kit_id", "kit_name", "status", "build_target", "required_per_unit",
            "reserved_quantity", "updated_at",
        )
    }
    if isinstance(result["updated_at"], dt.datetime):
        result["updated_at"] = iso(result["updated_at"])
    return result


def part_list(parts: Sequence[Part], include: Collection[str] = ()) -> list[dict[str, Any]]:
    """List items of parts as :func:`~plugins.parts.service.list_parts` returns them (each with
    its ``cover_key``): two hook calls for all parts (``total_quantity``,
    ``seller_links``), plus one hook call per ``include`` token: ``kits`` adds
    ``kits: [usage...]``, ``locations`` adds ``locations: [{box_no, loc_no, qty}]``,
    ``shopping_lists`` adds ``shopping_lists: [membership...]`` (each ``[]`` when no plugin
    provides that data), ``stock`` adds ``in_stock`` (the same number as
    ``total_quantity``)."""
    ids = [part.id for part in parts]
    stock = hook_calls.stock_levels(ids)
    links = hook_calls.seller_links(ids)
    usages = hook_calls.kit_usages(ids) if "kits" in include else None
    places = hook_calls.locations(ids) if "locations" in include else None
    lists = hook_calls.shopping_lists(ids) if "shopping_lists" in include else None
    items = []
    for part in parts:
        cover = cas_url(part.cover_key)  # type: ignore[attr-defined]
        item = part_json(part, cover, stock[part.id], links[part.id])
        if places is not None:
            item["locations"] = [location_json(place) for place in places[part.id]]
        if usages is not None:
            item["kits"] = [usage_json(usage) for usage in usages[part.id]]
        if lists is not None:
            item["shopping_lists"] = lists[part.id]
        if "stock" in include:
            item["in_stock"] = stock[part.id]
        items.append(item)
    return items


def _seller_link_json(link: dict[str, Any]) -> dict[str, Any]:
    result = {
        name: link.get(name)
        for name in (
            "id", "seller_id", "seller_name", "seller_website", "link", "logo_url", "created_at",
        )
    }
    if isinstance(result["created_at"], dt.datetime):
        result["created_at"] = iso(result["created_at"])
    return result


def location_json(location: dict[str, Any]) -> dict[str, Any]:
    """A location as part lists return it: ``{box_no, loc_no, qty}``."""
    return {name: location.get(name) for name in ("box_no", "loc_no", "qty")}


def kit_reservations_json(part: Part, usages: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``GET /api/parts/{key}/kit-reservations``: the active kits reserving the part and the
    sum of what they reserve."""
    active = [usage_json(usage) for usage in usages if usage.get("status") == "active"]
    return {
        "part_id": part.id,
        "part_key": part.key,
        "part_description": part.description,
        "total_reserved": sum(int(usage["reserved_quantity"] or 0) for usage in active),
        "active_reservations": active,
    }
