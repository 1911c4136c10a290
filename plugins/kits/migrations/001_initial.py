"""Kits tables: ``kits`` and ``kit_contents`` (which references the parts plugin's ``parts``)."""

from core.plugin_api import is_sqlite

# Raw SQL, not migrator.create_model: peewee's DDL would not be this schema (SQLite keys without
# AUTOINCREMENT; CHECK constraints that differ per database: length/char_length;
# indexes on expressions such as lower(name)). Databases already hold this DDL, so it stays.

SQLITE = [
    """CREATE TABLE kits (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name VARCHAR(255) NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
        description TEXT NULL,
        build_target INTEGER NOT NULL DEFAULT 1 CHECK (build_target >= 0),
        status VARCHAR(10) NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived')),
        archived_at DATETIME NULL,
        attachment_set_id INTEGER NOT NULL UNIQUE REFERENCES attachment_sets (id),
        created_at DATETIME NOT NULL,
        updated_at DATETIME NOT NULL,
        CHECK ((status = 'archived' AND archived_at IS NOT NULL)
            OR (status = 'active' AND archived_at IS NULL)))""",
    """CREATE TABLE kit_contents (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kit_id INTEGER NOT NULL REFERENCES kits (id) ON DELETE CASCADE,
        part_id INTEGER NOT NULL REFERENCES parts (id),
        required_per_unit INTEGER NOT NULL CHECK (required_per_unit >= 1),
        note TEXT NULL,
        version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1),
        created_at DATETIME NOT NULL,
        updated_at DATETIME NOT NULL,
        UNIQUE (kit_id, part_id))""",
]

POSTGRES = [
    """CREATE TABLE kits (
        id SERIAL PRIMARY KEY,
        name VARCHAR(255) NOT NULL CHECK (char_length(name) BETWEEN 1 AND 255),
        description TEXT NULL,
        build_target INTEGER NOT NULL DEFAULT 1 CHECK (build_target >= 0),
        status VARCHAR(10) NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived')),
        archived_at TIMESTAMP NULL,
        attachment_set_id INTEGER NOT NULL UNIQUE REFERENCES attachment_sets (id),
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL,
        CHECK ((status = 'archived' AND archived_at IS NOT NULL)
            OR (status = 'active' AND archived_at IS NULL)))""",
    """CREATE TABLE kit_contents (
        id SERIAL PRIMARY KEY,
        kit_id INTEGER NOT NULL REFERENCES kits (id) ON DELETE CASCADE,
        part_id INTEGER NOT NULL REFERENCES parts (id),
        required_per_unit INTEGER NOT NULL CHECK (required_per_unit >= 1),
        note TEXT NULL,
        version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1),
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL,
        UNIQUE (kit_id, part_id))""",
]

COMMON = [
    "CREATE UNIQUE INDEX kits_name_lower ON kits (lower(name))",
    "CREATE INDEX kits_updated_at_id ON kits (updated_at, id)",
    "CREATE INDEX kits_status_updated_at_id ON kits (status, updated_at, id)",
    "CREATE INDEX kit_contents_part_id ON kit_contents (part_id)",
]


def migrate(migrator, database, fake=False, **kwargs):
    statements = SQLITE if is_sqlite(database) else POSTGRES
    for sql in statements + COMMON:
        migrator.sql(sql)


def rollback(migrator, database, fake=False, **kwargs):
    migrator.sql("DROP TABLE kit_contents")
    migrator.sql("DROP TABLE kits")
