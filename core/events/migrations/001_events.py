"""The events table: what ``publish_event`` wrote, read by every worker's event hub."""

import peewee as pw

SQLITE = """CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_type VARCHAR(64) NOT NULL,
    payload TEXT NOT NULL,
    request_id VARCHAR(128) NULL,
    created_at DATETIME NOT NULL)"""

POSTGRES = """CREATE TABLE events (
    id BIGSERIAL PRIMARY KEY,
    event_type VARCHAR(64) NOT NULL,
    payload TEXT NOT NULL,
    request_id VARCHAR(128) NULL,
    created_at TIMESTAMP NOT NULL)"""


def _is_sqlite(database):
    db = database.obj if isinstance(database, pw.DatabaseProxy) else database
    return isinstance(db, pw.SqliteDatabase)


def migrate(migrator, database, fake=False, **kwargs):
    migrator.sql(SQLITE if _is_sqlite(database) else POSTGRES)
    migrator.sql("CREATE INDEX events_created_at ON events (created_at)")


def rollback(migrator, database, fake=False, **kwargs):
    migrator.sql("DROP TABLE events")
