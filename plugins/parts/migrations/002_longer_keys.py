"""Part keys of four to eight letters (keys grow once the four-letter space is full).

PostgreSQL widens the column and replaces its CHECK. SQLite cannot alter a CHECK, and a table
rebuild would have to drop ``parts`` under every table that references it; instead the stored
``CREATE TABLE`` text is edited in place, the procedure SQLite documents for loosening a
constraint ("ALTER TABLE", section "Making Other Kinds Of Table Schema Changes"): every row
that met the old CHECK meets the new one, so nothing needs rewriting. Rolling back is refused
while any key is longer than four letters.
"""

from core.plugin_api import is_sqlite

OLD_SQLITE_COLUMN = """"key" VARCHAR(4) NOT NULL UNIQUE CHECK ("key" GLOB '[A-Z][A-Z][A-Z][A-Z]')"""
NEW_SQLITE_COLUMN = (
    """"key" VARCHAR(8) NOT NULL UNIQUE """
    """CHECK (length("key") BETWEEN 4 AND 8 AND "key" NOT GLOB '*[^A-Z]*')"""
)


def _edit_sqlite_schema(database, old, new):
    """Replace ``old`` by ``new`` in the stored DDL of ``parts`` (inside the migration's
    transaction) and make every connection reload the schema."""
    cursor = database.execute_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'parts'")
    (sql,) = cursor.fetchone()
    if old not in sql:
        raise RuntimeError(f"parts table DDL is not the expected one; found: {sql}")
    (version,) = database.execute_sql("PRAGMA schema_version").fetchone()
    database.execute_sql("PRAGMA writable_schema = ON")
    try:
        database.execute_sql(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'parts'",
            (sql.replace(old, new),),
        )
        database.execute_sql(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        database.execute_sql("PRAGMA writable_schema = OFF")
    (check,) = database.execute_sql("PRAGMA quick_check").fetchone()
    if check != "ok":
        raise RuntimeError(f"database check failed after editing the parts DDL: {check}")


def migrate(migrator, database, fake=False, **kwargs):
    if is_sqlite(database):
        migrator.run(_edit_sqlite_schema, database, OLD_SQLITE_COLUMN, NEW_SQLITE_COLUMN)
        return
    migrator.sql('ALTER TABLE parts ALTER COLUMN "key" TYPE VARCHAR(8)')
    migrator.sql("ALTER TABLE parts DROP CONSTRAINT parts_key_check")
    migrator.sql("""ALTER TABLE parts ADD CONSTRAINT parts_key_check CHECK ("key" ~ '^[A-Z]{4,8}$')""")


def _refuse_long_keys(database):
    cursor = database.execute_sql('SELECT count(*) FROM parts WHERE length("key") > 4')
    (count,) = cursor.fetchone()
    if count:
        raise RuntimeError(
            f"cannot roll back to four-letter keys: {count} parts have longer keys"
        )


def rollback(migrator, database, fake=False, **kwargs):
    migrator.run(_refuse_long_keys, database)
    if is_sqlite(database):
        migrator.run(_edit_sqlite_schema, database, NEW_SQLITE_COLUMN, OLD_SQLITE_COLUMN)
        return
    migrator.sql("ALTER TABLE parts DROP CONSTRAINT parts_key_check")
    migrator.sql("""ALTER TABLE parts ADD CONSTRAINT parts_key_check CHECK ("key" ~ '^[A-Z]{4}$')""")
    migrator.sql('ALTER TABLE parts ALTER COLUMN "key" TYPE VARCHAR(4)')
