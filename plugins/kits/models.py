"""Peewee models of the kits plugin (tables created by ``plugins/kits/migrations``)."""

from __future__ import annotations

import peewee

from core.plugin_api import AttachmentSet, TimestampedModel
from plugins.parts.models import Part

ACTIVE = "active"
ARCHIVED = "archived"
STATUSES = (ACTIVE, ARCHIVED)


class Kit(TimestampedModel):
    """A kit: the parts needed to build ``build_target`` units. Owns one AttachmentSet.

    ``archived_at`` is set exactly when ``status`` is ``archived``; archived kits are read-only
    and reserve no stock. Names are unique ignoring case.
    """

    id = peewee.AutoField()
    name = peewee.CharField(max_length=255)
    description = peewee.TextField(null=True)
    build_target = peewee.IntegerField(default=1)
    status = peewee.CharField(max_length=10, default=ACTIVE)
    archived_at = peewee.DateTimeField(null=True)
    attachment_set = peewee.ForeignKeyField(
        AttachmentSet, column_name="attachment_set_id", unique=True, lazy_load=False
    )

    attachment_set_id: int

    class Meta:
        table_name = "kits"


class KitContent(TimestampedModel):
    """One part line of a kit: ``required_per_unit`` of the part per built unit.

    ``version`` starts at 1 and grows with every update (optimistic locking).
    """

    id = peewee.AutoField()
    kit = peewee.ForeignKeyField(Kit, column_name="kit_id", on_delete="CASCADE", lazy_load=False)
    part = peewee.ForeignKeyField(Part, column_name="part_id", lazy_load=False)
    required_per_unit = peewee.IntegerField()
    note = peewee.TextField(null=True)
    version = peewee.IntegerField(default=1)

    kit_id: int
    part_id: int

    class Meta:
        table_name = "kit_contents"
