"""Core tables: attachment_sets and attachments (the two reference each other)."""

import peewee as pw

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
    statements = SQLITE if isinstance(database.obj if isinstance(database, pw.DatabaseProxy) else database, pw.SqliteDatabase) else POSTGRES
    for sql in statements + COMMON:
        migrator.sql(sql)


def rollback(migrator, database, fake=False, **kwargs):
    db = database.obj if isinstance(database, pw.DatabaseProxy) else database
    if not isinstance(db, pw.SqliteDatabase):
        migrator.sql("ALTER TABLE attachment_sets DROP CONSTRAINT attachment_sets_cover_fk")
    migrator.sql("DROP TABLE attachments")
    migrator.sql("DROP TABLE attachment_sets")
