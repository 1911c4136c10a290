"""The tasks table: background tasks and their progress, seen by every worker."""

import peewee as pw

SQLITE = """CREATE TABLE tasks (
    id VARCHAR(64) PRIMARY KEY,
    task_type VARCHAR(64) NOT NULL,
    status VARCHAR(16) NOT NULL
        CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    request_id VARCHAR(128) NULL,
    progress REAL NULL,
    progress_text VARCHAR(500) NULL,
    result TEXT NULL,
    error VARCHAR(1000) NULL,
    error_code VARCHAR(64) NULL,
    created_at DATETIME NOT NULL,
    started_at DATETIME NULL,
    ended_at DATETIME NULL,
    heartbeat_at DATETIME NOT NULL)"""

POSTGRES = """CREATE TABLE tasks (
    id VARCHAR(64) PRIMARY KEY,
    task_type VARCHAR(64) NOT NULL,
    status VARCHAR(16) NOT NULL
        CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    request_id VARCHAR(128) NULL,
    progress DOUBLE PRECISION NULL,
    progress_text VARCHAR(500) NULL,
    result TEXT NULL,
    error VARCHAR(1000) NULL,
    error_code VARCHAR(64) NULL,
    created_at TIMESTAMP NOT NULL,
    started_at TIMESTAMP NULL,
    ended_at TIMESTAMP NULL,
    heartbeat_at TIMESTAMP NOT NULL)"""


def _is_sqlite(database):
    db = database.obj if isinstance(database, pw.DatabaseProxy) else database
    return isinstance(db, pw.SqliteDatabase)


def migrate(migrator, database, fake=False, **kwargs):
    migrator.sql(SQLITE if _is_sqlite(database) else POSTGRES)
    migrator.sql("CREATE INDEX tasks_created_at ON tasks (created_at)")


def rollback(migrator, database, fake=False, **kwargs):
    migrator.sql("DROP TABLE tasks")
