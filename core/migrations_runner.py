"""Applies the core's and every plugin's peewee-migrate migrations in dependency order.

Each :class:`MigrationSource` has its own folder and its own history table, so two plugins can
both ship ``001_initial.py``. The core's source (``core``, folder ``migrations/``, table
``migratehistory``) always runs first; plugins follow, ordered by ``depends_on``.

Rollback undoes migrations *as applied*: the last migration undone first, whatever its source,
ordered by the history rows' ``migrated_at`` (ties: dependency order of the sources, then the
row id). A migration of a source that another source depends on (every source depends on the
core) is never undone while that dependent source still has an applied migration: the
dependent's tables and code may use anything its dependencies created, and which migration they
rely on cannot be known. Such a rollback is refused before anything changes, naming both.
"""

from __future__ import annotations

import datetime as dt
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


class RollbackRefused(MigrationError):
    """A rollback would undo a migration that an applied dependent source relies on."""


@dataclass(frozen=True)
class AppliedMigration:
    """One row of a source's history table: ``source:name``, applied at ``migrated_at`` (UTC)."""

    source: str
    name: str
    migrated_at: dt.datetime
    id: int

    def __str__(self) -> str:
        return f"{self.source}:{self.name}"


def _utc_naive(value: dt.datetime | str) -> dt.datetime:
    """``migrated_at`` as a naive UTC datetime (SQLite may hand back the stored text)."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


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

    def _source(self, name: str) -> MigrationSource:
        for source in self.sources:
            if source.name == name:
                return source
        known = ", ".join(s.name for s in self.sources)
        raise MigrationError(f"no migration source named {name!r} (known: {known})")

    def _dependents(self, name: str) -> list[str]:
        """Names of the sources that depend on ``name``, directly or through others."""
        found: list[str] = []
        for source in self.sources:  # dependency order: a source's dependencies come first
            deps = set(source.depends_on) | ({"core"} if source.name != "core" else set())
            if source.name != name and (name in deps or deps & set(found)):
                found.append(source.name)
        return found

    def upgrade(self) -> list[str]:
        """Apply every pending migration; return ``["source:name", ...]`` in applied order."""
        applied = []
        for source in self.sources:
            for name in self._router(source).run():
                applied.append(f"{source.name}:{name}")
        return applied

    def status(self, source: str | None = None) -> list[dict[str, Any]]:
        """``[{"source", "applied": [...], "pending": [...]}]`` for each source in order.

        ``source`` limits the list to that source (:class:`MigrationError` if there is none).
        """
        sources = [self._source(source)] if source is not None else self.sources
        result = []
        for src in sources:
            router = self._router(src)
            result.append({"source": src.name, "applied": router.done, "pending": router.diff})
        return result

    def applied(self) -> list[AppliedMigration]:
        """Every applied migration of every source, oldest first (the order rollback reverses).

        Ordered by ``migrated_at``; ties by the sources' dependency order, then by row id.
        """
        rows: list[tuple[dt.datetime, int, int, AppliedMigration]] = []
        for position, source in enumerate(self.sources):
            history = self._router(source).model
            for row in history.select().order_by(history.id):
                at = _utc_naive(row.migrated_at)
                migration = AppliedMigration(source.name, row.name, at, row.id)
                rows.append((at, position, row.id, migration))
        rows.sort(key=lambda r: r[:3])
        return [r[3] for r in rows]

    def plan_rollback(self, steps: int = 1, source: str | None = None) -> list[AppliedMigration]:
        """The migrations ``rollback(steps, source)`` would undo, in that order; changes nothing.

        The last ``steps`` applied migrations (of ``source`` only, if given), newest first; fewer
        if fewer are applied. Raises :class:`RollbackRefused`, naming both sources, when one of
        them belongs to a source that another source depends on while that dependent would still
        have an applied migration at that point; :class:`MigrationError` for an unknown source.
        """
        if source is not None:
            self._source(source)
        applied = self.applied()
        remaining: dict[str, int] = {}
        for migration in applied:
            remaining[migration.source] = remaining.get(migration.source, 0) + 1
        candidates = [m for m in reversed(applied) if source is None or m.source == source]
        plan = candidates[:steps]
        for migration in plan:
            for dependent in self._dependents(migration.source):
                if remaining.get(dependent, 0):
                    raise RollbackRefused(
                        f"cannot roll back {migration}: migration source {dependent!r} depends on "
                        f"{migration.source!r} and still has applied migrations; roll back "
                        f"{dependent!r} first (partsbin migrate --rollback N --source {dependent})"
                    )
            remaining[migration.source] -= 1
        return plan

    def rollback(self, steps: int = 1, source: str | None = None) -> list[str]:
        """Undo the last ``steps`` applied migrations as applied (see :meth:`plan_rollback`).

        Returns ``["source:name", ...]`` in rollback order. The whole plan is checked before
        anything is undone; each migration is undone in its own transaction.
        """
        rolled: list[str] = []
        for migration in self.plan_rollback(steps, source):
            router = self._router(self._source(migration.source))  # fresh: replays what is applied
            done = router.done
            if not done or done[-1] != migration.name:  # the history changed under us
                raise MigrationError(
                    f"cannot roll back {migration}: the last applied migration of "
                    f"{migration.source!r} is now {done[-1] if done else 'none'!r}"
                )
            router.rollback()
            rolled.append(str(migration))
        return rolled

    def rollback_all(self) -> list[str]:
        """Roll back every applied migration of every source."""
        total = len(self.applied())
        return self.rollback(total) if total else []
