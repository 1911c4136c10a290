"""Background tasks as a core plugin: the ``tasks`` table's migrations and ``/api/tasks``."""

from __future__ import annotations

from pathlib import Path

from flask_openapi3 import APIBlueprint

from core.migrations_runner import MigrationSource
from core.plugins import hookimpl

MIGRATIONS = MigrationSource(
    "tasks",
    Path(__file__).resolve().parent / "migrations",
    "migratehistory_tasks",
)


@hookimpl
def register_migrations() -> list[MigrationSource]:
    return [MIGRATIONS]


@hookimpl
def register_blueprints() -> list[APIBlueprint]:
    from core.tasks.api import blueprint

    return [blueprint]
