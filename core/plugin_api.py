"""The public API for Partsbin plugins: every name a plugin may use, in one module.

A plugin imports from here and from nowhere else in the core (a test enforces it for the built-in
plugins and the examples). The names are documented in docs/plugins.md ("The plugin API"), which
also keeps the changelog of :data:`PLUGIN_API_VERSION`: a minor version adds names, a major
version changes or removes some.

Groups, in the order docs/plugins.md presents them:

- hooks: :data:`hookimpl`, :data:`hookspec` (for plugins that define hooks of their own);
- registration types: :class:`AttachableEntity`, :class:`MigrationSource`, :func:`is_sqlite`;
- models and the database: :class:`BaseModel`, :class:`TimestampedModel`, :data:`database`,
  :func:`utcnow`, :func:`tuples`, :func:`one_of`, :class:`AttachmentSet`, :class:`Attachment`;
- owners of attachment sets: :func:`create_owner`, :func:`delete_owner`, :func:`backfill_sets`;
- covers and attachment JSON: :func:`cover_urls`, :func:`cover_key_column`, :func:`cas_url`,
  :func:`attachment_json`;
- attachments and uploads: :func:`receive_upload`, :class:`Upload`, :func:`attach_upload`,
  :func:`get_attachment`, :func:`delete_attachment`, :func:`set_cover`, :func:`copy_attachment`,
  :func:`preview_url`, :func:`thumbnail_jpeg`;
- errors: :class:`ApiError` and its subclasses, :class:`PluginError`;
- request schemas: :class:`StrictBody`, :class:`StrictTextBody`, :class:`QueryModel`,
  :func:`may_be_absent`, :func:`error_responses`, :class:`ErrorBody`, the field types;
- the app: :func:`get_state`, :class:`PartsbinState`, :class:`Settings`;
- live events: :func:`publish_event`, :data:`TASK_EVENT`, :data:`VERSION_EVENT`;
- remote content through the SSRF-safe fetcher: :func:`proxied_content`,
  :func:`proxied_preview_image`;
- roles: :data:`READER`, :data:`EDITOR`, :func:`requires_role`, :func:`public`,
  :func:`current_principal`, :class:`Principal`.

The pytest fixtures for testing a plugin are in :mod:`core.testing` (a pytest plugin).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Response

from core.api.fields import (
    LongText,
    OptionalQueryId,
    RowId,
    StrictTextBody,
    Text50,
    Text100,
    Text255,
    Text500,
    blank_to_none,
)
from core.api.schemas import (
    HTTP_URL_SCHEMA,
    MAX_ID,
    BodyId,
    ErrorBody,
    MultiLine,
    MultiLineRequired,
    QueryModel,
    SingleLine,
    SingleLineRequired,
    StrictBody,
    TextPattern,
    WholeNumber,
    error_responses,
    may_be_absent,
    strip_control_characters,
)
from core.api.uploads import Upload, receive_upload
from core.attachments import service as _attachments
from core.attachments.covers import cas_url, cover_key_column, cover_urls
from core.attachments.entities import AttachableEntity, backfill_sets, create_owner, delete_owner
from core.attachments.models import Attachment, AttachmentSet
from core.attachments.views import attachment_full as attachment_json
from core.auth import EDITOR, READER, Principal
from core.auth.guard import current_principal
from core.auth.roles import public, requires_role
from core.config import Settings
from core.db import BaseModel, TimestampedModel, database, is_sqlite, one_of, tuples, utcnow
from core.errors import (
    ApiError,
    Conflict,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    UnprocessableContent,
    UnsupportedMediaType,
    ValidationFailed,
)
from core.events import TASK_EVENT, VERSION_EVENT, publish_event
from core.hookspecs import hookspec
from core.migrations_runner import MigrationSource
from core.plugins import PluginError, hookimpl
from core.state import PartsbinState, get_state

#: The version of this API (``major.minor``); see the changelog in docs/plugins.md.
PLUGIN_API_VERSION = "1.1"


def attach_upload(
    set_id: int, upload: Upload, title: str | None = None, *, set_as_cover: bool = False
) -> Attachment:
    """Store a received upload in the CAS and add it to set ``set_id``; return the attachment.

    The content must be an allowed attachment type (``PARTSBIN_ALLOWED_TYPES``) and sound
    (images and PDFs are validated: 422 otherwise). ``title`` defaults to the file name. The
    first image of a set becomes its cover; ``set_as_cover`` makes this one the cover anyway.
    Raises :class:`NotFound` for an unknown set, 415/422, or 503 when storage is down; in every
    error case nothing references the bytes.
    """
    state = get_state()
    allowed = state.settings.allowed_types
    if upload.content_type not in allowed:
        raise UnsupportedMediaType(
            f"content type {upload.content_type} is not allowed "
            f"(allowed: {', '.join(sorted(allowed))})",
            {"detected_type": upload.content_type},
        )
    name = title or upload.filename or "file"
    return _attachments.add_file(
        state, set_id, upload.spool, name, upload.filename, set_as_cover=set_as_cover
    )


def get_attachment(set_id: int, attachment_id: int) -> Attachment:
    """Attachment ``attachment_id`` of set ``set_id``; raises :class:`NotFound` or
    :class:`Conflict` (it belongs to another set)."""
    return _attachments.get_attachment(set_id, attachment_id)


def delete_attachment(set_id: int, attachment_id: int) -> None:
    """Delete an attachment of set ``set_id`` (a deleted cover moves to the oldest remaining
    image). The bytes stay until garbage collection. Raises like :func:`get_attachment`."""
    _attachments.delete_attachment(get_state(), set_id, attachment_id)


def set_cover(set_id: int, attachment_id: int | None) -> AttachmentSet:
    """Make ``attachment_id`` the cover of set ``set_id`` (``None`` clears it); return the set."""
    return _attachments.set_cover(set_id, attachment_id)


def copy_attachment(
    set_id: int, source_attachment_id: int, *, set_as_cover: bool = False
) -> Attachment:
    """Copy an attachment of any set into set ``set_id``, sharing its stored bytes."""
    return _attachments.copy_attachment(get_state(), set_id, source_attachment_id, set_as_cover)


def thumbnail_jpeg(sha256: str, size: int) -> bytes:
    """The JPEG thumbnail (at most ``size`` pixels on its longer side) of stored image or PDF
    ``sha256``, rendered once and kept in the object store like those ``/api/cas`` serves.
    Raises :class:`NotFound`, 415 (a type that has no thumbnail), 422 (unreadable content) or
    503 (storage down)."""
    from core.cas import thumbnails

    state = get_state()
    settings = state.settings
    stat = thumbnails.ensure_thumbnail(
        state.read_storage,
        sha256,
        size,
        max_pixels=settings.thumbnail_max_pixels,
        max_source_bytes=max(settings.max_file_bytes, settings.max_image_bytes),
        ladder=settings.thumbnail_prerender,
    )
    return b"".join(state.read_storage.open(stat.key))


def preview_url(url: str) -> dict[str, Any]:
    """What ``url`` would become as an attachment: ``{title, image_url, original_url,
    content_type}``, fetched through the SSRF-safe fetcher without storing anything. Fetch
    failures are 4xx :class:`ApiError`\\ s."""
    from core.urlfetch.analyze import preview_url as _preview

    return asdict(_preview(url, get_state().settings))


def proxied_content(url: str) -> Response:
    """A response streaming the content at ``url`` through the SSRF-safe fetcher, if it is an
    allowed attachment type (decided from its bytes), with the CAS's safe headers (``nosniff``,
    sandbox CSP except for real PDFs, never an inline active type). Fetch failures are 4xx
    :class:`ApiError`\\ s; another type is a 415."""
    from core.urlfetch.proxy import proxied_content as _proxied

    return _proxied(url, get_state().settings)


def proxied_preview_image(url: str) -> Response:
    """Like :func:`proxied_content` for the preview image of ``url`` (the image itself, or the
    first usable preview image of the page); :class:`NotFound` when there is none."""
    from core.urlfetch.proxy import proxied_preview_image as _proxied

    return _proxied(url, get_state().settings)


__all__ = [
    "EDITOR",
    "HTTP_URL_SCHEMA",
    "MAX_ID",
    "PLUGIN_API_VERSION",
    "READER",
    "TASK_EVENT",
    "VERSION_EVENT",
    "ApiError",
    "AttachableEntity",
    "Attachment",
    "AttachmentSet",
    "BaseModel",
    "BodyId",
    "Conflict",
    "ErrorBody",
    "LongText",
    "MigrationSource",
    "MultiLine",
    "MultiLineRequired",
    "NotFound",
    "OptionalQueryId",
    "PartsbinState",
    "PayloadTooLarge",
    "PluginError",
    "Principal",
    "QueryModel",
    "RowId",
    "ServiceUnavailable",
    "Settings",
    "SingleLine",
    "SingleLineRequired",
    "StrictBody",
    "StrictTextBody",
    "Text50",
    "Text100",
    "Text255",
    "Text500",
    "TextPattern",
    "TimestampedModel",
    "UnprocessableContent",
    "UnsupportedMediaType",
    "Upload",
    "ValidationFailed",
    "WholeNumber",
    "attach_upload",
    "attachment_json",
    "backfill_sets",
    "blank_to_none",
    "cas_url",
    "copy_attachment",
    "cover_key_column",
    "cover_urls",
    "create_owner",
    "current_principal",
    "database",
    "delete_attachment",
    "delete_owner",
    "error_responses",
    "get_attachment",
    "get_state",
    "hookimpl",
    "hookspec",
    "is_sqlite",
    "may_be_absent",
    "one_of",
    "preview_url",
    "proxied_content",
    "proxied_preview_image",
    "public",
    "publish_event",
    "receive_upload",
    "requires_role",
    "set_cover",
    "strip_control_characters",
    "thumbnail_jpeg",
    "tuples",
    "utcnow",
]
