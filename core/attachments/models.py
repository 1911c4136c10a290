"""Peewee models of the attachment aggregate (tables created by ``migrations/001_initial.py``)."""

from __future__ import annotations

import peewee

from core.db import TimestampedModel

ATTACHMENT_TYPES = ("url", "image", "pdf")


class AttachmentSet(TimestampedModel):
    """A set of attachments owned by exactly one entity row; ``cover`` is one of its attachments."""

    id = peewee.AutoField()
    cover_attachment = peewee.DeferredForeignKey(
        "Attachment", null=True, on_delete="SET NULL", column_name="cover_attachment_id"
    )

    cover_attachment_id: int | None  # Peewee's accessor for the foreign key column

    class Meta:
        table_name = "attachment_sets"


class Attachment(TimestampedModel):
    """A photo, datasheet or web link in a set.

    ``blob_key`` is ``cas/<sha256>`` when bytes are stored, else null (a plain link).
    ``preview_blob_key`` is a stored preview image of a URL attachment (og:image, icon), or null.
    """

    id = peewee.AutoField()
    attachment_set = peewee.ForeignKeyField(
        AttachmentSet, backref="attachments", on_delete="CASCADE", column_name="attachment_set_id"
    )
    attachment_type = peewee.CharField(max_length=10)
    title = peewee.CharField(max_length=255)
    blob_key = peewee.CharField(max_length=80, null=True)
    preview_blob_key = peewee.CharField(max_length=80, null=True)
    url = peewee.CharField(max_length=2000, null=True)
    filename = peewee.CharField(max_length=255, null=True)
    content_type = peewee.CharField(max_length=100, null=True)
    file_size = peewee.BigIntegerField(null=True)

    attachment_set_id: int  # Peewee's accessor for the foreign key column

    class Meta:
        table_name = "attachments"
