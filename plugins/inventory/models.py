"""Peewee models of the inventory plugin (tables created by ``plugins/inventory/migrations``)."""

from __future__ import annotations

import peewee

from core.plugin_api import AttachmentSet, BaseModel, TimestampedModel, utcnow
from plugins.parts.models import Part

#: Largest number of locations a box may have.
MAX_CAPACITY = 1000


class Box(TimestampedModel):
    """A box with ``capacity`` locations numbered 1..capacity; ``box_no`` is its public number
    (1, 2, ... in creation order). Owns one AttachmentSet (a photo of the box and its label)."""

    id = peewee.AutoField()
    box_no = peewee.IntegerField(unique=True)
    description = peewee.CharField(max_length=255)
    capacity = peewee.IntegerField()
    attachment_set = peewee.ForeignKeyField(
        AttachmentSet, column_name="attachment_set_id", unique=True, backref="+", lazy_load=False
    )

    attachment_set_id: int

    class Meta:
        table_name = "boxes"


class Location(BaseModel):
    """Location ``loc_no`` of a box; shown as ``"<box_no>-<loc_no>"``."""

    id = peewee.AutoField()
    box = peewee.ForeignKeyField(
        Box, column_name="box_id", on_delete="CASCADE", backref="+", lazy_load=False
    )
    loc_no = peewee.IntegerField()

    box_id: int

    class Meta:
        table_name = "locations"


class PartLocation(TimestampedModel):
    """``qty`` (always > 0) of a part in a location; at most one row per part and location. A row
    whose quantity would reach 0 is deleted instead."""

    id = peewee.AutoField()
    part = peewee.ForeignKeyField(Part, column_name="part_id", backref="+", lazy_load=False)
    location = peewee.ForeignKeyField(
        Location, column_name="location_id", backref="+", lazy_load=False
    )
    qty = peewee.IntegerField()

    part_id: int
    location_id: int

    class Meta:
        table_name = "part_locations"


class QuantityHistory(BaseModel):
    """One change of a part's stock: ``delta_qty`` (+ added, - removed) at ``location_reference``
    (``"7-3"``) at ``created_at``."""

    id = peewee.AutoField()
    part = peewee.ForeignKeyField(
        Part, column_name="part_id", on_delete="CASCADE", backref="+", lazy_load=False
    )
    delta_qty = peewee.IntegerField()
    location_reference = peewee.CharField(max_length=32, null=True)
    created_at = peewee.DateTimeField(default=utcnow)

    part_id: int

    class Meta:
        table_name = "quantity_history"


def location_reference(box_no: int, loc_no: int) -> str:
    """``"7-3"`` for location 3 of box 7."""
    return f"{box_no}-{loc_no}"
