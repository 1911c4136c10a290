"""The hooks through which other plugins tell the kits plugin about kits.

The kits plugin adds these specs in ``register_hookspecs``; the shopping-list and pick-list
plugins implement them. Each answers for many kits at once (constant queries per page).
"""

from __future__ import annotations

from typing import Any

from core.plugin_api import hookspec


@hookspec
def kit_shopping_list_links(
    kit_ids: list[int], include_done: bool
) -> dict[int, list[dict[str, Any]]] | None:
    """Return, for each given kit id, the shopping lists it is linked to: dicts ``{id,
    shopping_list_id, shopping_list_name, status, requested_units, honor_reserved,
    snapshot_kit_updated_at, is_stale, created_at, updated_at}``; lists that are done only with
    ``include_done``. Kits without links may be absent; ``None``: the plugin keeps none."""


@hookspec
def kit_pick_lists(
    kit_ids: list[int], include_done: bool
) -> dict[int, list[dict[str, Any]]] | None:
    """Return, for each given kit id, its pick lists: dicts ``{id, kit_id, requested_units,
    status, created_at, updated_at, completed_at, line_count, open_line_count,
    completed_line_count, total_quantity_to_pick, picked_quantity, remaining_quantity}``;
    completed ones only with ``include_done``. Kits without pick lists may be absent."""
