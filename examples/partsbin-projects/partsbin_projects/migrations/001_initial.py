"""Projects, version 1 of the plugin: the ``projects`` table, without attachments yet."""

from core.plugin_api import is_sqlite

# Raw SQL, not migrator.create_model: peewee's DDL would not be this schema (SQLite keys without
# AUTOINCREMENT; CHECK constraints that differ per database: length/char_length).
# Databases already hold this DDL, so it stays.

SQLITE = [
    """CREATE TABLE projects (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name VARCHAR(200) NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
        description TEXT NOT NULL DEFAULT '',
        status VARCHAR(10) NOT NULL DEFAULT 'idea'
            CHECK (status IN ('idea', 'building', 'done')),
        created_at DATETIME NOT NULL,
        updated_at DATETIME NOT NULL)""",
]

POSTGRES = [
    """CREATE TABLE projects (
        id SERIAL PRIMARY KEY,
        name VARCHAR(200) NOT NULL UNIQUE CHECK (char_length(name) BETWEEN 1 AND 200),
        description TEXT NOT NULL DEFAULT '',
        status VARCHAR(10) NOT NULL DEFAULT 'idea'
            CHECK (status IN ('idea', 'building', 'done')),
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL)""",
]

COMMON = [
    "CREATE INDEX projects_created_at_id ON projects (created_at, id)",
]


def migrate(migrator, database, fake=False, **kwargs):
    for sql in (SQLITE if is_sqlite(database) else POSTGRES) + COMMON:
        migrator.sql(sql)


def rollback(migrator, database, fake=False, **kwargs):
    migrator.sql("DROP TABLE projects")
