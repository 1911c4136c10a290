"""Streaming zip archives of a set's stored files (nothing is loaded whole into memory)."""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterator

from zipstream import ZipStream

from core.attachments.models import Attachment
from storage_drivers.base import StorageDriver

_UNSAFE = re.compile(r"[^\w.\- ()]+", re.UNICODE)


def safe_filename(name: str | None, fallback: str) -> str:
    """A file name with no path parts, control characters or leading dots; never empty."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE.sub("_", base).strip(" ._")[:150]
    return base or fallback


def archive_names(attachments: list[Attachment]) -> list[tuple[Attachment, str]]:
    """Pair each attachment that has stored bytes with a unique, safe name in the archive."""
    used: set[str] = set()
    result = []
    for attachment in attachments:
        if not attachment.s3_key:
            continue
        ext = mimetypes.guess_extension(attachment.content_type or "") or ""
        name = safe_filename(attachment.filename or attachment.title, f"attachment-{attachment.id}")
        if "." not in name and ext:
            name += ext
        stem, dot, suffix = name.rpartition(".")
        if not dot:
            stem, suffix = name, ""
        candidate, n = name, 1
        while candidate.lower() in used:
            n += 1
            candidate = f"{stem} ({n}).{suffix}" if suffix else f"{name} ({n})"
        used.add(candidate.lower())
        result.append((attachment, candidate))
    return result


def archive_entries(storage: StorageDriver, attachments: list[Attachment]) -> list[tuple[str, str]]:
    """``[(key, name), ...]`` of the stored files to archive, checked to exist now.

    Call this before the response starts: a storage outage raises
    :class:`storage_drivers.base.StorageUnavailable` while an error status can still be sent.
    Attachments whose bytes are missing are left out.
    """
    return [
        (attachment.s3_key, name)
        for attachment, name in archive_names(attachments)
        if attachment.s3_key and storage.stat(attachment.s3_key) is not None
    ]


def stream_archive(storage: StorageDriver, entries: list[tuple[str, str]]) -> Iterator[bytes]:
    """Yield a zip of ``entries`` (from :func:`archive_entries`), reading each blob as a stream."""
    zs = ZipStream(sized=False)
    for key, name in entries:

        def chunks(key: str = key) -> Iterator[bytes]:
            yield from storage.open(key)

        zs.add(chunks(), arcname=name)
    yield from zs
