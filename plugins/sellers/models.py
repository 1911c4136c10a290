"""Peewee models of the sellers plugin (tables created by ``plugins/sellers/migrations``)."""

from __future__ import annotations

import peewee

from core.plugin_api import AttachmentSet, TimestampedModel
from plugins.parts.models import Part


class Seller(TimestampedModel):
    """A shop parts are bought from; names are unique ignoring case. Owns one AttachmentSet,
    whose cover image is the seller's logo."""

    id = peewee.AutoField()
    name = peewee.CharField(max_length=255)
    website = peewee.CharField(max_length=500)
    attachment_set = peewee.ForeignKeyField(
        AttachmentSet, column_name="attachment_set_id", unique=True, backref="+", lazy_load=False
    )

    attachment_set_id: int

    class Meta:
        table_name = "sellers"


class SellerLink(TimestampedModel):
    """A part's product page at a seller (at most one per part and seller). Deleted with the
    part; a seller with links cannot be deleted."""

    id = peewee.AutoField()
    part = peewee.ForeignKeyField(
        Part, column_name="part_id", on_delete="CASCADE", backref="+", lazy_load=False
    )
    seller = peewee.ForeignKeyField(Seller, column_name="seller_id", backref="+", lazy_load=False)
    link = peewee.CharField(max_length=500)

    part_id: int
    seller_id: int

    class Meta:
        table_name = "seller_links"
