"""What other plugins know about parts, asked through hooks (so parts never imports them).

Each function makes one hook call; every implementation answers for all given parts at once, so
lists stay at a constant number of queries.
"""

from __future__ import annotations

from typing import Any

import pluggy

from core.plugin_api import get_state


def _hook() -> Any:
    manager: pluggy.PluginManager = get_state().plugin_manager
    return manager.hook


def kit_usages(part_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """``{part_id: [usage, ...]}`` for every given part (``[]`` when unused), usages of all
    plugins merged and sorted by kit name then kit id."""
    result: dict[int, list[dict[str, Any]]] = {part_id: [] for part_id in part_ids}
    if not part_ids:
        return result
    for answer in _hook().part_kit_usages(part_ids=list(part_ids)):
        for part_id, usages in (answer or {}).items():
            if part_id in result:
                result[part_id].extend(usages)
    for usages in result.values():
        usages.sort(key=_by_kit_name)
    return result


def _merged_lists(
    hook_name: str, part_ids: list[int], **arguments: Any
) -> dict[int, list[dict[str, Any]]]:
    """``{part_id: [...]}`` for every given part: the lists every plugin's ``hook_name`` answers,
    concatenated in plugin order (``[]`` when no plugin says anything about a part)."""
    result: dict[int, list[dict[str, Any]]] = {part_id: [] for part_id in part_ids}
    if not part_ids:
        return result
    for answer in getattr(_hook(), hook_name)(part_ids=list(part_ids), **arguments):
        for part_id, items in (answer or {}).items():
            if part_id in result:
                result[part_id].extend(items)
    return result


def locations(part_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """``{part_id: [{box_no, loc_no, qty}, ...]}`` for every given part, by box then location
    (``[]`` until an inventory plugin implements ``part_locations``)."""
    result = _merged_lists("part_locations", part_ids)
    for items in result.values():
        items.sort(key=lambda item: (int(item.get("box_no") or 0), int(item.get("loc_no") or 0)))
    return result


def seller_links(part_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """``{part_id: [seller link, ...]}`` for every given part (``part_seller_links``; ``[]``
    without a sellers plugin)."""
    return _merged_lists("part_seller_links", part_ids)


def shopping_lists(
    part_ids: list[int], include_done: bool = False
) -> dict[int, list[dict[str, Any]]]:
    """``{part_id: [membership, ...]}`` for every given part (``[]`` until a shopping-list plugin
    implements ``part_shopping_lists``)."""
    return _merged_lists("part_shopping_lists", part_ids, include_done=include_done)


def _by_kit_name(usage: dict[str, Any]) -> tuple[str, int]:
    return str(usage.get("kit_name", "")).lower(), int(usage.get("kit_id") or 0)


def stock_levels(part_ids: list[int]) -> dict[int, int]:
    """``{part_id: quantity in stock}`` for every given part; 0 when no plugin keeps stock.

    When several plugins keep stock their quantities add up.
    """
    result = dict.fromkeys(part_ids, 0)
    if not part_ids:
        return result
    for answer in _hook().part_stock_levels(part_ids=list(part_ids)):
        for part_id, quantity in (answer or {}).items():
            if part_id in result:
                result[part_id] += int(quantity or 0)
    return result


def deletion_blockers(part_id: int) -> list[str]:
    """Every plugin's reasons why part ``part_id`` cannot be deleted (empty: it can)."""
    reasons: list[str] = []
    for answer in _hook().part_deletion_blockers(part_id=part_id):
        reasons.extend(str(reason) for reason in answer or [])
    return reasons
