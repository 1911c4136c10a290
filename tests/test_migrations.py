"""Migrations: core and plugin sources, their order, upgrade and rollback on both databases."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import peewee
import pytest
from flask import Flask

from core.app import create_app
from core.cli import cli
from core.db import close_database
from core.migrate import apply_migrations, migrations_for
from core.migrations_runner import (
    CORE_SOURCE,
    MigrationError,
    Migrations,
    MigrationSource,
    RollbackRefused,
    order_sources,
)
from core.plugin_api import is_sqlite
from core.plugins import hookimpl
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


# --- rollback as applied, --source, dependency refusal, --dry-run ---------------------------------

SECOND = """
def migrate(migrator, database, fake=False, **kwargs):
    migrator.sql("ALTER TABLE {table} ADD COLUMN extra INTEGER NULL")


def rollback(migrator, database, fake=False, **kwargs):
    migrator.sql("DROP TABLE {table}")
    migrator.sql("CREATE TABLE {table} (id INTEGER PRIMARY KEY)")
"""


def _add_second(source: MigrationSource, table: str) -> None:
    (source.path / "002_extra.py").write_text(SECOND.format(table=table))


class _MigrationsPlugin:
    """A plugin object that only registers migration sources."""

    def __init__(self, *sources: MigrationSource) -> None:
        self.sources = list(sources)

    @hookimpl
    def register_migrations(self) -> list[MigrationSource]:
        return self.sources


@pytest.fixture
def gadgets(tmp_path: Path) -> MigrationSource:
    """A plugin source at 001 whose 002 a test "installs" with :func:`_add_second`."""
    return _source(tmp_path, "gadgets", "gadgets")


@pytest.fixture
def gadgets_app(app_config: dict[str, Any], gadgets: MigrationSource) -> Iterator[Flask]:
    """An app with the built-in plugins and ``gadgets``, every 001 applied (gadgets' last).

    ``pick_lists`` and ``shopping_lists`` (which depend on kits) are disabled, so kits is a leaf
    the tests may undo.
    """
    app = create_app(
        {**app_config, "disable_plugins": "pick_lists,shopping_lists"},
        plugins=[_MigrationsPlugin(gadgets)],
    )
    app.config["TESTING"] = True
    with app.app_context():
        app.config["APPLIED_AT_START"] = apply_migrations(get_state(app)).applied
    yield app
    close_database(get_state(app).database)
    get_state(app).storage.close()


def _migrations(app: Flask) -> Migrations:
    return migrations_for(get_state(app))


def test_rollback_after_a_plugins_002_undoes_only_that_002(gadgets_app, gadgets) -> None:
    _add_second(gadgets, "gadgets")
    migrations = _migrations(gadgets_app)
    assert migrations.upgrade() == ["gadgets:002_extra"]

    assert migrations.rollback(1) == ["gadgets:002_extra"]

    tables = _tables(get_state(gadgets_app).database)
    assert {"kits", "kit_contents", "parts", "gadgets"} <= tables
    status = {row["source"]: row for row in migrations.status()}
    assert status["kits"]["applied"] == ["001_initial"]
    assert status["gadgets"] == {
        "source": "gadgets",
        "applied": ["001_initial"],
        "pending": ["002_extra"],
    }


def test_cli_rollback_after_a_plugins_002_undoes_only_that_002(gadgets_app, gadgets) -> None:
    _add_second(gadgets, "gadgets")
    runner = gadgets_app.test_cli_runner()
    assert "applied gadgets:002_extra" in runner.invoke(cli, ["migrate"]).output

    result = runner.invoke(cli, ["migrate", "--rollback"])

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["rolled back gadgets:002_extra"]
    assert "kits" in _tables(get_state(gadgets_app).database)


def test_rollback_goes_newest_first_across_sources(gadgets_app, gadgets) -> None:
    _add_second(gadgets, "gadgets")
    migrations = _migrations(gadgets_app)
    migrations.upgrade()

    first_run = gadgets_app.config["APPLIED_AT_START"]  # core, parts, kits and gadgets' 001

    rolled = migrations.rollback(3)

    assert rolled == ["gadgets:002_extra", first_run[-1], first_run[-2]]


def test_applied_order_ties_follow_source_order_then_id(gadgets_app) -> None:
    migrations = _migrations(gadgets_app)
    for source in migrations.sources:
        history = migrations._router(source).model
        history.update(migrated_at=dt.datetime(2020, 1, 1)).execute()

    names = [str(m) for m in migrations.applied()]

    assert names == [
        f"{row['source']}:{name}" for row in migrations.status() for name in row["applied"]
    ]


def test_source_limits_rollback_to_that_source(gadgets_app, gadgets) -> None:
    migrations = _migrations(gadgets_app)
    _add_second(gadgets, "gadgets")
    migrations.upgrade()

    assert migrations.rollback(1, source="kits") == ["kits:001_initial"]
    status = {row["source"]: row["applied"] for row in migrations.status()}
    assert status["gadgets"] == ["001_initial", "002_extra"]
    assert status["kits"] == []


def test_cli_source_limits_rollback_to_that_source(gadgets_app) -> None:
    result = gadgets_app.test_cli_runner().invoke(
        cli, ["migrate", "--rollback", "5", "--source", "gadgets"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["rolled back gadgets:001_initial"]
    assert "kits" in _tables(get_state(gadgets_app).database)


def test_unknown_source_is_an_error(gadgets_app) -> None:
    result = gadgets_app.test_cli_runner().invoke(
        cli, ["migrate", "--rollback", "--source", "nope"]
    )
    assert result.exit_code != 0
    assert "no migration source named 'nope'" in result.output


def test_rolling_back_a_source_an_applied_source_depends_on_is_refused(gadgets_app) -> None:
    migrations = _migrations(gadgets_app)
    before = migrations.applied()

    with pytest.raises(RollbackRefused, match=r"parts:002_longer_keys.*'\w+' depends on 'parts'"):
        migrations.rollback(1, source="parts")

    assert migrations.applied() == before
    assert "parts" in _tables(get_state(gadgets_app).database)


def test_cli_refuses_rolling_back_a_depended_on_source_naming_both(gadgets_app) -> None:
    result = gadgets_app.test_cli_runner().invoke(
        cli, ["migrate", "--rollback", "--source", "parts"]
    )
    assert result.exit_code != 0
    assert "cannot roll back parts:002_longer_keys" in result.output
    assert re.search(r"'\w+' depends on 'parts'", result.output), result.output
    assert "parts" in _tables(get_state(gadgets_app).database)


def test_as_applied_rollback_refuses_a_dependencys_newer_migration(
    unmigrated_app, tmp_path: Path
) -> None:
    database = get_state(unmigrated_app).database
    base = _source(tmp_path, "base", "base_t")
    addon = _source(tmp_path, "addon", "addon_t", depends_on=("base",))
    migrations = Migrations(database, [base, addon])
    migrations.upgrade()
    _add_second(base, "base_t")
    assert migrations.upgrade() == ["base:002_extra"]

    with pytest.raises(RollbackRefused, match=r"base:002_extra.*'addon' depends on 'base'"):
        migrations.rollback(1)
    assert migrations.plan_rollback(1, source="addon")[0].name == "001_initial"


def test_a_refused_step_later_in_the_plan_changes_nothing(unmigrated_app, tmp_path: Path) -> None:
    database = get_state(unmigrated_app).database
    base = _source(tmp_path, "base", "base_t")
    addon = _source(tmp_path, "addon", "addon_t", depends_on=("base",))
    Migrations(database, [base, addon]).upgrade()
    _add_second(base, "base_t")
    Migrations(database, [base, addon]).upgrade()
    other = _source(tmp_path, "other", "other_t")
    migrations = Migrations(database, [base, addon, other])
    assert migrations.upgrade() == ["other:001_initial"]
    before = migrations.applied()

    with pytest.raises(RollbackRefused, match="cannot roll back base:002_extra"):
        migrations.rollback(2)

    assert migrations.applied() == before
    assert "other_t" in _tables(database)


def test_dry_run_lists_and_changes_nothing(gadgets_app, gadgets) -> None:
    _add_second(gadgets, "gadgets")
    migrations = _migrations(gadgets_app)
    migrations.upgrade()
    before = (migrations.applied(), _tables(get_state(gadgets_app).database))

    result = gadgets_app.test_cli_runner().invoke(cli, ["migrate", "--rollback", "3", "--dry-run"])

    assert result.exit_code == 0, result.output
    first_run = gadgets_app.config["APPLIED_AT_START"]
    assert result.output.splitlines() == [
        "would roll back gadgets:002_extra",
        f"would roll back {first_run[-1]}",
        f"would roll back {first_run[-2]}",
    ]
    assert (migrations.applied(), _tables(get_state(gadgets_app).database)) == before


def test_dry_run_reports_a_refusal(gadgets_app) -> None:
    result = gadgets_app.test_cli_runner().invoke(
        cli, ["migrate", "--rollback", "--source", "core", "--dry-run"]
    )
    assert result.exit_code != 0
    assert "cannot roll back core:" in result.output  # the core's latest migration
    assert "roll back 'gadgets' first" in result.output


def test_status_source_shows_only_that_source(gadgets_app, gadgets) -> None:
    _add_second(gadgets, "gadgets")
    runner = gadgets_app.test_cli_runner()
    result = runner.invoke(cli, ["migrate", "--status", "--source", "gadgets"])

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["gadgets:", "  [x] 001_initial", "  [ ] 002_extra"]


def test_status_source_api(gadgets_app) -> None:
    assert _migrations(gadgets_app).status("kits") == [
        {"source": "kits", "applied": ["001_initial"], "pending": []}
    ]


def test_is_sqlite_accepts_a_database_or_a_proxy(tmp_path: Path) -> None:
    sqlite = peewee.SqliteDatabase(str(tmp_path / "x.db"))
    proxy = peewee.DatabaseProxy()
    proxy.initialize(sqlite)
    assert is_sqlite(sqlite) and is_sqlite(proxy)
    assert not is_sqlite(peewee.PostgresqlDatabase("nowhere"))
    with pytest.raises(RuntimeError, match="not initialised"):
        is_sqlite(peewee.DatabaseProxy())


def test_source_without_rollback_or_status_is_a_usage_error(gadgets_app) -> None:
    result = gadgets_app.test_cli_runner().invoke(cli, ["migrate", "--source", "gadgets"])

    assert result.exit_code == 2
    assert "--source and --dry-run go with --rollback or --status" in result.output
    assert _migrations(gadgets_app).status("gadgets")[0]["applied"] == ["001_initial"]


def test_the_blob_key_rename_keeps_the_data_both_ways(db_url: str) -> None:
    """Core migration 003 renames ``s3_key``/``preview_s3_key`` in place, and back."""
    from playhouse.db_url import connect

    from core.migrations_runner import CORE_SOURCE, _Router

    database = connect(db_url)
    router = _Router(database, migrate_dir=CORE_SOURCE.path, migrate_table=CORE_SOURCE.table)
    router.run("002_auth")
    database.execute_sql(
        "INSERT INTO attachment_sets (created_at, updated_at) VALUES (?, ?)".replace(
            "?", database.param
        ),
        ("2024-01-01", "2024-01-01"),
    )
    insert = (
        "INSERT INTO attachments (attachment_set_id, attachment_type, title, s3_key, "
        "preview_s3_key, created_at, updated_at) VALUES (1, 'image', 't', 'cas/aa', 'cas/bb', "
        "'2024-01-01', '2024-01-01')"
    )
    database.execute_sql(insert)

    router.run()
    assert list(database.execute_sql("SELECT blob_key, preview_blob_key FROM attachments")) == [
        ("cas/aa", "cas/bb")
    ]
    router.rollback()
    assert list(database.execute_sql("SELECT s3_key, preview_s3_key FROM attachments")) == [
        ("cas/aa", "cas/bb")
    ]
    database.close()
