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
        plugin_migrations = {
            f"{row.source}:{row.name}" for row in migrations.applied() if row.source != "core"
        }
        assert PLUGIN_MIGRATIONS <= plugin_migrations
        rolled = migrations.rollback(len(plugin_migrations))
        assert set(rolled) == plugin_migrations
        parts_at = rolled.index("parts:001_initial")
        assert all(
            rolled.index(name) < parts_at for name in PLUGIN_MIGRATIONS - {"parts:001_initial"}
        )
        assert not PLUGIN_TABLES & set(state.database.get_tables())
        applied = migrations.upgrade()
        assert set(applied) == plugin_migrations
        parts_at = applied.index("parts:001_initial")
        assert all(
            applied.index(name) > parts_at for name in PLUGIN_MIGRATIONS - {"parts:001_initial"}
        )
    assert [t["name"] for t in client.get("/api/types").json] == [t["name"] for t in types_before]
