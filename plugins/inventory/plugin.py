"""The inventory plugin's hook implementations (entry point ``inventory``).

It answers the parts plugin's hooks: ``part_stock_levels`` (total quantity, kit availability),
``part_locations`` (``include=locations``, ``/api/parts/{key}/locations``) and
``part_deletion_blockers`` (a part with stock cannot be deleted).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask_openapi3 import APIBlueprint

from core.plugin_api import AttachableEntity, MigrationSource, hookimpl

#: Stock belongs to parts: the parts plugin must be loaded.
REQUIRES_PLUGINS = ("parts",)

MIGRATIONS = MigrationSource(
    "inventory",
    Path(__file__).resolve().parent / "migrations",
    "migratehistory_inventory",
    depends_on=("parts",),
)


@hookimpl
def register_migrations() -> list[MigrationSource]:
    return [MIGRATIONS]


@hookimpl
def register_attachable_entities() -> list[AttachableEntity]:
    from plugins.inventory.service import BOX_ENTITY

    return [BOX_ENTITY]


@hookimpl
def register_blueprints() -> list[APIBlueprint]:
    from plugins.inventory import api

    return [api.blueprint]


@hookimpl
def part_stock_levels(part_ids: list[int]) -> dict[int, int]:
    from plugins.inventory import service

    return service.stock_levels(part_ids)


@hookimpl
def part_locations(part_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    from plugins.inventory import service, views

    return {
        part_id: [views.assignment_json(a) for a in assignments]
        for part_id, assignments in service.part_assignments(part_ids).items()
    }


@hookimpl
def part_deletion_blockers(part_id: int) -> list[str]:
    from plugins.inventory import service

    return service.deletion_blockers(part_id)
