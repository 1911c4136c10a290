"""Attachment services: every change to a set runs here, in one transaction per operation.

The invariant: no row ever points at bytes that were not stored. Uploads store bytes first
(:mod:`core.cas.ingest`), then insert the row and apply the cover rule in one transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from core.api.schemas import strip_control_characters
from core.attachments.covers import fallback_cover, has_image_content
from core.attachments.models import Attachment, AttachmentSet
from core.cas import thumbnails
from core.cas.ingest import Readable, StoredBlob, sha256_of_key, store_spool
from core.cas.locks import blob_transaction, lock_blob, lock_blobs
from core.cas.sniff import is_image
from core.cas.spool import IngestSpool
from core.config import Settings
from core.db import database, is_sqlite, utcnow
from core.errors import Conflict, NotFound, ServiceUnavailable
from core.state import PartsbinState

log = logging.getLogger("partsbin.attachments")

TITLE_MAX = 255
FILENAME_MAX = 255


def fit_text(value: str | None, limit: int) -> str:
    """``value`` without control characters, with runs of whitespace collapsed to one space, cut
    to ``limit`` characters (client text was validated already; fetched or derived text such as a
    URL's file name is cleaned here)."""
    return " ".join(strip_control_characters(value or "").split())[:limit]


@contextmanager
def locked_set(set_id: int) -> Iterator[AttachmentSet]:
    """A transaction holding a write lock on set ``set_id``; raises :class:`NotFound` if missing.

    PostgreSQL locks the row (``SELECT ... FOR UPDATE``); SQLite takes the database write lock
    up front (``BEGIN IMMEDIATE``), so concurrent cover changes serialize instead of interleaving.
    """
    db = database.obj
    with blob_transaction(db):
        yield _lock_set_row(db, set_id)


def _lock_set_row(db: Any, set_id: int) -> AttachmentSet:
    """Inside a :func:`~core.cas.locks.blob_transaction`: the set, locked (PostgreSQL: ``FOR
    UPDATE``; SQLite: the transaction's write lock already excludes other writers)."""
    if is_sqlite(db):
        return get_set(set_id)
    row = AttachmentSet.select().where(AttachmentSet.id == set_id).for_update().first()
    if row is None:
        raise NotFound(f"attachment set {set_id} does not exist")
    return row


def get_set(set_id: int) -> AttachmentSet:
    """The set, or :class:`NotFound`."""
    row = AttachmentSet.get_or_none(AttachmentSet.id == set_id)
    if row is None:
        raise NotFound(f"attachment set {set_id} does not exist")
    return row


def list_attachments(set_id: int) -> list[Attachment]:
    """The set's attachments, oldest first (created_at, then id)."""
    get_set(set_id)
    return list(
        Attachment.select()
        .where(Attachment.attachment_set == set_id)
        .order_by(Attachment.created_at, Attachment.id)
    )


def get_attachment(set_id: int, attachment_id: int) -> Attachment:
    """Attachment ``attachment_id`` of set ``set_id``.

    Raises :class:`NotFound` if the set or the attachment does not exist, :class:`Conflict` if the
    attachment belongs to another set.
    """
    get_set(set_id)
    attachment = Attachment.get_or_none(Attachment.id == attachment_id)
    if attachment is None:
        raise NotFound(f"attachment {attachment_id} does not exist")
    if attachment.attachment_set_id != set_id:
        raise Conflict(
            f"attachment {attachment_id} does not belong to set {set_id}",
            {"attachment_id": attachment_id, "attachment_set_id": set_id},
            code="ATTACHMENT_NOT_IN_SET",
        )
    return attachment


def _insert(
    state: PartsbinState, set_id: int, fields: dict[str, Any], set_as_cover: bool = False
) -> Attachment:
    """Insert an attachment and apply the cover rule, in one locked transaction.

    The blobs the row references are locked and checked to exist inside the same transaction
    (see :mod:`core.cas.locks`), so garbage collection cannot delete them between the check and
    the commit. A blob that vanished is a 503 (retry), never a row pointing at nothing.
    """
    with blob_transaction(state.database):
        return _insert_locked(state, set_id, fields, set_as_cover)


def _insert_locked(
    state: PartsbinState,
    set_id: int,
    fields: dict[str, Any],
    set_as_cover: bool,
    stored_key: str | None = None,
) -> Attachment:
    """:func:`_insert` inside an open :func:`~core.cas.locks.blob_transaction`.

    Locks are taken blobs first (ascending, :func:`~core.cas.locks.lock_blobs`), then the set's
    row: every transaction that takes both takes them in this order (garbage collection takes
    blob locks only), so none can deadlock. ``stored_key`` is a blob this transaction already
    locked and stored itself: it is neither locked nor checked again.
    """
    _check_blobs(
        state,
        [
            key
            for key in (fields.get("blob_key"), fields.get("preview_blob_key"))
            if key is not None and key != stored_key
        ],
    )
    attachment_set = _lock_set_row(state.database, set_id)
    now = utcnow()
    attachment = Attachment.create(attachment_set=set_id, created_at=now, updated_at=now, **fields)
    first_image = attachment_set.cover_attachment_id is None and has_image_content(attachment)
    if set_as_cover or first_image:
        _set_cover_id(set_id, attachment.id)
    return attachment


def _check_blobs(state: PartsbinState, keys: list[str]) -> None:
    """Lock the ``cas/`` blobs among ``keys`` until the transaction ends and check that each is
    stored (``BLOB_GONE`` 503 otherwise); other keys are ignored."""
    blobs = [(key, sha) for key in keys if (sha := sha256_of_key(key)) is not None]
    if not blobs:
        return
    lock_blobs(state.database, [sha for _, sha in blobs])
    for key, _ in blobs:
        if state.storage.stat(key) is None:
            raise ServiceUnavailable(
                f"the stored file {key} was removed while it was being attached; try again",
                {"key": key},
                code="BLOB_GONE",
            )


def _set_cover_id(set_id: int, attachment_id: int | None) -> None:
    AttachmentSet.update(cover_attachment=attachment_id, updated_at=utcnow()).where(
        AttachmentSet.id == set_id
    ).execute()


def upload_limit(settings: Settings, content_type: str) -> int:
    """The size limit for an upload of ``content_type``: images and other files differ."""
    return settings.max_image_bytes if is_image(content_type) else settings.max_file_bytes


def attachment_type_for(content_type: str) -> str:
    """``image`` for image types, ``pdf`` for PDFs."""
    return "pdf" if content_type == "application/pdf" else "image"


def add_file(
    state: PartsbinState,
    set_id: int,
    stream: Readable,
    title: str,
    filename: str | None,
    set_as_cover: bool = False,
) -> Attachment:
    """Store an uploaded file's bytes in the CAS, then add it to the set (as its cover with
    ``set_as_cover``; the first image becomes the cover anyway).

    The type comes from the content, which must be sound (see :mod:`core.cas.validate`). Raises
    :class:`NotFound` (unknown set: checked before any byte of a plain ``stream`` is read; a
    spool was read while the request was parsed, after the API checked the set, and the insert
    checks again), 413, 415, 422 or storage 503 — and in every error case no row is written.
    """
    if isinstance(stream, IngestSpool):  # already hashed and checked while the body was parsed
        spool, owned = stream, False
    else:
        get_set(set_id)
        spool = IngestSpool(partial(upload_limit, state.settings), state.settings.allowed_types)
        owned = True
    try:
        if owned:
            spool.fill_from(stream)
        attachment, blob = _store_and_insert(state, set_id, spool, title, filename, set_as_cover)
        _prerender(state, blob, spool)
    finally:
        if owned:
            spool.close()
    state.plugin_manager.hook.attachment_created(attachment=attachment)
    return attachment


def _store_and_insert(
    state: PartsbinState,
    set_id: int,
    spool: IngestSpool,
    title: str,
    filename: str | None,
    set_as_cover: bool,
) -> tuple[Attachment, StoredBlob]:
    """Store the spool's bytes unless they are there, and insert the row that references them.

    PostgreSQL: one transaction takes the blob's lock first, then looks for the blob, stores it
    if absent, and inserts the row: garbage collection (which deletes only under that lock) can
    neither remove the bytes between the look and the commit nor see the row missing, so a new
    blob costs one ``stat`` and one ``put`` (one conditional put for a small one on S3), a dedup
    hit one ``stat`` (on S3, none when a row already references it). SQLite, where the only
    lock is the database's write lock (not to be held while bytes are uploaded): the bytes are
    stored first and checked again under that lock in the insert (see docs/architecture.md,
    "Round trips of an upload").
    """
    db = state.database
    if is_sqlite(db):
        blob = _store_unless_attached(state, spool)
        return _insert(state, set_id, _blob_fields(blob, title, filename), set_as_cover), blob
    spool.finish()
    assert spool.sha256 is not None
    with blob_transaction(db):
        lock_blob(db, spool.sha256)
        blob = _store_unless_attached(state, spool)
        fields = _blob_fields(blob, title, filename)
        attachment = _insert_locked(state, set_id, fields, set_as_cover, stored_key=blob.key)
    return attachment, blob


def _store_unless_attached(state: PartsbinState, spool: IngestSpool) -> StoredBlob:
    """:func:`~core.cas.ingest.store_spool`, except that on a remote store (one with
    conditional puts, where a look costs a round trip) an attachment row that already
    references these bytes (same key, same size) settles it: rows reference only stored bytes,
    which passed validation when first stored, so a dedup hit of attached content costs one
    indexed ``SELECT`` and no storage request. Called under the blob's lock on PostgreSQL, so
    garbage collection cannot remove the bytes before this transaction's row commits.
    """
    if state.storage.conditional_puts:
        blob = StoredBlob.of_spool(spool)
        attached = Attachment.select().where(
            (Attachment.blob_key == blob.key) & (Attachment.file_size == blob.size)
        )
        if attached.exists():
            return blob
    return store_spool(state.storage, spool, state.settings.thumbnail_max_pixels)


def _prerender(state: PartsbinState, blob: StoredBlob | None, spool: IngestSpool | None = None
               ) -> None:  # fmt: skip
    """Queue the thumbnails of bytes this request stored (the row is committed: from now on
    garbage collection keeps the blob), read from ``spool`` when there is one; never raises."""
    if blob is not None and blob.stored:
        thumbnails.schedule_prerender(state.read_storage, blob, state.settings, spool)


def _blob_fields(blob: StoredBlob, title: str, filename: str | None) -> dict[str, Any]:
    return {
        "attachment_type": attachment_type_for(blob.content_type),
        "title": fit_text(title, TITLE_MAX),
        "blob_key": blob.key,
        "filename": fit_text(filename, FILENAME_MAX) or None,
        "content_type": blob.content_type,
        "file_size": blob.size,
    }


def add_url(state: PartsbinState, set_id: int, url: str, title: str | None) -> Attachment:
    """Fetch ``url`` safely and add it as a link (with a stored preview), an image or a PDF.

    A caller's non-empty title wins over the detected one. Fetch failures are 4xx errors.
    """
    from core.urlfetch.analyze import analyze_url

    get_set(set_id)
    analysis = analyze_url(url, state.settings, state.storage)
    chosen_title = (
        fit_text(title, TITLE_MAX) or fit_text(analysis.title, TITLE_MAX) or url[:TITLE_MAX]
    )
    if analysis.blob is not None:
        fields = _blob_fields(analysis.blob, chosen_title, _filename_from_url(analysis.final_url))
        fields["url"] = url
    else:
        fields = {
            "attachment_type": "url",
            "title": chosen_title,
            "url": url,
            "content_type": analysis.content_type,
            "preview_blob_key": analysis.preview_blob.key if analysis.preview_blob else None,
        }
    attachment = _insert(state, set_id, fields)
    _prerender(state, analysis.blob)
    _prerender(state, analysis.preview_blob)  # a link's preview: the UI shows it as a thumbnail
    state.plugin_manager.hook.attachment_created(attachment=attachment)
    return attachment


def _filename_from_url(url: str) -> str | None:
    from urllib.parse import unquote, urlsplit

    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    return fit_text(name, FILENAME_MAX) or None


def update_title(set_id: int, attachment_id: int, title: str) -> Attachment:
    """Rename an attachment."""
    with locked_set(set_id):
        attachment = get_attachment(set_id, attachment_id)
        attachment.title = fit_text(title, TITLE_MAX)
        attachment.save()
    return attachment


def delete_attachment(state: PartsbinState, set_id: int, attachment_id: int) -> None:
    """Delete an attachment; if it was the cover, the oldest remaining image becomes the cover.

    The bytes stay in the CAS until garbage collection (other rows may share them).
    """
    with locked_set(set_id) as attachment_set:
        attachment = get_attachment(set_id, attachment_id)
        was_cover = attachment_set.cover_attachment_id == attachment.id
        if was_cover:
            _set_cover_id(set_id, None)
        attachment.delete_instance()
        if was_cover:
            replacement = fallback_cover(set_id)
            _set_cover_id(set_id, replacement.id if replacement else None)
    state.plugin_manager.hook.attachment_deleted(attachment=attachment)


def set_cover(set_id: int, attachment_id: int | None) -> AttachmentSet:
    """Make ``attachment_id`` (any attachment of this set) the cover, or clear it with ``None``.

    Raises :class:`Conflict` for an attachment of another set, :class:`NotFound` for none.
    """
    with locked_set(set_id):
        if attachment_id is not None:
            get_attachment(set_id, attachment_id)
        _set_cover_id(set_id, attachment_id)
    return get_set(set_id)


def copy_attachment(
    state: PartsbinState, set_id: int, source_attachment_id: int, set_as_cover: bool = False
) -> Attachment:
    """Copy an attachment of any set into set ``set_id``, sharing its bytes (same ``blob_key``)."""
    get_set(set_id)
    source = Attachment.get_or_none(Attachment.id == source_attachment_id)
    if source is None:
        raise NotFound(f"attachment {source_attachment_id} does not exist")
    fields = {
        name: getattr(source, name)
        for name in (
            "attachment_type",
            "title",
            "blob_key",
            "preview_blob_key",
            "url",
            "filename",
            "content_type",
            "file_size",
        )
    }
    attachment = _insert(state, set_id, fields, set_as_cover=set_as_cover)
    state.plugin_manager.hook.attachment_created(attachment=attachment)
    return attachment
