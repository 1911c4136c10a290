"""The pick lists plugin's hook implementations (entry point ``pick_lists``)."""

from __future__ import annotations

from pathlib import Path

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
