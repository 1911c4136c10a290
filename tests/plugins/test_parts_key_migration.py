"""Parts migration 002: keys of four to eight letters, enforced by the database, both ways."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import peewee
import pytest
from flask import Flask

from core.app import create_app
from core.db import close_database
from core.migrate import apply_migrations, migrations_for
from core.migrations_runner import MigrationError
from core.state import get_state

OTHER_PLUGINS = "kits,inventory,sellers,pick_lists,shopping_lists"
#: A CHECK violation (IntegrityError), or on PostgreSQL a value longer than the column (DataError).
REFUSED = (peewee.IntegrityError, peewee.DataError)


@pytest.fixture
def parts_app(app_config: dict[str, Any]) -> Iterator[Flask]:
    app = create_app({**app_config, "disable_plugins": OTHER_PLUGINS})
    with app.app_context():
        apply_migrations(get_state(app))
    yield app
    close_database(get_state(app).database)
    get_state(app).storage.close()


def _insert(app: Flask, key: str) -> None:
    database = get_state(app).database
    p = database.param
    with database.atomic():
        database.execute_sql(
            f"INSERT INTO attachment_sets (created_at, updated_at) VALUES ({p}, {p})",
            ("2026-01-01", "2026-01-01"),
        )
        (set_id,) = database.execute_sql("SELECT max(id) FROM attachment_sets").fetchone()
        database.execute_sql(
            'INSERT INTO parts ("key", description, attachment_set_id, created_at, updated_at) '
            f"VALUES ({p}, 'd', {p}, {p}, {p})",
            (key, set_id, "2026-01-01", "2026-01-01"),
        )


def test_the_database_takes_four_to_eight_capital_letters(parts_app: Flask) -> None:
    with parts_app.app_context():
        for key in ("ABCD", "ABCDE", "ABCDEFGH"):
            _insert(parts_app, key)
        for bad in ("ABC", "ABCDEFGHI", "abcd", "AB1D", "ABC "):
            with pytest.raises(REFUSED):
                _insert(parts_app, bad)


def test_rollback_is_refused_while_a_longer_key_exists_then_restores_four(
    parts_app: Flask,
) -> None:
    with parts_app.app_context():
        migrations = migrations_for(get_state(parts_app))
        _insert(parts_app, "ABCDE")
        with pytest.raises((MigrationError, RuntimeError), match="longer keys"):
            migrations.rollback(1, source="parts")
        database = get_state(parts_app).database
        database.execute_sql("""DELETE FROM parts WHERE "key" = 'ABCDE'""")

        assert migrations.rollback(1, source="parts") == ["parts:002_longer_keys"]
        _insert(parts_app, "WXYZ")
        with pytest.raises(REFUSED):
            _insert(parts_app, "ABCDE")

        assert migrations.upgrade() == ["parts:002_longer_keys"]
        _insert(parts_app, "ABCDE")
        keys = {row[0] for row in database.execute_sql('SELECT "key" FROM parts')}
        assert keys == {"WXYZ", "ABCDE"}
