"""Live events as a core plugin: the ``events`` table's migrations and ``/api/sse/stream``."""

from __future__ import annotations

from pathlib import Path

import flask
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
def register_blueprints(app: flask.Flask) -> list[APIBlueprint]:
    from core.events.api import blueprint, stream_route
    from core.events.streams import add_stream_route

    add_stream_route(app, stream_route(app))
    return [blueprint]
