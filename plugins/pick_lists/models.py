"""Peewee models of the pick lists plugin (tables created by ``plugins/pick_lists/migrations``)."""

from __future__ import annotations

import peewee

from core.plugin_api import TimestampedModel
from plugins.inventory.models import Location
from plugins.kits.models import Kit, KitContent

OPEN = "open"
COMPLETED = "completed"


class PickList(TimestampedModel):
    """A build of ``requested_units`` units of a kit. ``completed`` (with ``completed_at``)
    exactly when every line is picked."""

    id = peewee.AutoField()
    kit = peewee.ForeignKeyField(
        Kit, column_name="kit_id", on_delete="CASCADE", backref="+", lazy_load=False
    )
    requested_units = peewee.IntegerField()
    status = peewee.CharField(max_length=10, default=OPEN)
    completed_at = peewee.DateTimeField(null=True)

    kit_id: int

    class Meta:
        table_name = "pick_lists"


class PickListLine(TimestampedModel):
    """Take ``quantity_to_pick`` of a kit content line's part out of one location (0: skip).
    Picking records the inventory change it made (``inventory_change_id``)."""

    id = peewee.AutoField()
    pick_list = peewee.ForeignKeyField(
        PickList, column_name="pick_list_id", on_delete="CASCADE", backref="+", lazy_load=False
    )
    kit_content = peewee.ForeignKeyField(
        KitContent,
        column_name="kit_content_id",
        on_delete="CASCADE",
        backref="+",
        lazy_load=False,
    )
    location = peewee.ForeignKeyField(
        Location, column_name="location_id", backref="+", lazy_load=False
    )
    quantity_to_pick = peewee.IntegerField()
    status = peewee.CharField(max_length=10, default=OPEN)
    picked_at = peewee.DateTimeField(null=True)
    inventory_change_id = peewee.IntegerField(null=True)

    pick_list_id: int
    kit_content_id: int
    location_id: int

    class Meta:
        table_name = "pick_list_lines"
