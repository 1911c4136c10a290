"""Peewee models of the shopping lists plugin (tables created by
``plugins/shopping_lists/migrations``)."""

from __future__ import annotations

import peewee

from core.plugin_api import TimestampedModel
from plugins.kits.models import Kit
from plugins.parts.models import Part
from plugins.sellers.models import Seller

# List statuses: the only transition is active -> done.
ACTIVE = "active"
DONE = "done"
LIST_STATUSES = (ACTIVE, DONE)

# Seller group statuses: active <-> ordered.
GROUP_ACTIVE = "active"
GROUP_ORDERED = "ordered"
GROUP_STATUSES = (GROUP_ACTIVE, GROUP_ORDERED)

# Line statuses: new -> ordered (with its seller group) -> done (completed); ordered -> new when
# the group is reopened.
NEW = "new"
ORDERED = "ordered"
LINE_DONE = "done"
LINE_STATUSES = (NEW, ORDERED, LINE_DONE)


class ShoppingList(TimestampedModel):
    """A list of parts to buy. Names are unique ignoring case; a ``done`` list is read-only."""

    id = peewee.AutoField()
    name = peewee.CharField(max_length=255)
    description = peewee.TextField(null=True)
    status = peewee.CharField(max_length=10, default=ACTIVE)

    class Meta:
        table_name = "shopping_lists"


class ShoppingListSeller(TimestampedModel):
    """A list's seller group: the lines buying from ``seller``, with an order note and a status
    (``ordered`` once the order is placed). At most one per list and seller."""

    id = peewee.AutoField()
    shopping_list = peewee.ForeignKeyField(
        ShoppingList,
        column_name="shopping_list_id",
        on_delete="CASCADE",
        backref="+",
        lazy_load=False,
    )
    seller = peewee.ForeignKeyField(Seller, column_name="seller_id", backref="+", lazy_load=False)
    note = peewee.TextField(default="")
    status = peewee.CharField(max_length=10, default=GROUP_ACTIVE)

    shopping_list_id: int
    seller_id: int

    class Meta:
        table_name = "shopping_list_sellers"


class ShoppingListLine(TimestampedModel):
    """``needed`` of a part on a list (at most one line per part and list), bought from
    ``seller`` (``None``: not yet assigned). ``ordered`` is set while the line is new; receiving
    adds to ``received``; completing sets ``completed_at`` and, when received differs from
    ordered, ``completion_mismatch`` with ``completion_note``."""

    id = peewee.AutoField()
    shopping_list = peewee.ForeignKeyField(
        ShoppingList,
        column_name="shopping_list_id",
        on_delete="CASCADE",
        backref="+",
        lazy_load=False,
    )
    part = peewee.ForeignKeyField(Part, column_name="part_id", backref="+", lazy_load=False)
    seller = peewee.ForeignKeyField(
        Seller, column_name="seller_id", null=True, backref="+", lazy_load=False
    )
    needed = peewee.IntegerField()
    ordered = peewee.IntegerField(default=0)
    received = peewee.IntegerField(default=0)
    note = peewee.TextField(null=True)
    status = peewee.CharField(max_length=10, default=NEW)
    completed_at = peewee.DateTimeField(null=True)
    completion_mismatch = peewee.BooleanField(default=False)
    completion_note = peewee.TextField(null=True)

    shopping_list_id: int
    part_id: int
    seller_id: int | None

    class Meta:
        table_name = "shopping_list_lines"


class KitShoppingListLink(TimestampedModel):
    """Kit ``kit`` filled list ``shopping_list`` for ``requested_units`` units (the last push
    wins); ``snapshot_kit_updated_at`` is the kit's ``updated_at`` at that push, so a later kit
    change makes the link stale. Deleted with either side; deleting it keeps the lines."""

    id = peewee.AutoField()
    kit = peewee.ForeignKeyField(
        Kit, column_name="kit_id", on_delete="CASCADE", backref="+", lazy_load=False
    )
    shopping_list = peewee.ForeignKeyField(
        ShoppingList,
        column_name="shopping_list_id",
        on_delete="CASCADE",
        backref="+",
        lazy_load=False,
    )
    requested_units = peewee.IntegerField()
    honor_reserved = peewee.BooleanField(default=False)
    snapshot_kit_updated_at = peewee.DateTimeField()

    kit_id: int
    shopping_list_id: int

    class Meta:
        table_name = "kit_shopping_list_links"
