"""Testing mode as a core plugin: ``/api/testing/*`` only when ``PARTSBIN_TESTING=1``.

Its migrations (the forced-errors table) apply whatever the setting: migrations do not depend on
settings, and turning testing mode on later must not need a migration.
"""

from __future__ import annotations

from pathlib import Path

import flask
from flask_openapi3 import APIBlueprint

from core.migrations_runner import MigrationSource
from core.plugins import hookimpl
from core.state import get_state

MIGRATIONS = MigrationSource(
    "testing", Path(__file__).resolve().parent / "migrations", "migratehistory_testing"
)


@hookimpl
def register_migrations() -> list[MigrationSource]:
    return [MIGRATIONS]


@hookimpl
def register_blueprints(app: flask.Flask) -> list[APIBlueprint]:
    if not get_state(app).settings.testing:
        return []
    from core.events.streams import add_stream_route
    from core.testing_mode import logs
    from core.testing_mode.api import blueprint

    add_stream_route(app, logs.stream_route(app))
    return [blueprint]
