"""Migrations: core and plugin sources, their order, upgrade and rollback on both databases."""

from __future__ import annotations

from pathlib import Path

import peewee
import pytest

from core.cli import cli
from core.migrations_runner import (
    CORE_SOURCE,
    MigrationError,
    Migrations,
    MigrationSource,
    order_sources,
)
from core.state import get_state

MIGRATION = """
def migrate(migrator, database, fake=False, **kwargs):
    migrator.sql("CREATE TABLE {table} (id INTEGER PRIMARY KEY)")


def rollback(migrator, database, fake=False, **kwargs):
    migrator.sql("DROP TABLE {table}")
"""


def _source(
    tmp_path: Path, name: str, table: str, depends_on: tuple[str, ...] = ()
) -> MigrationSource:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "001_initial.py").write_text(MIGRATION.format(table=table))
    return MigrationSource(name, folder, f"migratehistory_{name}", depends_on)


def _tables(database: peewee.Database) -> set[str]:
    return {t for t in database.get_tables() if not t.startswith(("migratehistory", "sqlite_"))}


def test_upgrade_rollback_upgrade(unmigrated_app, tmp_path: Path) -> None:
    database = get_state(unmigrated_app).database
    migrations = Migrations(database, [_source(tmp_path, "alpha", "alpha_things")])
    assert _tables(database) == set()

    applied = migrations.upgrade()
    assert "core:001_initial" in applied
    assert applied[-1] == "alpha:001_initial"
    assert {"attachment_sets", "attachments", "alpha_things"} <= _tables(database)

    rolled = migrations.rollback_all()
    assert rolled[0] == "alpha:001_initial"
    assert rolled[-1] == "core:001_initial"
    assert _tables(database) == set()

    assert migrations.upgrade() == applied
    assert migrations.upgrade() == []


def test_two_plugins_may_both_ship_001_initial(unmigrated_app, tmp_path: Path) -> None:
    database = get_state(unmigrated_app).database
    migrations = Migrations(
        database, [_source(tmp_path, "alpha", "alpha_t"), _source(tmp_path, "beta", "beta_t")]
    )
    migrations.upgrade()
    status = {row["source"]: row for row in migrations.status()}
    assert status["alpha"]["applied"] == ["001_initial"]
    assert status["beta"]["applied"] == ["001_initial"]
    assert {"alpha_t", "beta_t"} <= _tables(database)


def test_rollback_steps_go_plugins_first(unmigrated_app, tmp_path: Path) -> None:
    database = get_state(unmigrated_app).database
    migrations = Migrations(database, [_source(tmp_path, "alpha", "alpha_t")])
    migrations.upgrade()
    assert migrations.rollback(1) == ["alpha:001_initial"]
    assert "alpha_t" not in _tables(database)
    assert "attachments" in _tables(database)


def test_sources_are_ordered_by_dependency(tmp_path: Path) -> None:
    b = MigrationSource("b", tmp_path, "hist_b", ("a",))
    a = MigrationSource("a", tmp_path, "hist_a")
    assert [s.name for s in order_sources([b, a])] == ["core", "a", "b"]


def test_unknown_dependency_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match="unknown source 'nope'"):
        order_sources([MigrationSource("a", tmp_path, "hist_a", ("nope",))])


def test_dependency_cycle_is_an_error(tmp_path: Path) -> None:
    a = MigrationSource("a", tmp_path, "hist_a", ("b",))
    b = MigrationSource("b", tmp_path, "hist_b", ("a",))
    with pytest.raises(MigrationError, match="cycle"):
        order_sources([a, b])


def test_shared_history_table_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match="share the history table"):
        order_sources([MigrationSource("a", tmp_path, CORE_SOURCE.table)])


def test_migrate_command_status_and_rollback(unmigrated_app) -> None:
    runner = unmigrated_app.test_cli_runner()
    status = runner.invoke(cli, ["migrate", "--status"])
    assert status.exit_code == 0, status.output
    assert "[ ] 001_initial" in status.output

    upgrade = runner.invoke(cli, ["migrate"])
    assert upgrade.exit_code == 0, upgrade.output
    assert "applied core:001_initial" in upgrade.output
    assert "[x] 001_initial" in runner.invoke(cli, ["migrate", "--status"]).output

    again = runner.invoke(cli, ["migrate"])
    assert "no pending migrations" in again.output

    rollback = runner.invoke(cli, ["migrate", "--rollback", "99"])
    assert rollback.exit_code == 0, rollback.output
    assert "rolled back core:001_initial" in rollback.output
    assert _tables(get_state(unmigrated_app).database) == set()
