"""A write-once spool that hashes, counts, sniffs and limits bytes as they are written.

:class:`IngestSpool` is what both the streaming ingest and the multipart parser write into, so an
upload is checked while it arrives: a disallowed type fails after the first few KiB, an oversized
file right after its limit, and the bytes are hashed in the same pass (no second read).
"""

from __future__ import annotations

import errno
import hashlib
import io
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Collection
from typing import BinaryIO

from core.cas.sniff import SNIFF_BYTES, detect_content_type
from core.errors import PayloadTooLarge, ServiceUnavailable, UnsupportedMediaType

log = logging.getLogger("partsbin.spool")

#: One spool keeps its bytes in memory up to this size, then moves them to a temp file...
SPOOL_MEMORY_BYTES = 8 * 1024 * 1024
#: ...as long as all the spools of the process hold at most this much memory together (a spool
#: that would pass it moves to a temp file at once): ordinary uploads (photos, datasheets) never
#: touch the disk, and a burst of concurrent uploads costs at most this much memory.
SPOOL_MEMORY_BUDGET_BYTES = 32 * 1024 * 1024
#: :meth:`IngestSpool.reopen` copies bytes held in memory up to this size; a larger spool in
#: memory is moved to a temp file first, so a reopened handle never doubles a large upload's
#: memory.
REOPEN_COPY_MAX_BYTES = 1024 * 1024


class MemoryBudget:
    """Bytes that the spools of one process may hold in memory together (thread-safe)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    def take(self, size: int) -> bool:
        """Reserve ``size`` bytes; ``False`` (nothing reserved) if that would pass the limit."""
        with self._lock:
            if self.used + size > self.limit:
                return False
            self.used += size
            return True

    def give_back(self, size: int) -> None:
        """Return ``size`` reserved bytes."""
        with self._lock:
            self.used -= size


#: The budget every :class:`IngestSpool` of this process shares.
MEMORY_BUDGET = MemoryBudget(SPOOL_MEMORY_BUDGET_BYTES)


class IngestSpool:
    """A write-once buffer that knows its SHA-256, size and content type once :meth:`finish` ran.

    The bytes stay in memory within :data:`SPOOL_MEMORY_BYTES` and the process's
    :data:`MEMORY_BUDGET`, and go to an unlinked temp file beyond.

    ``limit_for(content_type)`` gives the size limit; ``allowed_types`` (if given) the accepted
    types. :meth:`write` raises :class:`UnsupportedMediaType` (415) as soon as the type is known
    and not allowed, and :class:`PayloadTooLarge` (413) as soon as the limit is passed. When the
    temp folder cannot take the bytes (full disk or quota: ``ENOSPC``/``EDQUOT``; any other
    ``OSError``), it closes and so removes its partial file, then raises
    :class:`ServiceUnavailable` (503 ``TEMP_STORAGE_FULL`` or ``TEMP_STORAGE_UNAVAILABLE``).
    """

    def __init__(
        self,
        limit_for: Callable[[str], int],
        allowed_types: Collection[str] | None = None,
    ) -> None:
        self._limit_for = limit_for
        self._allowed = allowed_types
        self._memory: io.BytesIO | None = io.BytesIO()
        self._file: io.BytesIO | io.BufferedRandom = self._memory
        self._reserved = 0  # bytes of MEMORY_BUDGET this spool holds
        self._hasher = hashlib.sha256()
        self._head = bytearray()
        self._limit: int | None = None
        self.size = 0
        self.content_type: str | None = None
        self.sha256: str | None = None

    # -- writing -------------------------------------------------------------------------
    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Append ``data`` (copied: the caller may reuse its buffer); raises 415/413 errors as
        described on the class."""
        if self.sha256 is not None:
            raise ValueError("spool is finished; no more writes")
        self.size += len(data)
        if self.content_type is None:
            self._head += data[: max(0, SNIFF_BYTES - len(self._head))]
            if len(self._head) >= SNIFF_BYTES:
                self._decide_type()
        if self._limit is not None and self.size > self._limit:
            raise self._too_large()
        self._hasher.update(data)
        try:
            if self._memory is not None and not self._room_in_memory(len(data)):
                self._move_to_disk()
            self._file.write(data)
        except OSError as exc:
            raise self._storage_trouble(exc) from exc
        return len(data)

    def _room_in_memory(self, size: int) -> bool:
        if self._reserved + size > SPOOL_MEMORY_BYTES or not MEMORY_BUDGET.take(size):
            return False
        self._reserved += size
        return True

    def _move_to_disk(self) -> None:
        assert self._memory is not None
        position = self._memory.tell()
        file = tempfile.TemporaryFile()
        try:
            file.write(self._memory.getbuffer())
            file.seek(position)
        except BaseException:
            file.close()
            raise
        self._memory.close()
        self._memory, self._file = None, file
        self._give_back_memory()

    def _give_back_memory(self) -> None:
        MEMORY_BUDGET.give_back(self._reserved)
        self._reserved = 0

    def _storage_trouble(self, exc: OSError) -> ServiceUnavailable:
        # The temp file is unlinked at creation; closing it frees the space it took.
        self.close()
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
        log.warning("upload spool write failed after %d bytes: %s", self.size, exc)
        if full:
            return ServiceUnavailable(
                "the server's temporary storage is full, try again later",
                {"spooled_bytes": self.size},
                code="TEMP_STORAGE_FULL",
            )
        return ServiceUnavailable(
            "the server's temporary storage failed, try again later",
            {"spooled_bytes": self.size},
            code="TEMP_STORAGE_UNAVAILABLE",
        )

    def _decide_type(self) -> None:
        content_type = detect_content_type(bytes(self._head))
        if self._allowed is not None and content_type not in self._allowed:
            raise UnsupportedMediaType(
                f"content type {content_type} is not allowed "
                f"(allowed: {', '.join(sorted(self._allowed))})",
                {"detected_type": content_type},
            )
        self.content_type = content_type
        self._limit = self._limit_for(content_type)

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"file is larger than the {self._limit}-byte limit for {self.content_type}",
            {"limit_bytes": self._limit, "content_type": self.content_type},
        )

    def finish(self) -> None:
        """Mark the end of input: decide the type of short files and fix the hash. Idempotent."""
        if self.sha256 is not None:
            return
        if self.content_type is None:
            self._decide_type()
            if self._limit is not None and self.size > self._limit:
                raise self._too_large()
        self.sha256 = self._hasher.hexdigest()
        self._file.seek(0)

    def fill_from(self, stream: object, chunk_bytes: int = 64 * 1024) -> IngestSpool:
        """Write everything read from ``stream`` (anything with ``read(n)``), then finish."""
        read = stream.read  # type: ignore[attr-defined]
        while True:
            chunk = read(chunk_bytes)
            if not chunk:
                break
            self.write(chunk)
        self.finish()
        return self

    # -- reading (after finish) ------------------------------------------------------------
    def seek(self, offset: int, whence: int = 0) -> int:
        """Seeking to the start ends writing (the multipart parser does this); returns position."""
        if offset == 0 and whence == 0 and self.sha256 is None:
            self.finish()
        return self._file.seek(offset, whence)

    def read(self, size: int = -1) -> bytes:
        return self._file.read(size)

    def readinto(self, buffer: bytearray | memoryview) -> int:
        return self._file.readinto(buffer)

    def tell(self) -> int:
        return self._file.tell()

    def readable(self) -> bool:
        return True

    def reopen(self) -> BinaryIO | None:
        """A new read-only handle on the finished bytes, with its own position and still valid
        after this spool is closed (the caller closes it); ``None`` if that is not possible.

        Bytes held in memory are copied up to :data:`REOPEN_COPY_MAX_BYTES`; more are moved to
        a temp file first. A spool on disk has its (unlinked) temp file opened again through
        ``/proc/self/fd`` (Linux).
        """
        if self.sha256 is None or self.closed:
            return None
        if self._memory is not None:
            if self.size <= REOPEN_COPY_MAX_BYTES:
                return io.BytesIO(self._memory.getvalue())
            try:
                self._move_to_disk()
            except OSError:
                return None
        try:
            fd = os.open(f"/proc/self/fd/{self._file.fileno()}", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        return os.fdopen(fd, "rb")

    def close(self) -> None:
        """Free the bytes (memory or temp file). Idempotent."""
        self._file.close()
        self._give_back_memory()

    @property
    def closed(self) -> bool:
        return bool(self._file.closed)

    def __enter__(self) -> IngestSpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
