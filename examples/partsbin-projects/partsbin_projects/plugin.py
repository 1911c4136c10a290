"""The hook implementations of partsbin-projects (entry point ``projects``).

Once the distribution is installed, Partsbin registers this module in every app it builds, so each
hook must be harmless for an app that never serves a project: the migrations only add the
``projects`` table, and the entity type only adds a (then empty) table to the set backfill and the
owner look-up.
"""

from __future__ import annotations

from pathlib import Path

from flask_openapi3 import APIBlueprint

from core.plugin_api import AttachableEntity, MigrationSource, hookimpl
from partsbin_projects.api import blueprint
from partsbin_projects.service import PROJECT_ENTITY

#: This plugin's migration folder (shipped as package data) and its own history table.
MIGRATIONS = MigrationSource(
    name="projects",
    path=Path(__file__).resolve().parent / "migrations",
    table="migratehistory_projects",
)


@hookimpl
def register_migrations() -> list[MigrationSource]:
    """The ``projects`` migration source (applied after the core's)."""
    return [MIGRATIONS]


@hookimpl
def register_attachable_entities() -> list[AttachableEntity]:
    """The ``project`` entity type: the core creates, deletes and backfills its sets."""
    return [PROJECT_ENTITY]


@hookimpl
def register_blueprints() -> list[APIBlueprint]:
    """``/api/projects``."""
    return [blueprint]
