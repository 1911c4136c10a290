"""Pick list tables: ``pick_lists`` (a kit build of N units) and ``pick_list_lines`` (a quantity
of a kit content line's part to take from one location)."""

from core.plugin_api import is_sqlite

SQLITE = [
    """CREATE TABLE pick_lists (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kit_id INTEGER NOT NULL REFERENCES kits (id) ON DELETE CASCADE,
        requested_units INTEGER NOT NULL CHECK (requested_units > 0),
        status VARCHAR(10) NOT NULL CHECK (status IN ('open', 'completed')),
        completed_at DATETIME NULL,
        created_at DATETIME NOT NULL,
        updated_at DATETIME NOT NULL)""",
    """CREATE TABLE pick_list_lines (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        pick_list_id INTEGER NOT NULL REFERENCES pick_lists (id) ON DELETE CASCADE,
        kit_content_id INTEGER NOT NULL REFERENCES kit_contents (id) ON DELETE CASCADE,
        location_id INTEGER NOT NULL REFERENCES locations (id),
        quantity_to_pick INTEGER NOT NULL CHECK (quantity_to_pick >= 0),
        status VARCHAR(10) NOT NULL CHECK (status IN ('open', 'completed')),
        picked_at DATETIME NULL,
        inventory_change_id INTEGER NULL,
        created_at DATETIME NOT NULL,
        updated_at DATETIME NOT NULL)""",
]

POSTGRES = [
    """CREATE TABLE pick_lists (
        id SERIAL PRIMARY KEY,
        kit_id INTEGER NOT NULL REFERENCES kits (id) ON DELETE CASCADE,
        requested_units INTEGER NOT NULL CHECK (requested_units > 0),
        status VARCHAR(10) NOT NULL CHECK (status IN ('open', 'completed')),
        completed_at TIMESTAMP NULL,
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE pick_list_lines (
        id SERIAL PRIMARY KEY,
        pick_list_id INTEGER NOT NULL REFERENCES pick_lists (id) ON DELETE CASCADE,
        kit_content_id INTEGER NOT NULL REFERENCES kit_contents (id) ON DELETE CASCADE,
        location_id INTEGER NOT NULL REFERENCES locations (id),
        quantity_to_pick INTEGER NOT NULL CHECK (quantity_to_pick >= 0),
        status VARCHAR(10) NOT NULL CHECK (status IN ('open', 'completed')),
        picked_at TIMESTAMP NULL,
        inventory_change_id INTEGER NULL,
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL)""",
]

COMMON = [
    "CREATE INDEX pick_lists_kit_id ON pick_lists (kit_id, created_at, id)",
    "CREATE INDEX pick_list_lines_pick_list_id ON pick_list_lines (pick_list_id)",
    "CREATE INDEX pick_list_lines_location_id ON pick_list_lines (location_id, status)",
    "CREATE INDEX pick_list_lines_kit_content_id ON pick_list_lines (kit_content_id)",
]


def migrate(migrator, database, fake=False, **kwargs):
    for sql in (SQLITE if is_sqlite(database) else POSTGRES) + COMMON:
        migrator.sql(sql)


def rollback(migrator, database, fake=False, **kwargs):
    migrator.sql("DROP TABLE pick_list_lines")
    migrator.sql("DROP TABLE pick_lists")
