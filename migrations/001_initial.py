"""Core tables: attachment_sets and attachments (the two reference each other)."""

from core.db import is_sqlite

# Raw SQL, not migrator.create_model: peewee's DDL would not be this schema (SQLite keys without
# AUTOINCREMENT; CHECK constraints that differ per database, length/char_length;
# a circular foreign key: PostgreSQL adds the cover key once both tables exist). Databases
# already hold this DDL, so it stays.

SQLITE = [
    """CREATE TABLE attachment_sets (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        cover_attachment_id INTEGER NULL REFERENCES attachments (id) ON DELETE SET NULL,
        created_at DATETIME NOT NULL,
        updated_at DATETIME NOT NULL)""",
    """CREATE TABLE attachments (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        attachment_set_id INTEGER NOT NULL REFERENCES attachment_sets (id) ON DELETE CASCADE,
        attachment_type VARCHAR(10) NOT NULL CHECK (attachment_type IN ('url', 'image', 'pdf')),
        title VARCHAR(255) NOT NULL CHECK (length(title) BETWEEN 1 AND 255),
        s3_key VARCHAR(80) NULL,
        preview_s3_key VARCHAR(80) NULL,
        url VARCHAR(2000) NULL,
        filename VARCHAR(255) NULL,
        content_type VARCHAR(100) NULL,
        file_size BIGINT NULL,
        created_at DATETIME NOT NULL,
        updated_at DATETIME NOT NULL)""",
]

POSTGRES = [
    """CREATE TABLE attachment_sets (
        id SERIAL PRIMARY KEY,
        cover_attachment_id INTEGER NULL,
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE attachments (
        id SERIAL PRIMARY KEY,
        attachment_set_id INTEGER NOT NULL REFERENCES attachment_sets (id) ON DELETE CASCADE,
        attachment_type VARCHAR(10) NOT NULL CHECK (attachment_type IN ('url', 'image', 'pdf')),
        title VARCHAR(255) NOT NULL CHECK (char_length(title) BETWEEN 1 AND 255),
        s3_key VARCHAR(80) NULL,
        preview_s3_key VARCHAR(80) NULL,
        url VARCHAR(2000) NULL,
        filename VARCHAR(255) NULL,
        content_type VARCHAR(100) NULL,
        file_size BIGINT NULL,
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL)""",
    """ALTER TABLE attachment_sets ADD CONSTRAINT attachment_sets_cover_fk
        FOREIGN KEY (cover_attachment_id) REFERENCES attachments (id) ON DELETE SET NULL""",
]

COMMON = [
    "CREATE INDEX attachments_attachment_set_id ON attachments (attachment_set_id)",
    "CREATE INDEX attachments_s3_key ON attachments (s3_key)",
    "CREATE INDEX attachments_preview_s3_key ON attachments (preview_s3_key)",
    "CREATE INDEX attachment_sets_cover_attachment_id ON attachment_sets (cover_attachment_id)",
]


def migrate(migrator, database, fake=False, **kwargs):
    statements = SQLITE if is_sqlite(database) else POSTGRES
    for sql in statements + COMMON:
        migrator.sql(sql)


def rollback(migrator, database, fake=False, **kwargs):
    if not is_sqlite(database):
        migrator.sql("ALTER TABLE attachment_sets DROP CONSTRAINT attachment_sets_cover_fk")
    migrator.sql("DROP TABLE attachments")
    migrator.sql("DROP TABLE attachment_sets")
