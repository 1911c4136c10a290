"""Applies the core's and every plugin's peewee-migrate migrations in dependency order.

Each :class:`MigrationSource` has its own folder and its own history table, so two plugins can
both ship ``001_initial.py``. The core's source (``core``, folder ``migrations/``, table
``migratehistory``) always runs first; plugins follow, ordered by ``depends_on``.
"""

from __future__ import annotations

import graphlib
import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import peewee
from peewee_migrate import Router
from peewee_migrate.models import MigrateHistory

log = logging.getLogger("partsbin.migrate")

CORE_MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


@dataclass(frozen=True)
class MigrationSource:
    """A folder of migrations with its own history table.

    ``name`` identifies the source in ``depends_on`` lists and in ``partsbin migrate --status``.
    """

    name: str
    path: Path
    table: str
    depends_on: tuple[str, ...] = field(default=())


CORE_SOURCE = MigrationSource("core", CORE_MIGRATIONS, "migratehistory")


class MigrationError(Exception):
    """Migration sources are inconsistent (unknown dependency, cycle, duplicate table)."""


class _Router(Router):
    """peewee-migrate's router with a history model of its own.

    The stock router points the shared ``MigrateHistory`` class at its table, so two routers in one
    process would read each other's history. Each of ours binds a private subclass instead.
    """

    @cached_property
    def model(self) -> type[MigrateHistory]:
        class History(MigrateHistory):
            class Meta:
                database = self.database
                table_name = self.migrate_table

        History.create_table(safe=True)
        return History


def order_sources(sources: list[MigrationSource]) -> list[MigrationSource]:
    """Return ``sources`` with the core first and every source after its dependencies.

    Raises :class:`MigrationError` for duplicate names or tables, unknown dependencies or cycles.
    """
    by_name: dict[str, MigrationSource] = {}
    tables: dict[str, str] = {}
    for source in [CORE_SOURCE, *sources]:
        if source.name in by_name:
            raise MigrationError(f"two migration sources are named {source.name!r}")
        if source.table in tables:
            raise MigrationError(
                f"migration sources {tables[source.table]!r} and {source.name!r} share the "
                f"history table {source.table!r}"
            )
        by_name[source.name] = source
        tables[source.table] = source.name
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for source in by_name.values():
        deps = set(source.depends_on) | ({"core"} if source.name != "core" else set())
        for dep in deps:
            if dep not in by_name:
                raise MigrationError(
                    f"migration source {source.name!r} depends on unknown source {dep!r}"
                )
        sorter.add(source.name, *sorted(deps))
    try:
        order = list(sorter.static_order())
    except graphlib.CycleError as exc:
        raise MigrationError(f"migration sources depend on each other in a cycle: {exc}") from exc
    return [by_name[name] for name in order]


class Migrations:
    """Upgrade, inspect and roll back every source against one database."""

    def __init__(self, database: peewee.Database, sources: list[MigrationSource]) -> None:
        self.database = database
        self.sources = order_sources(sources)

    def _router(self, source: MigrationSource) -> _Router:
        return _Router(
            self.database, migrate_dir=source.path, migrate_table=source.table, logger=log
        )

    def upgrade(self) -> list[str]:
        """Apply every pending migration; return ``["source:name", ...]`` in applied order."""
        applied = []
        for source in self.sources:
            for name in self._router(source).run():
                applied.append(f"{source.name}:{name}")
        return applied

    def status(self) -> list[dict[str, Any]]:
        """``[{"source", "applied": [...], "pending": [...]}]`` for each source in order."""
        result = []
        for source in self.sources:
            router = self._router(source)
            result.append({"source": source.name, "applied": router.done, "pending": router.diff})
        return result

    def rollback(self, steps: int = 1) -> list[str]:
        """Roll back the last ``steps`` applied migrations, plugins before the core.

        Returns ``["source:name", ...]`` in rollback order.
        """
        rolled: list[str] = []
        for source in reversed(self.sources):
            while len(rolled) < steps:
                router = self._router(source)  # fresh: its migrator replays what is applied now
                done = router.done
                if not done:
                    break
                router.rollback()
                rolled.append(f"{source.name}:{done[-1]}")
            if len(rolled) >= steps:
                break
        return rolled

    def rollback_all(self) -> list[str]:
        """Roll back every applied migration of every source."""
        total = sum(len(self._router(s).done) for s in self.sources)
        return self.rollback(total) if total else []
