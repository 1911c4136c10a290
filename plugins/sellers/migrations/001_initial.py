"""Sellers tables: ``sellers`` (each owning an attachment set; its cover is the logo) and
``seller_links`` (a part's product page at a seller)."""

from core.plugin_api import is_sqlite

SQLITE = [
    """CREATE TABLE sellers (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name VARCHAR(255) NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
        website VARCHAR(500) NOT NULL CHECK (length(website) BETWEEN 1 AND 500),
        attachment_set_id INTEGER NOT NULL UNIQUE REFERENCES attachment_sets (id),
        created_at DATETIME NOT NULL,
        updated_at DATETIME NOT NULL)""",
    """CREATE TABLE seller_links (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        part_id INTEGER NOT NULL REFERENCES parts (id) ON DELETE CASCADE,
        seller_id INTEGER NOT NULL REFERENCES sellers (id),
        link VARCHAR(500) NOT NULL CHECK (length(link) BETWEEN 1 AND 500),
        created_at DATETIME NOT NULL,
        updated_at DATETIME NOT NULL,
        UNIQUE (part_id, seller_id))""",
]

POSTGRES = [
    """CREATE TABLE sellers (
        id SERIAL PRIMARY KEY,
        name VARCHAR(255) NOT NULL CHECK (char_length(name) BETWEEN 1 AND 255),
        website VARCHAR(500) NOT NULL CHECK (char_length(website) BETWEEN 1 AND 500),
        attachment_set_id INTEGER NOT NULL UNIQUE REFERENCES attachment_sets (id),
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE seller_links (
        id SERIAL PRIMARY KEY,
        part_id INTEGER NOT NULL REFERENCES parts (id) ON DELETE CASCADE,
        seller_id INTEGER NOT NULL REFERENCES sellers (id),
        link VARCHAR(500) NOT NULL CHECK (char_length(link) BETWEEN 1 AND 500),
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL,
        UNIQUE (part_id, seller_id))""",
]

COMMON = [
    "CREATE UNIQUE INDEX sellers_name_lower ON sellers (lower(name))",
    "CREATE INDEX seller_links_seller_id ON seller_links (seller_id)",
]


def migrate(migrator, database, fake=False, **kwargs):
    for sql in (SQLITE if is_sqlite(database) else POSTGRES) + COMMON:
        migrator.sql(sql)


def rollback(migrator, database, fake=False, **kwargs):
    migrator.sql("DROP TABLE seller_links")
    # The sellers' sets (with their logos' attachment rows) go with them; blobs stay until gc.
    migrator.sql("DELETE FROM attachment_sets WHERE id IN (SELECT attachment_set_id FROM sellers)")
    migrator.sql("DROP TABLE sellers")
