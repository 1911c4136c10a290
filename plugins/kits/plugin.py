"""The kits plugin's hook implementations (entry point ``kits``); it needs the parts plugin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pluggy
from flask_openapi3 import APIBlueprint

from core.plugin_api import AttachableEntity, MigrationSource, hookimpl

#: Kits list parts: the parts plugin must be loaded (checked at start-up).
REQUIRES_PLUGINS = ("parts",)

MIGRATIONS = MigrationSource(
    "kits",
    Path(__file__).resolve().parent / "migrations",
    "migratehistory_kits",
    depends_on=("parts",),
)


@hookimpl
def register_hookspecs(plugin_manager: pluggy.PluginManager) -> None:
    from plugins.kits import hookspecs

    plugin_manager.add_hookspecs(hookspecs)


@hookimpl
def register_migrations() -> list[MigrationSource]:
    return [MIGRATIONS]


@hookimpl
def register_attachable_entities() -> list[AttachableEntity]:
    from plugins.kits.service import KIT_ENTITY

    return [KIT_ENTITY]


@hookimpl
def register_blueprints() -> list[APIBlueprint]:
    from plugins.kits import api

    return [api.blueprint]


@hookimpl
def part_kit_usages(part_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    from plugins.kits import usages

    return usages.part_kit_usages(part_ids)


@hookimpl
def part_deletion_blockers(part_id: int) -> list[str]:
    from plugins.kits import usages

    return usages.part_deletion_blockers(part_id)
