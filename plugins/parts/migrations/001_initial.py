"""Parts tables: ``types`` (seeded with common electronics part types) and ``parts``."""

import datetime as dt

from core.plugin_api import is_sqlite

# Raw SQL, not migrator.create_model: peewee's DDL would not be this schema (SQLite keys without
# AUTOINCREMENT; CHECK constraints that differ per database: length/char_length, GLOB/~;
# indexes on expressions such as lower(name)). Databases already hold this DDL, so it stays.

SEED_TYPES = (
    "Resistor", "Capacitor", "Inductor", "Diode", "LED", "Transistor", "MOSFET", "IC",
    "Microcontroller", "Connector", "Crystal", "Oscillator", "Relay", "Switch", "Button",
    "Sensor", "Module", "Fuse", "Potentiometer", "Voltage Regulator", "Op-Amp", "Transformer",
    "Optocoupler", "Ferrite Bead", "Thermistor", "Display", "Motor", "Buzzer", "Speaker",
    "Battery", "Antenna", "Cable", "Header", "Socket", "Heatsink", "PCB", "Hardware", "Other",
)

SQLITE = [
    """CREATE TABLE types (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name VARCHAR(100) NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
        created_at DATETIME NOT NULL,
        updated_at DATETIME NOT NULL)""",
    """CREATE TABLE parts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        "key" VARCHAR(4) NOT NULL UNIQUE CHECK ("key" GLOB '[A-Z][A-Z][A-Z][A-Z]'),
        description TEXT NOT NULL CHECK (length(description) >= 1),
        manufacturer_code VARCHAR(255) NULL,
        manufacturer VARCHAR(255) NULL,
        product_page VARCHAR(500) NULL,
        type_id INTEGER NULL REFERENCES types (id),
        tags TEXT NOT NULL DEFAULT '[]',
        package VARCHAR(100) NULL,
        pin_count INTEGER NULL CHECK (pin_count IS NULL OR pin_count > 0),
        pin_pitch VARCHAR(50) NULL,
        voltage_rating VARCHAR(100) NULL,
        input_voltage VARCHAR(100) NULL,
        output_voltage VARCHAR(100) NULL,
        mounting_type VARCHAR(50) NULL,
        series VARCHAR(100) NULL,
        dimensions VARCHAR(100) NULL,
        attachment_set_id INTEGER NOT NULL UNIQUE REFERENCES attachment_sets (id),
        created_at DATETIME NOT NULL,
        updated_at DATETIME NOT NULL)""",
]

POSTGRES = [
    """CREATE TABLE types (
        id SERIAL PRIMARY KEY,
        name VARCHAR(100) NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE parts (
        id SERIAL PRIMARY KEY,
        "key" VARCHAR(4) NOT NULL UNIQUE CHECK ("key" ~ '^[A-Z]{4}$'),
        description TEXT NOT NULL CHECK (char_length(description) >= 1),
        manufacturer_code VARCHAR(255) NULL,
        manufacturer VARCHAR(255) NULL,
        product_page VARCHAR(500) NULL,
        type_id INTEGER NULL REFERENCES types (id),
        tags TEXT NOT NULL DEFAULT '[]',
        package VARCHAR(100) NULL,
        pin_count INTEGER NULL CHECK (pin_count IS NULL OR pin_count > 0),
        pin_pitch VARCHAR(50) NULL,
        voltage_rating VARCHAR(100) NULL,
        input_voltage VARCHAR(100) NULL,
        output_voltage VARCHAR(100) NULL,
        mounting_type VARCHAR(50) NULL,
        series VARCHAR(100) NULL,
        dimensions VARCHAR(100) NULL,
        attachment_set_id INTEGER NOT NULL UNIQUE REFERENCES attachment_sets (id),
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL)""",
]

COMMON = [
    "CREATE UNIQUE INDEX types_name_lower ON types (lower(name))",
    "CREATE INDEX parts_created_at_id ON parts (created_at, id)",
    "CREATE INDEX parts_type_id_created_at_id ON parts (type_id, created_at, id)",
]


def migrate(migrator, database, fake=False, **kwargs):
    statements = SQLITE if is_sqlite(database) else POSTGRES
    for sql in statements + COMMON:
        migrator.sql(sql)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    p = database.param  # a DatabaseProxy passes attributes through to its database
    insert = f"INSERT INTO types (name, created_at, updated_at) VALUES ({p}, {p}, {p})"
    for name in SEED_TYPES:
        migrator.sql(insert, name, now, now)


def rollback(migrator, database, fake=False, **kwargs):
    migrator.sql("DROP TABLE parts")
    migrator.sql("DROP TABLE types")
