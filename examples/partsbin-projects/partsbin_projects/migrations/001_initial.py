"""Projects, version 1 of the plugin: the ``projects`` table, without attachments yet."""

import peewee as pw

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


def _is_sqlite(database):
    db = database.obj if isinstance(database, pw.DatabaseProxy) else database
    return isinstance(db, pw.SqliteDatabase)


def migrate(migrator, database, fake=False, **kwargs):
    for sql in (SQLITE if _is_sqlite(database) else POSTGRES) + COMMON:
        migrator.sql(sql)


def rollback(migrator, database, fake=False, **kwargs):
    migrator.sql("DROP TABLE projects")
