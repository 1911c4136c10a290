"""Migrations plus the post-migration steps (attachment-set backfill) for one app."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.migrations_runner import Migrations, MigrationSource
from core.plugins import collect_list
from core.state import PartsbinState


@dataclass
class MigrationReport:
    """What :func:`apply_migrations` did."""

    applied: list[str] = field(default_factory=list)
    backfilled: dict[str, int] = field(default_factory=dict)


def migrations_for(state: PartsbinState) -> Migrations:
    """The core's and every plugin's migration sources, in dependency order."""
    sources: list[MigrationSource] = [
        source for _plugin, source in collect_list(state.plugin_manager, "register_migrations")
    ]
    return Migrations(state.database, sources)


def apply_migrations(state: PartsbinState) -> MigrationReport:
    """Apply pending migrations, then give every owner row without a set a new one."""
    report = MigrationReport(applied=migrations_for(state).upgrade())
    from core.attachments.entities import backfill_sets, entity_registry

    for entity in entity_registry(state).values():
        report.backfilled[entity.name] = backfill_sets(entity)
    return report
