"""JSON shapes of sets and attachments as the established API returns them."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from core.attachments.covers import cas_url, cover_url_for
from core.attachments.models import Attachment, AttachmentSet
from core.cas.ingest import sha256_of_key
from core.cas.thumbnails import PDF_PREVIEW_SIZE


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def attachment_url(attachment: Attachment) -> str | None:
    """``/api/cas/<sha256>?content_type=...&filename=...``; ``None`` when no bytes are stored."""
    base = cas_url(attachment.blob_key)
    if base is None:
        return None
    params = {}
    if attachment.content_type:
        params["content_type"] = attachment.content_type
    if attachment.filename:
        params["filename"] = attachment.filename
    return f"{base}?{urlencode(params)}" if params else base


def preview_url(attachment: Attachment) -> str | None:
    """Images: the attachment URL; PDFs: the first-page thumbnail; links: the stored preview."""
    if attachment.attachment_type == "image":
        return attachment_url(attachment)
    if attachment.attachment_type == "pdf":
        sha = sha256_of_key(attachment.blob_key)
        return f"/api/cas/{sha}?thumbnail={PDF_PREVIEW_SIZE}" if sha else None
    return cas_url(attachment.preview_blob_key)


def attachment_item(attachment: Attachment) -> dict[str, Any]:
    """A list item: ``{id, attachment_type, title, url, attachment_url, preview_url}``."""
    return {
        "id": attachment.id,
        "attachment_type": attachment.attachment_type,
        "title": attachment.title,
        "url": attachment.url,
        "attachment_url": attachment_url(attachment),
        "preview_url": preview_url(attachment),
    }


def attachment_full(attachment: Attachment) -> dict[str, Any]:
    """The full attachment: the list item plus ``attachment_set_id, filename, content_type,
    file_size, created_at, updated_at``."""
    return {
        **attachment_item(attachment),
        "attachment_set_id": attachment.attachment_set_id,
        "filename": attachment.filename,
        "content_type": attachment.content_type,
        "file_size": attachment.file_size,
        "created_at": _iso(attachment.created_at),
        "updated_at": _iso(attachment.updated_at),
    }


def cover(attachment_set: AttachmentSet) -> dict[str, Any]:
    """``{cover_attachment_id, cover_url}``."""
    return {
        "cover_attachment_id": attachment_set.cover_attachment_id,
        "cover_url": cover_url_for(attachment_set) if attachment_set.cover_attachment_id else None,
    }


def attachment_set(
    row: AttachmentSet, attachments: list[Attachment], owner: dict[str, Any] | None
) -> dict[str, Any]:
    """``{id, cover_attachment_id, cover_url, attachments, created_at, updated_at, owner}``."""
    return {
        "id": row.id,
        **cover(row),
        "attachments": [attachment_item(a) for a in attachments],
        "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at),
        "owner": owner,
    }
