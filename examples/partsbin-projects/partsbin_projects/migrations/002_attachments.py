"""Projects, version 2 of the plugin: every project owns an AttachmentSet.

Adds ``projects.attachment_set_id``, a unique foreign key to ``attachment_sets``, NULLABLE in the
database. It cannot be NOT NULL: the table may already hold projects from version 1, and no set
exists for them while migrations run. Right after the migrations, ``partsbin migrate``
(``core.migrate.apply_migrations``) runs the core's backfill, which gives every project without a
set a new, empty one; from then on the API creates each project together with its set. So every
row has a set although the column allows NULL, and the model declares the field NOT NULL.
Uniqueness holds meanwhile: both databases allow many NULLs in a unique column.

Rolling back deletes the projects' sets with their attachment rows (blobs stay until
``partsbin gc``) before dropping the column, so no set is left without an owner.
"""

from core.plugin_api import is_sqlite

# Raw SQL: peewee-migrate's add_columns cannot add a named foreign key and unique constraint on
# PostgreSQL, and its SQLite column drop would not rebuild the table as 001 created it (CHECKs).

SQLITE = [
    # SQLite's ADD COLUMN accepts REFERENCES (the default is NULL) but not UNIQUE: use an index.
    """ALTER TABLE projects ADD COLUMN attachment_set_id INTEGER NULL
        REFERENCES attachment_sets (id)""",
    "CREATE UNIQUE INDEX projects_attachment_set_id_key ON projects (attachment_set_id)",
]

POSTGRES = [
    "ALTER TABLE projects ADD COLUMN attachment_set_id INTEGER NULL",
    """ALTER TABLE projects ADD CONSTRAINT projects_attachment_set_id_fkey
        FOREIGN KEY (attachment_set_id) REFERENCES attachment_sets (id)""",
    """ALTER TABLE projects ADD CONSTRAINT projects_attachment_set_id_key
        UNIQUE (attachment_set_id)""",
]

# Rollback, first step: remember the projects' sets and clear their covers (a set's cover points
# at one of its attachments, which deleting the set deletes).
FORGET_SETS = [
    """CREATE TEMPORARY TABLE projects_rollback_sets AS
        SELECT attachment_set_id AS id FROM projects WHERE attachment_set_id IS NOT NULL""",
    """UPDATE attachment_sets SET cover_attachment_id = NULL
        WHERE id IN (SELECT id FROM projects_rollback_sets)""",
]

# Rollback, second step: drop the column. SQLite cannot drop a column that has a unique index or
# a foreign key, so it rebuilds the table as migration 001 created it.
DROP_COLUMN_SQLITE = [
    "DROP INDEX projects_attachment_set_id_key",
    """CREATE TABLE projects_v1 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name VARCHAR(200) NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
        description TEXT NOT NULL DEFAULT '',
        status VARCHAR(10) NOT NULL DEFAULT 'idea'
            CHECK (status IN ('idea', 'building', 'done')),
        created_at DATETIME NOT NULL,
        updated_at DATETIME NOT NULL)""",
    """INSERT INTO projects_v1 (id, name, description, status, created_at, updated_at)
        SELECT id, name, description, status, created_at, updated_at FROM projects""",
    "DROP TABLE projects",
    "ALTER TABLE projects_v1 RENAME TO projects",
    "CREATE INDEX projects_created_at_id ON projects (created_at, id)",
]

DROP_COLUMN_POSTGRES = [
    "ALTER TABLE projects DROP COLUMN attachment_set_id",
]

# Rollback, last step: the sets have no owner any more; deleting them cascades to attachments.
DELETE_SETS = [
    "DELETE FROM attachment_sets WHERE id IN (SELECT id FROM projects_rollback_sets)",
    "DROP TABLE projects_rollback_sets",
]


def migrate(migrator, database, fake=False, **kwargs):
    for sql in SQLITE if is_sqlite(database) else POSTGRES:
        migrator.sql(sql)


def rollback(migrator, database, fake=False, **kwargs):
    drop_column = DROP_COLUMN_SQLITE if is_sqlite(database) else DROP_COLUMN_POSTGRES
    for sql in FORGET_SETS + drop_column + DELETE_SETS:
        migrator.sql(sql)
