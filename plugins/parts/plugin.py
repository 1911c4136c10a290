"""The parts plugin's hook implementations (entry point ``parts``).

It also defines the hooks other plugins implement to tell it about parts
(:mod:`plugins.parts.hookspecs`)."""

from __future__ import annotations

from pathlib import Path

import pluggy
from flask_openapi3 import APIBlueprint

from core.plugin_api import AttachableEntity, MigrationSource, hookimpl

MIGRATIONS = MigrationSource(
    "parts", Path(__file__).resolve().parent / "migrations", "migratehistory_parts"
)


@hookimpl
def register_hookspecs(plugin_manager: pluggy.PluginManager) -> None:
    from plugins.parts import hookspecs

    plugin_manager.add_hookspecs(hookspecs)


@hookimpl
def register_migrations() -> list[MigrationSource]:
    return [MIGRATIONS]


@hookimpl
def register_attachable_entities() -> list[AttachableEntity]:
    from plugins.parts.service import PART_ENTITY

    return [PART_ENTITY]


@hookimpl
def register_blueprints() -> list[APIBlueprint]:
    from plugins.parts import api, types_api

    return [types_api.blueprint, api.blueprint]
