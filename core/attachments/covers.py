"""Cover rules and cover URLs.

- The first attachment with image content becomes the cover when the set has none.
- Deleting the cover moves it to the oldest remaining image attachment (created_at, then id),
  else null (:func:`fallback_cover`).
- ``cover_url`` is ``/api/cas/<sha256>`` when the cover holds image content, else null.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import peewee

from core.attachments.models import Attachment, AttachmentSet
from core.cas.ingest import sha256_of_key
from core.db import one_of, tuples


def has_image_content(attachment: Attachment) -> bool:
    """Whether the attachment holds stored image bytes."""
    return bool(
        attachment.blob_key
        and attachment.content_type
        and attachment.content_type.startswith("image/")
    )


def _image_condition() -> peewee.Expression:
    """:func:`has_image_content` in SQL (case-sensitive like it, on every database: Peewee's
    ``startswith`` is ``ILIKE``)."""
    prefix = peewee.fn.SUBSTR(Attachment.content_type, 1, len("image/"))
    return Attachment.blob_key.is_null(False) & (prefix == "image/")


def cas_url(blob_key: str | None) -> str | None:
    """``/api/cas/<sha256>`` for a ``cas/<sha256>`` key, else ``None``."""
    sha = sha256_of_key(blob_key)
    return f"/api/cas/{sha}" if sha else None


def fallback_cover(set_id: int) -> Attachment | None:
    """The oldest image attachment of the set (by created_at, then id), or ``None``."""
    return (
        Attachment.select()
        .where((Attachment.attachment_set == set_id) & _image_condition())
        .order_by(Attachment.created_at, Attachment.id)
        .first()
    )


def cover_urls(set_ids: Iterable[int]) -> dict[int, str | None]:
    """``{set_id: cover_url}`` for many sets in one query (lists use this: no N+1)."""
    ids = list({int(i) for i in set_ids if i is not None})
    if not ids:
        return {}
    result: dict[int, str | None] = dict.fromkeys(ids)
    query = (
        AttachmentSet.select(AttachmentSet.id, Attachment.blob_key, Attachment.content_type)
        .join(Attachment, on=(AttachmentSet.cover_attachment == Attachment.id))
        .where(one_of(AttachmentSet.id, ids))
    )
    for set_id, blob_key, content_type in tuples(query):
        if content_type and content_type.startswith("image/"):
            result[set_id] = cas_url(blob_key)
    return result


def cover_key_column(set_field: peewee.Field) -> peewee.ColumnBase:
    """The blob key of the cover image of each row's set, as a column of the owner's own select.

    A correlated subquery, so a list page brings its covers in its own statement instead of a
    second one: ``Part.select(Part, cover_key_column(Part.attachment_set).alias("cover_key"))``,
    then ``cas_url(part.cover_key)`` is the row's ``cover_url`` (same rule as
    :func:`cover_urls`: ``None`` when the set has no cover or its cover is not an image).
    """
    cover_set = AttachmentSet.alias("cover_set")
    return cast(
        peewee.ColumnBase,
        Attachment.select(Attachment.blob_key)
        .join(cover_set, on=(cover_set.cover_attachment == Attachment.id))
        .where((cover_set.id == set_field) & _image_condition()),
    )


def cover_url_for(attachment_set: AttachmentSet) -> str | None:
    """The cover URL of one set."""
    return cover_urls([attachment_set.id]).get(attachment_set.id)
