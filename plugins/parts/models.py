"""Peewee models of the parts plugin (tables created by ``plugins/parts/migrations``)."""

from __future__ import annotations

import json
from typing import Any

import peewee

from core.plugin_api import AttachmentSet, TimestampedModel


class JSONListField(peewee.TextField):
    """A list of strings stored as JSON text; ``None`` and ``[]`` are both stored as ``'[]'``."""

    def db_value(self, value: Any) -> str:
        return json.dumps(list(value or []), ensure_ascii=False)

    def python_value(self, value: Any) -> list[str]:
        return list(json.loads(value)) if value else []


class PartType(TimestampedModel):
    """A kind of part (resistor, MOSFET...). Names are unique ignoring case."""

    id = peewee.AutoField()
    name = peewee.CharField(max_length=100)

    class Meta:
        table_name = "types"


class Part(TimestampedModel):
    """A part, identified publicly by a random 4-letter ``key``; owns one AttachmentSet.

    Optional text fields are ``None`` rather than blank. ``tags`` is a list of strings.
    """

    id = peewee.AutoField()
    key = peewee.CharField(max_length=4, unique=True)
    description = peewee.TextField()
    manufacturer_code = peewee.CharField(max_length=255, null=True)
    manufacturer = peewee.CharField(max_length=255, null=True)
    product_page = peewee.CharField(max_length=500, null=True)
    part_type = peewee.ForeignKeyField(PartType, null=True, column_name="type_id", lazy_load=False)
    tags = JSONListField(default=list)
    package = peewee.CharField(max_length=100, null=True)
    pin_count = peewee.IntegerField(null=True)
    pin_pitch = peewee.CharField(max_length=50, null=True)
    voltage_rating = peewee.CharField(max_length=100, null=True)
    input_voltage = peewee.CharField(max_length=100, null=True)
    output_voltage = peewee.CharField(max_length=100, null=True)
    mounting_type = peewee.CharField(max_length=50, null=True)
    series = peewee.CharField(max_length=100, null=True)
    dimensions = peewee.CharField(max_length=100, null=True)
    attachment_set = peewee.ForeignKeyField(
        AttachmentSet, column_name="attachment_set_id", unique=True, lazy_load=False
    )

    # Accessors peewee adds for the foreign-key columns (declared for type checkers).
    type_id: int | None
    attachment_set_id: int

    class Meta:
        table_name = "parts"


#: Part fields a client may set (everything but the key, the set and the timestamps).
EDITABLE_FIELDS: tuple[str, ...] = (
    "description", "manufacturer_code", "manufacturer", "product_page", "type_id", "tags",
    "package", "pin_count", "pin_pitch", "voltage_rating", "input_voltage", "output_voltage",
    "mounting_type", "series", "dimensions",
)
