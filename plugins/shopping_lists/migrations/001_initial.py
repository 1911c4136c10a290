"""Shopping list tables: ``shopping_lists``, ``shopping_list_sellers`` (a list's seller groups,
with order note and status), ``shopping_list_lines`` (a part to buy, at most one line per part and
list) and ``kit_shopping_list_links`` (which kit filled which list, for how many units).

Raw SQL per dialect: the CHECK constraints and ``AUTOINCREMENT`` keys differ between SQLite and
PostgreSQL, and the unique index on ``lower(name)`` is an expression index."""

from core.plugin_api import is_sqlite

_LISTS = """CREATE TABLE shopping_lists (
        id {pk},
        name VARCHAR(255) NOT NULL CHECK ({length}(name) > 0),
        description TEXT NULL,
        status VARCHAR(10) NOT NULL CHECK (status IN ('active', 'done')),
        created_at {ts} NOT NULL,
        updated_at {ts} NOT NULL)"""

_SELLERS = """CREATE TABLE shopping_list_sellers (
        id {pk},
        shopping_list_id INTEGER NOT NULL REFERENCES shopping_lists (id) ON DELETE CASCADE,
        seller_id INTEGER NOT NULL REFERENCES sellers (id),
        note TEXT NOT NULL,
        status VARCHAR(10) NOT NULL CHECK (status IN ('active', 'ordered')),
        created_at {ts} NOT NULL,
        updated_at {ts} NOT NULL,
        UNIQUE (shopping_list_id, seller_id))"""

_LINES = """CREATE TABLE shopping_list_lines (
        id {pk},
        shopping_list_id INTEGER NOT NULL REFERENCES shopping_lists (id) ON DELETE CASCADE,
        part_id INTEGER NOT NULL REFERENCES parts (id),
        seller_id INTEGER NULL REFERENCES sellers (id),
        needed INTEGER NOT NULL CHECK (needed > 0),
        ordered INTEGER NOT NULL CHECK (ordered >= 0),
        received INTEGER NOT NULL CHECK (received >= 0),
        note TEXT NULL,
        status VARCHAR(10) NOT NULL CHECK (status IN ('new', 'ordered', 'done')),
        completed_at {ts} NULL,
        completion_mismatch BOOLEAN NOT NULL,
        completion_note TEXT NULL,
        created_at {ts} NOT NULL,
        updated_at {ts} NOT NULL,
        UNIQUE (shopping_list_id, part_id))"""

_LINKS = """CREATE TABLE kit_shopping_list_links (
        id {pk},
        kit_id INTEGER NOT NULL REFERENCES kits (id) ON DELETE CASCADE,
        shopping_list_id INTEGER NOT NULL REFERENCES shopping_lists (id) ON DELETE CASCADE,
        requested_units INTEGER NOT NULL CHECK (requested_units > 0),
        honor_reserved BOOLEAN NOT NULL,
        snapshot_kit_updated_at {ts} NOT NULL,
        created_at {ts} NOT NULL,
        updated_at {ts} NOT NULL,
        UNIQUE (kit_id, shopping_list_id))"""

_TABLES = (_LISTS, _SELLERS, _LINES, _LINKS)

SQLITE = [
    sql.format(pk="INTEGER PRIMARY KEY AUTOINCREMENT", ts="DATETIME", length="length")
    for sql in _TABLES
]

POSTGRES = [
    sql.format(pk="SERIAL PRIMARY KEY", ts="TIMESTAMP", length="char_length") for sql in _TABLES
]

COMMON = [
    "CREATE UNIQUE INDEX shopping_lists_name ON shopping_lists (lower(name))",
    "CREATE INDEX shopping_lists_status ON shopping_lists (status, updated_at)",
    "CREATE INDEX shopping_list_sellers_seller_id ON shopping_list_sellers (seller_id)",
    "CREATE INDEX shopping_list_lines_part_id ON shopping_list_lines (part_id)",
    "CREATE INDEX shopping_list_lines_seller_id ON shopping_list_lines (seller_id)",
    "CREATE INDEX kit_shopping_list_links_list ON kit_shopping_list_links (shopping_list_id)",
]


def migrate(migrator, database, fake=False, **kwargs):
    for sql in (SQLITE if is_sqlite(database) else POSTGRES) + COMMON:
        migrator.sql(sql)


def rollback(migrator, database, fake=False, **kwargs):
    migrator.sql("DROP TABLE kit_shopping_list_links")
    migrator.sql("DROP TABLE shopping_list_lines")
    migrator.sql("DROP TABLE shopping_list_sellers")
    migrator.sql("DROP TABLE shopping_lists")
