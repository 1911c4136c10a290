"""The shopping lists plugin's hook implementations (entry point ``shopping_lists``).

It answers the parts plugin's ``part_shopping_lists`` (``include=shopping_lists``) and
``part_deletion_blockers`` (a part on a list cannot be deleted), and the sellers plugin's
``seller_deletion_blockers`` (a seller that lines or seller groups use cannot be deleted).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask_openapi3 import APIBlueprint

from core.plugin_api import MigrationSource, hookimpl

#: Lines are parts bought from sellers, filled from kits and received into the inventory.
REQUIRES_PLUGINS = ("parts", "kits", "sellers", "inventory")

MIGRATIONS = MigrationSource(
    "shopping_lists",
    Path(__file__).resolve().parent / "migrations",
    "migratehistory_shopping_lists",
    depends_on=("parts", "kits", "sellers"),
)


@hookimpl
def register_migrations() -> list[MigrationSource]:
    return [MIGRATIONS]


@hookimpl
def register_blueprints() -> list[APIBlueprint]:
    from plugins.shopping_lists import api

    return [api.blueprint]


@hookimpl
def part_shopping_lists(
    part_ids: list[int], include_done: bool = False
) -> dict[int, list[dict[str, Any]]]:
    """The parts' lines on active lists that are not done, or all with ``include_done`` (three
    queries)."""
    from plugins.shopping_lists import service, views

    return views.memberships_json(service.lines_of_parts(part_ids, include_done=include_done))


@hookimpl
def kit_shopping_list_links(
    kit_ids: list[int], include_done: bool = True
) -> dict[int, list[dict[str, Any]]]:
    """The kits' links to shopping lists, newest first (one query)."""
    from plugins.shopping_lists import service

    return service.kit_links_of_kits(kit_ids, include_done=include_done)


@hookimpl
def part_deletion_blockers(part_id: int) -> list[str]:
    from plugins.shopping_lists import service

    return service.part_deletion_blockers(part_id)


@hookimpl
def seller_deletion_blockers(seller_id: int) -> list[str]:
    from plugins.shopping_lists import service

    return service.seller_deletion_blockers(seller_id)
