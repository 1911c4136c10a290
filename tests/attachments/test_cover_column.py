"""``cover_key_column``: the cover in the owner's own select agrees with ``cover_urls``."""

from __future__ import annotations

from flask import Flask

from core.attachments.covers import cas_url, cover_key_column, cover_urls
from core.attachments.models import Attachment, AttachmentSet
from core.db import utcnow

_SHA = "ab" * 32


def _set_with_cover(content_type: str | None, blob_key: str | None) -> int:
    now = utcnow()
    owner = AttachmentSet.create(created_at=now, updated_at=now)
    if content_type is not None or blob_key is not None:
        cover = Attachment.create(
            attachment_set=owner, attachment_type="image", title="cover", blob_key=blob_key,
            content_type=content_type, created_at=now, updated_at=now,
        )
        owner.cover_attachment = cover
        owner.save()
    return int(owner.id)


def test_the_column_gives_the_same_cover_url_as_cover_urls(app: Flask) -> None:
    with app.app_context():
        ids = [
            _set_with_cover(None, None),  # no cover
            _set_with_cover("image/png", f"cas/{_SHA}"),  # an image cover
            _set_with_cover("IMAGE/JPEG", f"cas/{_SHA}"),  # types are stored lowercase: no match
            _set_with_cover("application/pdf", f"cas/{_SHA}"),  # not an image: no cover URL
            _set_with_cover("image/png", None),  # a link without bytes: no cover URL
        ]
        column = cover_key_column(AttachmentSet.id).alias("cover_key")
        rows = AttachmentSet.select(AttachmentSet.id, column).where(AttachmentSet.id.in_(ids))
        from_column = {row.id: cas_url(row.cover_key) for row in rows}
        assert from_column == cover_urls(ids)
        assert from_column[ids[1]] == f"/api/cas/{_SHA}"
        assert [from_column[i] is None for i in ids] == [True, False, True, True, True]
