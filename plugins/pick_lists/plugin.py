"""The pick lists plugin's hook implementations (entry point ``pick_lists``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask_openapi3 import APIBlueprint

from core.plugin_api import MigrationSource, hookimpl

#: Pick lists build kits out of stock: kits and inventory (and so parts) must be loaded.
REQUIRES_PLUGINS = ("parts", "kits", "inventory")

MIGRATIONS = MigrationSource(
    "pick_lists",
    Path(__file__).resolve().parent / "migrations",
    "migratehistory_pick_lists",
    depends_on=("kits", "inventory"),
)


@hookimpl
def register_migrations() -> list[MigrationSource]:
    return [MIGRATIONS]


@hookimpl
def register_blueprints() -> list[APIBlueprint]:
    from plugins.pick_lists import api

    return [api.blueprint]


@hookimpl
def kit_pick_lists(
    kit_ids: list[int], include_done: bool = True
) -> dict[int, list[dict[str, Any]]]:
    """The kits' pick lists, newest first, with their line numbers (two queries)."""
    from plugins.pick_lists import service, views

    lists = service.lists_of_kits(kit_ids, include_done=include_done)
    numbers = views.line_numbers(row.id for rows in lists.values() for row in rows)
    return {
        kit_id: [views.summary_json(row, numbers[row.id]) for row in rows]
        for kit_id, rows in lists.items()
    }
