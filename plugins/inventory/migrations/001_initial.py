"""Inventory tables: boxes (each owning an attachment set), their numbered locations, the stock of
parts per location, and the history of every quantity change."""

from core.plugin_api import is_sqlite

SQLITE = [
    """CREATE TABLE boxes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        box_no INTEGER NOT NULL UNIQUE CHECK (box_no > 0),
        description VARCHAR(255) NOT NULL CHECK (length(description) BETWEEN 1 AND 255),
        capacity INTEGER NOT NULL CHECK (capacity BETWEEN 1 AND 1000),
        attachment_set_id INTEGER NOT NULL UNIQUE REFERENCES attachment_sets (id),
        created_at DATETIME NOT NULL,
        updated_at DATETIME NOT NULL)""",
    """CREATE TABLE locations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        box_id INTEGER NOT NULL REFERENCES boxes (id) ON DELETE CASCADE,
        loc_no INTEGER NOT NULL CHECK (loc_no > 0),
        UNIQUE (box_id, loc_no))""",
    """CREATE TABLE part_locations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        part_id INTEGER NOT NULL REFERENCES parts (id),
        location_id INTEGER NOT NULL REFERENCES locations (id),
        qty INTEGER NOT NULL CHECK (qty > 0),
        created_at DATETIME NOT NULL,
        updated_at DATETIME NOT NULL,
        UNIQUE (part_id, location_id))""",
    """CREATE TABLE quantity_history (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        part_id INTEGER NOT NULL REFERENCES parts (id) ON DELETE CASCADE,
        delta_qty INTEGER NOT NULL CHECK (delta_qty <> 0),
        location_reference VARCHAR(32) NULL,
        created_at DATETIME NOT NULL)""",
]

POSTGRES = [
    """CREATE TABLE boxes (
        id SERIAL PRIMARY KEY,
        box_no INTEGER NOT NULL UNIQUE CHECK (box_no > 0),
        description VARCHAR(255) NOT NULL CHECK (char_length(description) BETWEEN 1 AND 255),
        capacity INTEGER NOT NULL CHECK (capacity BETWEEN 1 AND 1000),
        attachment_set_id INTEGER NOT NULL UNIQUE REFERENCES attachment_sets (id),
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE locations (
        id SERIAL PRIMARY KEY,
        box_id INTEGER NOT NULL REFERENCES boxes (id) ON DELETE CASCADE,
        loc_no INTEGER NOT NULL CHECK (loc_no > 0),
        UNIQUE (box_id, loc_no))""",
    """CREATE TABLE part_locations (
        id SERIAL PRIMARY KEY,
        part_id INTEGER NOT NULL REFERENCES parts (id),
        location_id INTEGER NOT NULL REFERENCES locations (id),
        qty INTEGER NOT NULL CHECK (qty > 0),
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL,
        UNIQUE (part_id, location_id))""",
    """CREATE TABLE quantity_history (
        id SERIAL PRIMARY KEY,
        part_id INTEGER NOT NULL REFERENCES parts (id) ON DELETE CASCADE,
        delta_qty INTEGER NOT NULL CHECK (delta_qty <> 0),
        location_reference VARCHAR(32) NULL,
        created_at TIMESTAMP NOT NULL)""",
]

COMMON = [
    "CREATE INDEX part_locations_location_id ON part_locations (location_id)",
    "CREATE INDEX quantity_history_part_id_created_at ON quantity_history (part_id, created_at, id)",
    "CREATE INDEX quantity_history_created_at ON quantity_history (created_at, id)",
]


def migrate(migrator, database, fake=False, **kwargs):
    for sql in (SQLITE if is_sqlite(database) else POSTGRES) + COMMON:
        migrator.sql(sql)


def rollback(migrator, database, fake=False, **kwargs):
    # The boxes' sets go with them (their attachment rows by cascade; blobs stay until gc).
    migrator.sql("DELETE FROM attachment_sets WHERE id IN (SELECT attachment_set_id FROM boxes)")
    for table in ("quantity_history", "part_locations", "locations", "boxes"):
        migrator.sql(f"DROP TABLE {table}")
