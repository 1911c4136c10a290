"""Streaming ingest: hash, count, sniff and limit an upload, then store it once per content.

Memory stays bounded whatever the size: bytes are spooled to a temporary file (in memory up to
:data:`SPOOL_MEMORY_BYTES`, then on disk) while SHA-256 and the size are computed; reading stops as
soon as the limit is passed. Only then is the blob put under ``cas/<sha256>``, and only if absent.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from core.cas.sniff import SNIFF_BYTES, detect_content_type
from core.errors import PayloadTooLarge, UnsupportedMediaType
from storage_drivers.base import StorageDriver

CHUNK_BYTES = 64 * 1024
SPOOL_MEMORY_BYTES = 1024 * 1024
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class StoredBlob:
    """A blob in the CAS: its hash, size and detected content type."""

    sha256: str
    size: int
    content_type: str

    @property
    def key(self) -> str:
        """The storage key ``cas/<sha256>``."""
        return cas_key(self.sha256)


def cas_key(sha256: str) -> str:
    """The storage key of a hash. Raises ``ValueError`` unless ``sha256`` is 64 lowercase hex."""
    if not SHA256_HEX.match(sha256):
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
    return f"cas/{sha256}"


def sha256_of_key(key: str | None) -> str | None:
    """The hash in a ``cas/<sha256>`` key, or ``None`` for anything else."""
    if key and key.startswith("cas/") and SHA256_HEX.match(key[4:]):
        return key[4:]
    return None


def _too_large(limit: int, content_type: str) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"file is larger than the {limit}-byte limit for {content_type}",
        {"limit_bytes": limit, "content_type": content_type},
    )


def spool(
    stream: Readable,
    limit_for: Callable[[str], int],
    allowed_types: Collection[str] | None = None,
) -> tuple[BinaryIO, StoredBlob]:
    """Read ``stream`` to its end into a spooled temp file, hashing and counting.

    The type is detected from the first bytes; ``limit_for(type)`` gives the size limit, and reading
    stops as soon as it is passed (:class:`PayloadTooLarge`, 413). A type outside ``allowed_types``
    raises :class:`UnsupportedMediaType` (415) before the rest is read. Returns the temp file
    (positioned at 0; the caller closes it) and the blob's description.
    """
    hasher = hashlib.sha256()
    spooled = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)  # noqa: SIM115
    try:
        head = b""
        while len(head) < SNIFF_BYTES:
            chunk = stream.read(SNIFF_BYTES - len(head))
            if not chunk:
                break
            head += chunk
        content_type = detect_content_type(head)
        if allowed_types is not None and content_type not in allowed_types:
            raise UnsupportedMediaType(
                f"content type {content_type} is not allowed "
                f"(allowed: {', '.join(sorted(allowed_types))})",
                {"detected_type": content_type},
            )
        limit = limit_for(content_type)
        size = len(head)
        if size > limit:
            raise _too_large(limit, content_type)
        hasher.update(head)
        spooled.write(head)
        while True:
            chunk = stream.read(CHUNK_BYTES)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise _too_large(limit, content_type)
            hasher.update(chunk)
            spooled.write(chunk)
        spooled.seek(0)
        return spooled, StoredBlob(hasher.hexdigest(), size, content_type)  # type: ignore[return-value]
    except BaseException:
        spooled.close()
        raise


def store_spooled(storage: StorageDriver, spooled: BinaryIO, blob: StoredBlob) -> bool:
    """Put the spooled bytes under ``blob.key`` unless an object of that size is there already.

    Returns ``True`` if bytes were written, ``False`` if deduplicated.
    """
    existing = storage.stat(blob.key)
    if existing is not None and existing.size == blob.size:
        return False
    spooled.seek(0)
    storage.put(blob.key, spooled, blob.size)
    return True


def ingest(
    storage: StorageDriver,
    stream: Readable,
    limit_for: Callable[[str], int],
    allowed_types: Collection[str] | None = None,
) -> StoredBlob:
    """Spool, check and store ``stream`` in the CAS; return the stored blob.

    When this returns, the bytes are durably stored under ``cas/<sha256>``; callers insert database
    rows only afterwards. Raises 413/415 :class:`core.errors.ApiError` subclasses for the client's
    mistakes and :class:`storage_drivers.base.StorageUnavailable` when storage is down.
    """
    spooled, blob = spool(stream, limit_for, allowed_types)
    with spooled:
        store_spooled(storage, spooled, blob)
    return blob
