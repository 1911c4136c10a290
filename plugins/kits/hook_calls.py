"""What other plugins know about kits, asked through the kits hooks (one call per page)."""

from __future__ import annotations

from typing import Any

import pluggy

from core.plugin_api import get_state


def _merged(hook_name: str, kit_ids: list[int], include_done: bool) -> dict[int, list[Any]]:
    result: dict[int, list[Any]] = {kit_id: [] for kit_id in kit_ids}
    if not kit_ids:
        return result
    manager: pluggy.PluginManager = get_state().plugin_manager
    hook = getattr(manager.hook, hook_name)
    for answer in hook(kit_ids=list(kit_ids), include_done=include_done):
        for kit_id, items in (answer or {}).items():
            if kit_id in result:
                result[kit_id].extend(items)
    return result


def shopping_list_links(
    kit_ids: list[int], include_done: bool = False
) -> dict[int, list[dict[str, Any]]]:
    """``{kit_id: [link, ...]}`` for every given kit (``[]`` without a shopping-list plugin)."""
    return _merged("kit_shopping_list_links", kit_ids, include_done)


def pick_lists(kit_ids: list[int], include_done: bool = False) -> dict[int, list[dict[str, Any]]]:
    """``{kit_id: [pick list, ...]}`` for every given kit (``[]`` without a pick-list plugin)."""
    return _merged("kit_pick_lists", kit_ids, include_done)
