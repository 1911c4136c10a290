"""The parts and kits migrations: own history tables, dependency order, rollback."""

from __future__ import annotations

from core.migrate import migrations_for
from core.state import get_state

PLUGIN_TABLES = {"types", "parts", "kits", "kit_contents", "boxes", "part_locations"}
PLUGIN_MIGRATIONS = {"parts:001_initial", "kits:001_initial", "inventory:001_initial"}


def test_plugins_keep_their_own_history_and_kits_run_after_parts(app) -> None:
    state = get_state(app)
    with app.app_context():
        status = migrations_for(state).status()
    sources = [entry["source"] for entry in status]
    assert sources.index("core") < sources.index("parts") < sources.index("kits")
    tables = set(state.database.get_tables())
    assert {"migratehistory_parts", "migratehistory_kits"} <= tables
    assert PLUGIN_TABLES <= tables


def test_rollback_drops_the_plugin_tables_and_upgrade_reseeds(app, client) -> None:
    state = get_state(app)
    types_before = client.get("/api/types").json
    with app.app_context():
        migrations = migrations_for(state)
        rolled = migrations.rollback(3)
        assert set(rolled) == PLUGIN_MIGRATIONS and rolled[-1] == "parts:001_initial"
        assert not PLUGIN_TABLES & set(state.database.get_tables())
        applied = migrations.upgrade()
        assert set(applied) == PLUGIN_MIGRATIONS and applied[0] == "parts:001_initial"
    assert [t["name"] for t in client.get("/api/types").json] == [t["name"] for t in types_before]
