"""JSON shapes of kits, kit details and content lines (every list in constant queries)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from core.plugin_api import cover_urls
from plugins.kits import hook_calls
from plugins.kits.availability import ContentLine, content_lines
from plugins.kits.models import Kit


def iso(value: dt.datetime | None) -> str | None:
    """ISO 8601 text of a timestamp, or ``None``."""
    return value.isoformat() if value else None


def kit_json(
    kit: Kit, cover_url: str | None, shopping_badge: int = 0, pick_badge: int = 0
) -> dict[str, Any]:
    """``{id, name, description, status, build_target, archived_at, attachment_set_id,
    cover_url, shopping_list_badge_count, pick_list_badge_count, created_at, updated_at}``.

    The badge counts are the kit's open shopping-list links and pick lists (kits hooks)."""
    return {
        "id": kit.id,
        "name": kit.name,
        "description": kit.description,
        "status": kit.status,
        "build_target": kit.build_target,
        "archived_at": iso(kit.archived_at),
        "attachment_set_id": kit.attachment_set_id,
        "cover_url": cover_url,
        "shopping_list_badge_count": shopping_badge,
        "pick_list_badge_count": pick_badge,
        "created_at": iso(kit.created_at),
        "updated_at": iso(kit.updated_at),
    }


def kit_list(kits: Sequence[Kit]) -> list[dict[str, Any]]:
    """List items: one cover query and two hook calls (badge counts) for all kits."""
    covers = cover_urls(kit.attachment_set_id for kit in kits)
    ids = [kit.id for kit in kits]
    links, picks = hook_calls.shopping_list_links(ids), hook_calls.pick_lists(ids)
    return [
        kit_json(kit, covers.get(kit.attachment_set_id), len(links[kit.id]), len(picks[kit.id]))
        for kit in kits
    ]


def content_json(line: ContentLine) -> dict[str, Any]:
    """A content line with its part summary and stock numbers."""
    content, part = line.content, line.part
    return {
        "id": content.id,
        "kit_id": content.kit_id,
        "part_id": content.part_id,
        "part": {
            "key": part.key,
            "description": part.description,
            "manufacturer_code": part.manufacturer_code,
            "cover_url": line.part_cover_url,
        },
        "required_per_unit": content.required_per_unit,
        "note": content.note,
        "version": content.version,
        "total_required": line.total_required,
        "in_stock": line.in_stock,
        "reserved": line.reserved,
        "available": line.available,
        "shortfall": line.shortfall,
        "active_reservations": list(line.active_reservations),
        "created_at": iso(content.created_at),
        "updated_at": iso(content.updated_at),
    }


def kit_detail(kit: Kit) -> dict[str, Any]:
    """The kit with ``contents``: a constant number of queries whatever the number of lines."""
    cover = cover_urls([kit.attachment_set_id]).get(kit.attachment_set_id)
    links = hook_calls.shopping_list_links([kit.id])[kit.id]
    picks = hook_calls.pick_lists([kit.id], include_done=True)[kit.id]
    open_picks = [p for p in picks if p.get("status") != "completed"]
    return {
        **kit_json(kit, cover, len(links), len(open_picks)),
        "contents": [content_json(line) for line in content_lines(kit)],
        "shopping_list_links": links,
        "pick_lists": picks,
    }


def one_content(kit: Kit, content_id: int) -> dict[str, Any]:
    """One content line of ``kit`` as in the detail."""
    return content_json(content_lines(kit, content_id)[0])
