"""The testing mode's forced errors (``POST /api/testing/auth/force-error``).

The table lives in the database rather than in a worker's memory so that the error reaches the
next ``GET /api/auth/self`` whichever worker or instance answers it. It stays empty unless
``PARTSBIN_TESTING=1`` is used.
"""

import peewee as pw


def _is_sqlite(database):
    db = database.obj if isinstance(database, pw.DatabaseProxy) else database
    return isinstance(db, pw.SqliteDatabase)


def migrate(migrator, database, fake=False, **kwargs):
    sqlite = _is_sqlite(database)
    serial = "INTEGER PRIMARY KEY AUTOINCREMENT" if sqlite else "SERIAL PRIMARY KEY"
    ts = "DATETIME" if sqlite else "TIMESTAMP"
    migrator.sql(
        f"""CREATE TABLE testing_forced_errors (
            id {serial},
            target VARCHAR(64) NOT NULL,
            status INTEGER NOT NULL CHECK (status BETWEEN 400 AND 599),
            created_at {ts} NOT NULL)"""
    )
    migrator.sql("CREATE INDEX testing_forced_errors_target ON testing_forced_errors (target)")


def rollback(migrator, database, fake=False, **kwargs):
    migrator.sql("DROP TABLE testing_forced_errors")
