"""The storage driver interface: bytes by key, nothing more.

A driver stores opaque byte streams under string keys such as ``cas/<sha256>`` or
``thumbs/<sha256>-200.jpg``. It knows nothing about hashing, dedup or attachments: the
content-addressed store in :mod:`core.cas` builds those on top. Every vendor error is translated
into one of the exceptions below, so callers never see a boto3, minio or OS error.
"""

from __future__ import annotations

import abc
import inspect
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO

KEY_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]*(/[A-Za-z0-9][A-Za-z0-9._\-]*)*")  # fullmatch


#: Response headers a presigned URL can override (S3's ``response-*`` query parameters), by the
#: name of the S3 ``GetObject`` parameter that carries each.
PRESIGNABLE_HEADERS = {
    "Cache-Control": "ResponseCacheControl",
    "Content-Disposition": "ResponseContentDisposition",
    "Content-Encoding": "ResponseContentEncoding",
    "Content-Language": "ResponseContentLanguage",
    "Content-Type": "ResponseContentType",
    "Expires": "ResponseExpires",
}


class StorageError(Exception):
    """Base class of every error a storage driver raises."""


class BlobNotFound(StorageError, FileNotFoundError):
    """The key does not exist."""


class StorageUnavailable(StorageError):
    """The backend cannot be reached or failed for now (network, server down or erroring).

    The HTTP layer answers 503.
    """


class StorageMisconfigured(StorageError):
    """The storage URL or settings are wrong: raised when the driver is built (start-up), and by
    requests the backend refuses for credentials or a missing bucket. The HTTP layer answers 500.
    """


class InvalidKey(StorageError, ValueError):
    """The key is not a safe relative key (see :data:`KEY_PATTERN`)."""


@dataclass(frozen=True)
class BlobStat:
    """What :meth:`StorageDriver.stat` knows about a stored object."""

    key: str
    size: int
    #: When the object was last written (timezone-aware UTC), or None if the backend cannot tell.
    modified: datetime | None = field(default=None, compare=False)


def accepts_keyword(method: object, name: str) -> bool:
    """Whether ``method`` takes the keyword argument ``name`` (or ``**kwargs``).

    Drivers written against an older version of this interface may override ``check()`` or
    ``presigned_get_url()`` without the newer arguments; callers use this to call them safely.
    """
    try:
        parameters = inspect.signature(method).parameters  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return name in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


def sorted_listing(
    driver: StorageDriver, prefix: str, alphabet: str | None = None
) -> Iterator[BlobStat]:
    """``driver.iter_sorted_keys(prefix, alphabet)``, also for a driver that overrides
    :meth:`~StorageDriver.iter_sorted_keys` without ``alphabet`` (it lists the whole prefix)."""
    if alphabet and accepts_keyword(driver.iter_sorted_keys, "alphabet"):
        return driver.iter_sorted_keys(prefix, alphabet=alphabet)
    return driver.iter_sorted_keys(prefix)


def check_key(key: str) -> str:
    """Return ``key`` if it is a safe key, else raise :class:`InvalidKey`.

    A safe key is a ``/``-separated path of segments made of letters, digits, ``.``, ``_`` and
    ``-`` that do not start with ``.`` or ``-``: no absolute paths, no ``..``, no empty segments.
    """
    if len(key) > 1024 or not KEY_PATTERN.fullmatch(key):
        raise InvalidKey(f"invalid storage key {key!r}")
    return key


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` if it is a safe listing prefix, else raise :class:`InvalidKey`.

    A safe prefix is empty, or a safe key (see :func:`check_key`) optionally followed by ``/``:
    ``"cas/"``, ``"cas/ab"`` and ``"thumbs"`` are safe; ``"/x"``, ``"../"`` and ``"a//"`` are not.
    """
    if prefix and not KEY_PATTERN.fullmatch(prefix.removesuffix("/")):
        raise InvalidKey(f"invalid storage key prefix {prefix!r}")
    return prefix


class StorageDriver(abc.ABC):
    """Stores byte streams by key. Implementations must be safe to share between threads."""

    #: URL scheme the driver is registered under (``file``, ``s3``, ``minio``).
    scheme: str = ""

    @classmethod
    @abc.abstractmethod
    def from_url(cls, url: str) -> StorageDriver:
        """Build a driver from its storage URL; raise :class:`StorageMisconfigured` if it is bad."""

    @abc.abstractmethod
    def put(self, key: str, stream: BinaryIO, size: int | None = None) -> None:
        """Store everything read from ``stream`` under ``key``, replacing any previous object.

        ``size`` may be ``None`` when unknown. The object appears whole or not at all: a reader
        never sees a partial object. Raises :class:`StorageUnavailable` on backend failure.
        """

    @abc.abstractmethod
    def open(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Return an iterator over the object's bytes from ``start`` to ``end`` inclusive.

        ``end=None`` reads to the end. Raises :class:`BlobNotFound` if the key does not exist
        (before the iterator is returned, so callers can answer 404 before sending headers).
        The iterator closes its underlying connection or file when exhausted or closed.
        """

    @abc.abstractmethod
    def stat(self, key: str) -> BlobStat | None:
        """Return the object's size, or ``None`` if the key does not exist."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Delete the object. Deleting a missing key is not an error."""

    @abc.abstractmethod
    def iter_keys(self, prefix: str = "") -> Iterator[BlobStat]:
        """Yield every object whose key starts with ``prefix``, in any order, paging as needed."""

    #: Whether :meth:`iter_keys` already yields keys in ascending byte order (S3 ListObjectsV2
    #: does); if not, :meth:`iter_sorted_keys` sorts in memory.
    lists_sorted: bool = False

    def iter_sorted_keys(self, prefix: str = "", alphabet: str | None = None) -> Iterator[BlobStat]:
        """Like :meth:`iter_keys`, in ascending key order (streamed when :attr:`lists_sorted`).

        One exception is allowed, since some S3 servers keep folders (SeaweedFS's filer): the
        keys under ``x/`` may come before a sibling key that starts with ``x`` and a character
        below ``/`` (``x-1``). Callers merging on a fixed-length head of the key, as garbage
        collection merges on hashes, never see that head go backwards.

        ``alphabet`` tells that the caller wants only keys whose character after ``prefix`` is
        one of its characters (the CAS passes the hex digits): a remote driver may then list
        one sub-prefix per character, several at once (:func:`~storage_drivers.streams.
        split_listing`), and leave the other keys out. Drivers may ignore it.
        """
        if self.lists_sorted:
            return self.iter_keys(prefix)
        return iter(sorted(self.iter_keys(prefix), key=lambda stat: stat.key))

    #: Whether :meth:`put_if_absent` is one request (the store checks for the object itself,
    #: S3's ``If-None-Match: *``); ``False``: it looks first (:meth:`stat`), then puts.
    conditional_puts: bool = False

    def put_if_absent(self, key: str, stream: BinaryIO, size: int) -> bool:
        """Store ``size`` bytes of ``stream`` under ``key`` unless an object is there already;
        return whether this call stored them.

        For content-addressed keys, where an object at a key always holds the same bytes: an
        object that is there is not checked against ``stream``. The default looks first, and
        also replaces an object of another size (a copy cut short outside this driver); drivers
        with :attr:`conditional_puts` leave that to ``partsbin check --deep``. Two callers
        racing for one key both store the same bytes or one finds the other's. A retried request
        may report ``False`` for bytes it stored itself. Raises what :meth:`put` raises.
        """
        existing = self.stat(key)
        if existing is not None and existing.size == size:
            return False
        self.put(key, stream, size)
        return True

    def delete_many(self, keys: Sequence[str]) -> None:
        """Delete every key (missing keys are not an error); drivers override to batch calls.

        On failure some keys may be deleted and others not; deleting again is safe.
        """
        for key in keys:
            self.delete(key)

    def presigned_get_url(
        self,
        key: str,
        expires_seconds: int = 300,
        response_headers: Mapping[str, str] | None = None,
    ) -> str | None:
        """Return a short-lived URL a client can GET the object from, or ``None``.

        ``response_headers`` names headers the storage must send with the object instead of its
        stored ones; a driver signs them into the URL when it can express every one of them
        (see :data:`PRESIGNABLE_HEADERS`) and returns ``None`` otherwise, so the caller serves
        the object itself. ``None`` too when the driver has no URLs (the local driver).
        """
        return None

    def local_path(self, key: str) -> str | None:
        """Return the path of a local file holding the object's bytes, or ``None``.

        Lets the HTTP layer hand the file to the server's ``sendfile``. The file may be
        replaced or removed at any time after this returns (open it and check its size). Only
        drivers that keep objects on local disk (the local driver, the read-through cache)
        return a path.
        """
        return None

    def exists(self, key: str) -> bool:
        """Return whether ``key`` exists."""
        return self.stat(key) is not None

    def check(self, timeout: float = 2.0) -> None:
        """Raise :class:`StorageUnavailable` unless the backend answers (used by readiness).

        Remote drivers give up after about ``timeout`` seconds (a frozen server must not hold
        the probe), whatever their timeouts for ordinary requests.
        """
        self.stat("healthcheck/probe")

    def close(self) -> None:  # noqa: B027 - optional hook with a no-op default
        """Release connections; the driver must not be used afterwards."""
