"""Streaming zip archives of a set's stored files (nothing is loaded whole into memory)."""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterator

from zipstream import ZipStream

from core.attachments.models import Attachment
from storage_drivers.base import StorageDriver

_UNSAFE = re.compile(r"[^\w.\- ()]+", re.UNICODE)
#: Bidirectional formatting characters (they can make ``x\u202egnp.exe`` look like ``xexe.png``).
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
#: Device names Windows reserves with any extension (``CON.png`` cannot be created there).
_RESERVED = re.compile(
    r"^(?:con|prn|aux|nul|com[0-9\u00b9\u00b2\u00b3]|lpt[0-9\u00b9\u00b2\u00b3])$", re.I
)


def safe_filename(name: str | None, fallback: str) -> str:
    """A file name with no path parts, control or bidirectional formatting characters, leading
    dots or Windows-reserved device names (``CON.png`` becomes ``_CON.png``); never empty."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = _BIDI.sub("", base)
    base = _UNSAFE.sub("_", base).strip(" ._")[:150]
    if _RESERVED.match(base.split(".", 1)[0].rstrip(" ")):
        base = "_" + base
    return base or fallback


def _with_type_extension(name: str, content_type: str | None) -> str:
    """``name`` ending in an extension of ``content_type`` (the stored bytes' detected type), so
    an archive entry never claims another type: ``report.exe`` of a PNG is ``report.exe.png``."""
    extensions = mimetypes.guess_all_extensions(content_type or "")
    if not extensions:
        return name
    _stem, dot, suffix = name.rpartition(".")
    if dot and f".{suffix.lower()}" in extensions:
        return name
    return name + (mimetypes.guess_extension(content_type or "") or extensions[0])


def archive_names(attachments: list[Attachment]) -> list[tuple[Attachment, str]]:
    """Pair each attachment that has stored bytes with a unique, safe name in the archive."""
    used: set[str] = set()
    result = []
    for attachment in attachments:
        if not attachment.blob_key:
            continue
        name = safe_filename(attachment.filename or attachment.title, f"attachment-{attachment.id}")
        name = _with_type_extension(name, attachment.content_type)
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
        (attachment.blob_key, name)
        for attachment, name in archive_names(attachments)
        if attachment.blob_key and storage.stat(attachment.blob_key) is not None
    ]


def stream_archive(storage: StorageDriver, entries: list[tuple[str, str]]) -> Iterator[bytes]:
    """Yield a zip of ``entries`` (from :func:`archive_entries`), reading each blob as a stream."""
    zs = ZipStream(sized=False)
    for key, name in entries:

        def chunks(key: str = key) -> Iterator[bytes]:
            yield from storage.open(key)

        zs.add(chunks(), arcname=name)
    yield from zs
