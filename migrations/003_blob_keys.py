"""Rename ``attachments.s3_key`` / ``preview_s3_key`` to ``blob_key`` / ``preview_blob_key``: the
columns hold ``cas/<sha256>`` on every storage driver (local, S3, MinIO), not an S3 detail.

Both databases rename columns in place (SQLite 3.25+, PostgreSQL), keeping the data and the
indexes on them; the indexes get names that match.
"""

from core.db import is_sqlite

COLUMNS = (("s3_key", "blob_key"), ("preview_s3_key", "preview_blob_key"))


def _rename(migrator, database, old_to_new):
    for old, new in old_to_new:
        migrator.sql(f"ALTER TABLE attachments RENAME COLUMN {old} TO {new}")
        if is_sqlite(database):
            # SQLite cannot rename an index: recreate it under the new name.
            migrator.sql(f"DROP INDEX attachments_{old}")
            migrator.sql(f"CREATE INDEX attachments_{new} ON attachments ({new})")
        else:
            migrator.sql(f"ALTER INDEX attachments_{old} RENAME TO attachments_{new}")


def migrate(migrator, database, fake=False, **kwargs):
    _rename(migrator, database, COLUMNS)


def rollback(migrator, database, fake=False, **kwargs):
    _rename(migrator, database, [(new, old) for old, new in COLUMNS])
