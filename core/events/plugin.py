"""Live events as a core plugin: the ``events`` table's migrations and ``/api/sse/stream``."""

from __future__ import annotations

from pathlib import Path

from flask_openapi3 import APIBlueprint

from core.migrations_runner import MigrationSource
from core.plugins import hookimpl

MIGRATIONS = MigrationSource(
    "events", Path(__file__).resolve().parent / "migrations", "migratehistory_events"
)


@hookimpl
def register_migrations() -> list[MigrationSource]:
    return [MIGRATIONS]


@hookimpl
def register_blueprints() -> list[APIBlueprint]:
    from core.events.api import blueprint

    return [blueprint]
