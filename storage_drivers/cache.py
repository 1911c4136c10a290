"""A local read-through cache of immutable objects in front of any (remote) storage driver.

Objects under ``cas/`` and ``thumbs/`` never change once written (the key names the content, or
content derived from it), so a copy on local disk can be served for as long as it is kept.
:class:`CachingDriver` wraps a driver: reads of those prefixes are answered from the cache
directory when the object is there (a *hit*, no request to the store) and filled from the store
when it is not (a *miss*); everything else passes through unchanged. The store stays the truth:
each instance keeps its own cache, and a lost or damaged cache only costs requests.

Layout under ``directory``: ``objects/<key path>`` (``cas/<h>`` fanned out as
``cas/<h[0:2]>/<h[2:4]>/<h>``, like the local driver) and ``tmp/`` for fills in progress.

* **Shared by processes**: every worker on the machine may use the same directory; files are
  only ever created by renaming a complete temp file into place, so two workers filling one
  object both succeed and readers see one whole copy or none.
* **Crash-safe**: a fill writes ``tmp/<random>`` and renames it only after the last byte arrived
  and was verified; a crash or a failing stream leaves at most a temp file, which is never served
  and is removed by the next eviction pass once it is older than :data:`STALE_TEMP_SECONDS`.
* **Verified**: a ``cas/<sha256>`` fill must hash to its name and a thumbnail fill must have the
  size the store reported; anything else is discarded. On a hit, each process hashes a ``cas/``
  file once (and again whenever its size, mtime or inode changes), so a damaged file is detected,
  deleted and refetched instead of served.
* **Bounded**: when more than ``max_bytes`` are cached, an eviction pass (in a background
  thread, one process at a time through a lock file) deletes the least recently used files
  (by access time, which hits refresh at most once a minute) down to 90 % of the limit. A pass
  runs after every ``max_bytes / 10`` bytes filled by the process and at start-up, so requests
  never pay for it.

Counters (:attr:`BlobCache.counters`) count hits, misses, fills, discarded fills, corrupt files
found and evictions, per process; :mod:`core.api.metrics` exports them.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import secrets
import stat as stat_module
import threading
import time
from collections import OrderedDict
from collections.abc import Generator, Iterator, Mapping, Sequence
from typing import BinaryIO

from storage_drivers.base import (
    BlobStat,
    StorageDriver,
    StorageMisconfigured,
    accepts_keyword,
    check_key,
    sorted_listing,
)
from storage_drivers.local import fan_out
from storage_drivers.streams import CHUNK_SIZE, ClosingIterator, check_range

log = logging.getLogger("partsbin.cache")

#: Key prefixes whose objects never change, and so may be cached.
IMMUTABLE_PREFIXES = ("cas/", "thumbs/")
#: Temp files older than this are leftovers of crashed fills.
STALE_TEMP_SECONDS = 3600.0
#: A hit refreshes the file's access time when it is older than this (LRU order).
TOUCH_INTERVAL_SECONDS = 60.0
#: Objects larger than this share of the limit are streamed from the store, never cached.
LARGEST_SHARE = 0.25
#: How many verified files each process remembers (older entries are re-hashed on use).
VERIFIED_MEMORY = 20_000
_SIZES_MEMORY = 4096


def is_cacheable(key: str) -> bool:
    """Whether ``key`` names an immutable object (under :data:`IMMUTABLE_PREFIXES`)."""
    return key.startswith(IMMUTABLE_PREFIXES)


def _expected_sha256(key: str) -> str | None:
    if key.startswith("cas/") and len(key) == 68:
        return key[4:]
    return None


class BlobCache:
    """The cache directory: lookups, fills, verification, eviction and counters.

    Thread-safe; several processes may share one directory. Raises
    :class:`~storage_drivers.base.StorageMisconfigured` if ``directory`` cannot be created.
    """

    def __init__(self, directory: str, max_bytes: int, *, background: bool = True) -> None:
        """Use ``directory`` (created if missing) for at most ``max_bytes``.

        ``background=False`` runs no eviction thread: the owner calls :meth:`evict` itself.
        """
        if max_bytes <= 0:
            raise ValueError("a cache needs max_bytes > 0 (0 means: no cache)")
        self.directory = os.path.abspath(directory)
        self.max_bytes = max_bytes
        self.objects = os.path.join(self.directory, "objects")
        self.tmp = os.path.join(self.directory, "tmp")
        try:
            os.makedirs(self.objects, exist_ok=True)
            os.makedirs(self.tmp, exist_ok=True)
        except OSError as exc:
            raise StorageMisconfigured(f"cannot create cache folder {directory!r}: {exc}") from exc
        self.counters = {
            "hits": 0,
            "misses": 0,
            "fills": 0,
            "fill_bytes": 0,
            "fills_discarded": 0,
            "corrupt": 0,
            "evictions": 0,
            "evicted_bytes": 0,
        }
        self._lock = threading.Lock()
        self._verified: OrderedDict[str, tuple[int, int, int]] = OrderedDict()
        self._filled_since_pass = 0
        self._wake = threading.Event()
        self._closed = False
        if background:
            thread = threading.Thread(target=self._evictor, name="partsbin-cache", daemon=True)
            thread.start()
            self._wake.set()  # one pass at start-up: removes stale temp files, enforces the limit

    # --- paths and counters ----------------------------------------------------------------

    def path(self, key: str) -> str:
        """The file that holds ``key`` (which must be a safe, cacheable key)."""
        check_key(key)
        return os.path.join(self.objects, *fan_out(key))

    def count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self.counters[name] += amount

    def largest(self) -> int:
        """Objects above this size are not cached."""
        return int(self.max_bytes * LARGEST_SHARE)

    # --- lookups ---------------------------------------------------------------------------

    def lookup(self, key: str) -> tuple[str, int] | None:
        """``(path, size)`` of a verified cached copy of ``key``, or ``None`` (not counted).

        A ``cas/`` file this process has not verified yet is hashed first; a damaged one is
        deleted (counted as ``corrupt``) and ``None`` returned, so the caller refetches it.
        """
        path = self.path(key)
        try:
            info = os.stat(path)
        except OSError:
            return None
        if not stat_module.S_ISREG(info.st_mode):
            return None
        identity = (info.st_ino, info.st_size, info.st_mtime_ns)
        expected = _expected_sha256(key)
        if expected is not None and not self._is_verified(path, identity):
            if not self._hash_matches(path, expected):
                log.warning("cache: %s is damaged; removing it", key)
                self.count("corrupt")
                self.discard(key)
                return None
            self._remember(path, identity)
        if time.time() - info.st_atime > TOUCH_INTERVAL_SECONDS:
            with contextlib.suppress(OSError):
                os.utime(path, ns=(time.time_ns(), info.st_mtime_ns))
        return path, info.st_size

    def _is_verified(self, path: str, identity: tuple[int, int, int]) -> bool:
        with self._lock:
            if self._verified.get(path) == identity:
                self._verified.move_to_end(path)
                return True
            return False

    def _remember(self, path: str, identity: tuple[int, int, int]) -> None:
        with self._lock:
            self._verified[path] = identity
            self._verified.move_to_end(path)
            while len(self._verified) > VERIFIED_MEMORY:
                self._verified.popitem(last=False)

    @staticmethod
    def _hash_matches(path: str, expected: str) -> bool:
        hasher = hashlib.sha256()
        try:
            with open(path, "rb") as file:
                while chunk := file.read(1024 * 1024):
                    hasher.update(chunk)
        except OSError:
            return False
        return hasher.hexdigest() == expected

    def discard(self, key: str) -> None:
        """Remove the cached copy of ``key`` if there is one."""
        path = self.path(key)
        with self._lock:
            self._verified.pop(path, None)
        with contextlib.suppress(OSError):
            os.unlink(path)

    # --- fills -----------------------------------------------------------------------------

    def begin_fill(self, key: str, expected_size: int | None) -> CacheFill:
        """Start writing a copy of ``key``; see :class:`CacheFill`."""
        return CacheFill(self, key, expected_size)

    def _filled(self, size: int) -> None:
        with self._lock:
            self.counters["fills"] += 1
            self.counters["fill_bytes"] += size
            self._filled_since_pass += size
            due = self._filled_since_pass >= max(1, self.max_bytes // 10)
            if due:
                self._filled_since_pass = 0
        if due:
            self._wake.set()

    # --- eviction --------------------------------------------------------------------------

    def _evictor(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._closed:
                return
            try:
                self.evict()
            except Exception:  # the evictor must survive any file system error
                log.exception("cache: eviction pass failed")

    def evict(self, *, wait: bool = False) -> int:
        """One eviction pass (see the module docstring); returns the bytes removed.

        Skipped (returning 0) while another process runs one, unless ``wait``.
        """
        lock_path = os.path.join(self.directory, "evict.lock")
        with open(lock_path, "a+b") as lock_file:
            try:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EACCES):
                    return 0
                raise
            self._remove_stale_temps()
            files: list[tuple[float, int, str]] = []
            total = 0
            for path, info in _walk(self.objects):
                files.append((info.st_atime, info.st_size, path))
                total += info.st_size
            if total <= self.max_bytes:
                return 0
            target = int(self.max_bytes * 0.9)
            removed = 0
            files.sort()
            for _atime, size, path in files:
                if total - removed <= target:
                    break
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                    removed += size
                    self.count("evictions")
                    self.count("evicted_bytes", size)
            log.info(
                "cache: evicted %d bytes (%d cached, limit %d)", removed, total, self.max_bytes
            )
            return removed

    def _remove_stale_temps(self) -> None:
        cutoff = time.time() - STALE_TEMP_SECONDS
        with contextlib.suppress(OSError):
            for entry in os.scandir(self.tmp):
                with contextlib.suppress(OSError):
                    if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                        os.unlink(entry.path)

    def close(self) -> None:
        """Stop the eviction thread (cached files stay for the next start)."""
        self._closed = True
        self._wake.set()


def _walk(directory: str) -> Iterator[tuple[str, os.stat_result]]:
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                yield from _walk(entry.path)
            elif entry.is_file(follow_symlinks=False):
                yield entry.path, entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue


class CacheFill:
    """A copy of one object being written: :meth:`write` chunks, then :meth:`commit` or
    :meth:`abort`.

    The bytes go to a temp file; :meth:`commit` verifies them (SHA-256 for ``cas/``, the
    expected size for others) and renames the file into place, or discards it. A fill that grows
    past the cache's largest object gives up quietly (nothing is cached). Write errors (disk
    full) abandon the fill, never the caller's request.
    """

    def __init__(self, cache: BlobCache, key: str, expected_size: int | None) -> None:
        self.cache = cache
        self.key = key
        self.expected_size = expected_size
        self.size = 0
        expected = _expected_sha256(key)
        self._hasher = hashlib.sha256() if expected is not None else None
        self._expected_sha = expected
        self._temp = os.path.join(cache.tmp, f"{os.getpid()}-{secrets.token_hex(8)}")
        self._file: BinaryIO | None
        try:
            self._file = open(self._temp, "xb")  # closed by commit/abort
        except OSError as exc:
            log.warning("cache: cannot start a fill of %s: %s", key, exc)
            self._file = None
        if expected_size is not None and expected_size > cache.largest():
            self.abort()

    @property
    def active(self) -> bool:
        return self._file is not None

    def write(self, chunk: bytes) -> None:
        if self._file is None:
            return
        self.size += len(chunk)
        if self.size > self.cache.largest():
            self.abort()
            return
        try:
            self._file.write(chunk)
        except OSError as exc:
            log.warning("cache: fill of %s abandoned: %s", self.key, exc)
            self.abort()
            return
        if self._hasher is not None:
            self._hasher.update(chunk)

    def commit(self) -> bool:
        """Verify and publish the copy; returns whether it is now cached."""
        file, self._file = self._file, None
        if file is None:
            return False
        try:
            file.close()
            if not self._verified():
                log.warning("cache: fill of %s did not verify; discarded", self.key)
                self.cache.count("fills_discarded")
                os.unlink(self._temp)
                return False
            path = self.cache.path(self.key)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            os.replace(self._temp, path)
        except OSError as exc:
            log.warning("cache: cannot publish %s: %s", self.key, exc)
            with contextlib.suppress(OSError):
                os.unlink(self._temp)
            return False
        if self._expected_sha is not None:
            with contextlib.suppress(OSError):
                info = os.stat(path)
                self.cache._remember(path, (info.st_ino, info.st_size, info.st_mtime_ns))
        self.cache._filled(self.size)
        return True

    def _verified(self) -> bool:
        if self.expected_size is not None and self.size != self.expected_size:
            return False
        if self._hasher is not None:
            return self._hasher.hexdigest() == self._expected_sha
        return self.expected_size is not None

    def abort(self) -> None:
        """Drop the partial copy (idempotent)."""
        file, self._file = self._file, None
        if file is not None:
            with contextlib.suppress(OSError):
                file.close()
            with contextlib.suppress(OSError):
                os.unlink(self._temp)


class CachingDriver(StorageDriver):
    """``inner`` with reads of immutable keys served from a :class:`BlobCache`.

    * :meth:`stat` of a cached key answers from the cache file (no request);
    * :meth:`open` of a cached key reads the file; a whole-object read of a missing one streams
      from ``inner`` while filling the cache (the fill is published only if the stream ended and
      verified); a ranged read of a missing one passes through;
    * :meth:`put` of an immutable key stores in ``inner`` first, and fills the cache from the
      same bytes once ``inner`` accepted them (write-through);
    * :meth:`delete` deletes in ``inner`` and drops the cached copy;
    * :meth:`local_path` names the cache file of a hit, so the HTTP layer can ``sendfile`` it.

    Because a hit never asks the store, a blob deleted from the store (garbage collection) may
    still be served by an instance that cached it, until it is evicted. Do not use this driver
    to decide whether a blob *exists* (the upload path asks the store itself).
    """

    scheme = "cache"

    def __init__(self, inner: StorageDriver, cache: BlobCache) -> None:
        self.inner = inner
        self.cache = cache
        self.lists_sorted = inner.lists_sorted
        self.conditional_puts = inner.conditional_puts
        self._sizes: OrderedDict[str, int] = OrderedDict()
        self._sizes_lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str) -> CachingDriver:
        raise StorageMisconfigured("the cache wraps a driver; it has no storage URL of its own")

    # --- helpers ---------------------------------------------------------------------------

    def _remember_size(self, key: str, size: int) -> None:
        with self._sizes_lock:
            self._sizes[key] = size
            self._sizes.move_to_end(key)
            while len(self._sizes) > _SIZES_MEMORY:
                self._sizes.popitem(last=False)

    def _known_size(self, key: str) -> int | None:
        with self._sizes_lock:
            return self._sizes.get(key)

    def _hit(self, key: str) -> tuple[str, int] | None:
        if not is_cacheable(key):
            return None
        found = self.cache.lookup(key)
        self.cache.count("hits" if found else "misses")
        return found

    # --- the interface ---------------------------------------------------------------------

    def stat(self, key: str) -> BlobStat | None:
        if is_cacheable(key):
            found = self.cache.lookup(key)
            if found is not None:
                return BlobStat(key, found[1])
        result = self.inner.stat(key)
        if result is not None and is_cacheable(key):
            self._remember_size(key, result.size)
        return result

    def local_path(self, key: str) -> str | None:
        """The cache file of ``key`` if it is cached (counted as a hit), else ``None``."""
        found = self._hit(key)
        return found[0] if found else None

    def open(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        check_range(start, end)
        found = self._hit(key)
        if found is not None:
            path = found[0]
            try:
                file = open(path, "rb", buffering=0)  # closed by the iterator
            except OSError:
                found = None  # evicted between the lookup and now: read from the store
            else:
                file.seek(start)
                remaining = None if end is None else end - start + 1
                return ClosingIterator(_file_chunks(file, remaining), file.close)
        if not is_cacheable(key) or start != 0 or end is not None:
            return self.inner.open(key, start, end)
        chunks = self.inner.open(key)
        fill = self.cache.begin_fill(key, self._known_size(key))
        if not fill.active:
            return chunks
        teed = _teed(chunks, fill, _SizeSource(self, key))

        def release() -> None:  # also when the reader stops early (client gone)
            teed.close()
            fill.abort()
            _close(chunks)

        return ClosingIterator(teed, release)

    def put(self, key: str, stream: BinaryIO, size: int | None = None) -> None:
        if not is_cacheable(key):
            self.inner.put(key, stream, size)
            return
        fill = self.cache.begin_fill(key, size)
        if not fill.active:
            self.inner.put(key, stream, size)
            return
        try:
            self.inner.put(key, _TeeReader(stream, fill), size)  # type: ignore[arg-type]
        except BaseException:
            fill.abort()
            raise
        if fill.expected_size is None:
            fill.expected_size = fill.size
        fill.commit()

    def put_if_absent(self, key: str, stream: BinaryIO, size: int) -> bool:
        """``inner``'s answer: whether a blob exists is the store's to say, not the cache's."""
        return self.inner.put_if_absent(key, stream, size)

    def delete(self, key: str) -> None:
        self.inner.delete(key)
        if is_cacheable(key):
            self.cache.discard(key)

    def delete_many(self, keys: Sequence[str]) -> None:
        self.inner.delete_many(keys)
        for key in keys:
            if is_cacheable(key):
                self.cache.discard(key)

    def iter_keys(self, prefix: str = "") -> Iterator[BlobStat]:
        return self.inner.iter_keys(prefix)

    def iter_sorted_keys(self, prefix: str = "", alphabet: str | None = None) -> Iterator[BlobStat]:
        return sorted_listing(self.inner, prefix, alphabet)

    def presigned_get_url(
        self,
        key: str,
        expires_seconds: int = 300,
        response_headers: Mapping[str, str] | None = None,
    ) -> str | None:
        if response_headers and not accepts_keyword(
            self.inner.presigned_get_url, "response_headers"
        ):
            return None
        if not response_headers:
            return self.inner.presigned_get_url(key, expires_seconds)
        return self.inner.presigned_get_url(key, expires_seconds, response_headers)

    def check(self, timeout: float = 2.0) -> None:
        if accepts_keyword(self.inner.check, "timeout"):
            self.inner.check(timeout=timeout)
        else:
            self.inner.check()

    def close(self) -> None:
        self.cache.close()
        self.inner.close()


class _SizeSource:
    """The size a thumbnail fill must have: known from an earlier stat, else asked once."""

    def __init__(self, driver: CachingDriver, key: str) -> None:
        self.driver = driver
        self.key = key

    def __call__(self) -> int | None:
        known = self.driver._known_size(self.key)
        if known is not None:
            return known
        result = self.driver.inner.stat(self.key)
        return None if result is None else result.size


def _teed(chunks: Iterator[bytes], fill: CacheFill, size_of: _SizeSource) -> Generator[bytes]:
    """Yield ``chunks`` while writing them to ``fill``; publish it only after the last chunk."""
    try:
        for chunk in chunks:
            fill.write(chunk)
            yield chunk
    except BaseException:
        fill.abort()
        raise
    finally:
        _close(chunks)
    if fill.active:
        if fill.expected_size is None and _expected_sha256(fill.key) is None:
            fill.expected_size = size_of()
        fill.commit()


def _close(chunks: object) -> None:
    close = getattr(chunks, "close", None)
    if close is not None:
        close()


class _TeeReader:
    """A reader that copies what it reads into a :class:`CacheFill`."""

    def __init__(self, stream: BinaryIO, fill: CacheFill) -> None:
        self._stream = stream
        self._fill = fill

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._fill.write(data)
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False


def _file_chunks(file: BinaryIO, remaining: int | None) -> Iterator[bytes]:
    while remaining is None or remaining > 0:
        chunk = file.read(CHUNK_SIZE if remaining is None else min(CHUNK_SIZE, remaining))
        if not chunk:
            return
        if remaining is not None:
            remaining -= len(chunk)
        yield chunk


def caching_reader(
    driver: StorageDriver, directory: str | None, max_bytes: int
) -> CachingDriver | None:
    """``driver`` behind a :class:`CachingDriver`, or ``None`` when caching is off (no
    ``directory``, ``max_bytes == 0``) or pointless (the local driver is a local disk)."""
    from storage_drivers.local import LocalDriver

    if not directory or max_bytes <= 0 or isinstance(driver, LocalDriver):
        return None
    return CachingDriver(driver, BlobCache(directory, max_bytes))
