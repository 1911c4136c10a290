"""The parts plugin's hook implementations (registered from ``core.plugins.DEFAULT_PLUGINS``)."""

from __future__ import annotations

from pathlib import Path

from flask_openapi3 import APIBlueprint

from core.attachments.entities import AttachableEntity
from core.migrations_runner import MigrationSource
from core.plugins import hookimpl

MIGRATIONS = MigrationSource(
    "parts", Path(__file__).resolve().parent / "migrations", "migratehistory_parts"
)


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
