"""Streaming ingest: hash, count, sniff and limit an upload, then store it once per content.

Memory stays bounded whatever the size: bytes go through an :class:`~core.cas.spool.IngestSpool`
(in memory up to 1 MiB, then a temp file) that computes SHA-256 and the size and stops as soon as
the limit is passed. Only then is the blob put under ``cas/<sha256>``, and only if absent.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from typing import Protocol

from core.cas.spool import IngestSpool
from core.cas.validate import validate_content
from storage_drivers.base import StorageDriver

SHA256_HEX = re.compile(r"[0-9a-f]{64}")  # use with fullmatch
#: The characters of a hash: every key under ``cas/`` and ``thumbs/`` goes on with one of them.
HEX_DIGITS = "0123456789abcdef"


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class StoredBlob:
    """A blob in the CAS: its hash, size and detected content type."""

    sha256: str
    size: int
    content_type: str
    #: Whether the call that returned it wrote the bytes (``False``: they were there already).
    stored: bool = field(default=False, compare=False)

    @property
    def key(self) -> str:
        """The storage key ``cas/<sha256>``."""
        return cas_key(self.sha256)

    @classmethod
    def of_spool(cls, spool: IngestSpool) -> StoredBlob:
        """The blob of a spool's bytes (finishing the spool), not yet stored."""
        spool.finish()
        assert spool.sha256 is not None and spool.content_type is not None
        return cls(spool.sha256, spool.size, spool.content_type)


def cas_key(sha256: str) -> str:
    """The storage key of a hash. Raises ``ValueError`` unless ``sha256`` is 64 lowercase hex."""
    if not SHA256_HEX.fullmatch(sha256):
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
    return f"cas/{sha256}"


def sha256_of_key(key: str | None) -> str | None:
    """The hash in a ``cas/<sha256>`` key, or ``None`` for anything else."""
    if key and key.startswith("cas/") and SHA256_HEX.fullmatch(key[4:]):
        return key[4:]
    return None


#: Largest new blob stored with one conditional request on a driver that has them
#: (:attr:`~storage_drivers.base.StorageDriver.conditional_puts`): its content is checked before
#: the store says whether it is new, so only cheap checks qualify (not PDFs, checked in a
#: sandbox), and a dedup hit sends at most this many bytes again.
CONDITIONAL_PUT_MAX_BYTES = 1024 * 1024


def store_spool(
    storage: StorageDriver, spool: IngestSpool, max_pixels: int | None = None
) -> StoredBlob:
    """Put a finished spool's bytes under ``cas/<sha256>`` unless an object is there.

    Usually one ``stat``; then, only for new bytes, the content check and one ``put``. A dedup
    hit (the object is there with this size: the same bytes, since the key is their hash) is
    neither checked nor stored again: every blob under ``cas/`` passed the upload pipeline when
    it was first stored. On a driver with conditional puts, a blob of at most
    :data:`CONDITIONAL_PUT_MAX_BYTES` that is not a PDF is checked first and then stored with
    one request that does nothing if the object is there (a new small image: one round trip
    instead of two). For new bytes with ``max_pixels``, the content must be a sound file of its
    type (:func:`core.cas.validate.validate_content`; 422 otherwise, nothing stored). Returns
    the blob (``stored`` says whether this call put it). Raises
    :class:`storage_drivers.base.StorageUnavailable` when storage is down (then nothing may
    reference the hash).
    """
    blob = StoredBlob.of_spool(spool)
    if (
        storage.conditional_puts
        and blob.size <= CONDITIONAL_PUT_MAX_BYTES
        and blob.content_type != "application/pdf"
    ):
        if max_pixels is not None:
            validate_content(spool, max_pixels)
        spool.seek(0)
        stored = storage.put_if_absent(blob.key, spool, blob.size)  # type: ignore[arg-type]
        return replace(blob, stored=stored)
    existing = storage.stat(blob.key)
    if existing is not None and existing.size == blob.size:
        return blob
    if max_pixels is not None:
        validate_content(spool, max_pixels)
    spool.seek(0)
    storage.put(blob.key, spool, blob.size)  # type: ignore[arg-type]
    return replace(blob, stored=True)


def ingest(
    storage: StorageDriver,
    stream: Readable,
    limit_for: Callable[[str], int],
    allowed_types: Collection[str] | None = None,
    max_pixels: int | None = None,
) -> StoredBlob:
    """Read ``stream`` to its end through a spool, then store it in the CAS; return the blob.

    When this returns, the bytes are durably stored under ``cas/<sha256>``; callers insert database
    rows only afterwards. Raises :class:`core.errors.PayloadTooLarge` (413) as soon as the limit
    for the detected type is passed, :class:`core.errors.UnsupportedMediaType` (415) for a type not
    in ``allowed_types``, :class:`core.errors.UnprocessableContent` (422) for broken content when
    ``max_pixels`` is given (see :func:`store_spool`), and
    :class:`storage_drivers.base.StorageUnavailable` when storage is down.
    """
    with IngestSpool(limit_for, allowed_types) as spool:
        spool.fill_from(stream)
        return store_spool(storage, spool, max_pixels)
