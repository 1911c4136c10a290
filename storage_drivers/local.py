"""A storage driver that keeps each object as a file under a root directory.

URL: ``file:///var/lib/partsbin/blobs`` (or the plain absolute path). Layout on disk:

* ``cas/<sha256>`` is stored at ``<root>/cas/<h[0:2]>/<h[2:4]>/<sha256>`` so no directory holds
  millions of entries (see :func:`fan_out`);
* every other key is stored at its own path under the root.

Writes go to a hidden temp file (``.tmp-*``) in the target's directory, are fsynced and then
renamed over the target, so readers see the old object or the new one, never a partial file.
Keys are checked with :func:`~storage_drivers.base.check_key`, and the resolved path must stay
inside the root (symbolic links cannot lead out of it). Symbolic links are never listed.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat as stat_module
import tempfile
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import BinaryIO

from storage_drivers.base import (
    BlobNotFound,
    BlobStat,
    InvalidKey,
    StorageDriver,
    StorageMisconfigured,
    StorageUnavailable,
    check_key,
    check_prefix,
)
from storage_drivers.streams import CHUNK_SIZE, ClosingIterator, SizeCheckingReader, check_range
from storage_drivers.url_params import parse_storage_url

_HASH = re.compile(r"^[0-9a-f]{64}$")
_TEMP_PREFIX = ".tmp-"
_WRITE_CHUNK = 1024 * 1024
#: Folders below the root found free of links are remembered up to this many (then forgotten).
_CHECKED_FOLDERS_MAX = 100_000


def fan_out(key: str) -> list[str]:
    """Return the path segments, relative to the root, where ``key`` is stored.

    A key under ``cas/`` whose last segment is a 64-character lowercase hex hash ``h`` gets two
    extra directory levels ``h[0:2]/h[2:4]`` before its last segment; every other key maps to its
    own segments. :func:`fan_in` is the inverse.
    """
    segments = key.split("/")
    last = segments[-1]
    if len(segments) >= 2 and segments[0] == "cas" and _HASH.match(last):
        return [*segments[:-1], last[0:2], last[2:4], last]
    return segments


def fan_in(segments: list[str]) -> str | None:
    """Return the key stored at ``segments`` (relative to the root), or ``None`` if no key maps
    there (a temp file, or a hash-named file outside its fan-out directories)."""
    key = "/".join(segments)
    if any(segment.startswith(".") for segment in segments) or not _is_key(key):
        return None
    last = segments[-1]
    if segments[0] == "cas" and _HASH.match(last):
        if len(segments) < 4 or segments[-3:-1] != [last[0:2], last[2:4]]:
            return None
        key = "/".join([*segments[:-3], last])
    return key


def _is_key(key: str) -> bool:
    try:
        check_key(key)
    except InvalidKey:
        return False
    return True


class LocalDriver(StorageDriver):
    """Stores objects as files under ``root``; safe to share between threads and processes."""

    scheme = "file"
    #: Directories are walked by name, so ``cas/`` hashes (under their fan-out directories) and
    #: ``thumbs/`` keys come in ascending key order.
    lists_sorted = True

    def __init__(self, root: str) -> None:
        """Use ``root`` (an absolute path), creating it if missing.

        Raises :class:`StorageMisconfigured` if ``root`` is relative, is not a directory or cannot
        be created.
        """
        if not os.path.isabs(root):
            raise StorageMisconfigured(f"local storage root {root!r} is not an absolute path")
        try:
            os.makedirs(root, exist_ok=True)
        except OSError as exc:
            raise StorageMisconfigured(
                f"cannot create local storage root {root!r}: {exc.strerror or exc}"
            ) from exc
        self.root = os.path.realpath(root)
        self._root_prefix = self.root.rstrip(os.sep) + os.sep
        self._checked_folders: set[str] = set()
        if not os.path.isdir(self.root):
            raise StorageMisconfigured(f"local storage root {root!r} is not a directory")
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StorageMisconfigured(f"local storage root {root!r} is not writable")

    @classmethod
    def from_url(cls, url: str) -> LocalDriver:
        """Build from ``file:///abs/path`` (or ``file://localhost/abs/path``, or ``/abs/path``)."""
        if url.startswith("/"):
            return cls(url)
        parsed = parse_storage_url(url, scheme="file", allowed_params=())
        if parsed.netloc not in ("", "localhost"):
            raise StorageMisconfigured(
                f"file storage URL {parsed.redacted!r} names host {parsed.netloc!r}; "
                "use file:///absolute/path"
            )
        if not parsed.path.startswith("/"):
            raise StorageMisconfigured(f"file storage URL {parsed.redacted!r} has no absolute path")
        return cls(parsed.path)

    # --- paths ---------------------------------------------------------------------------

    def path_for(self, key: str) -> str:
        """Return the absolute path where ``key`` is stored, below the (resolved) root.

        Raises :class:`InvalidKey` if the key is unsafe or any existing part of its path below
        the root is a symbolic link (which could lead outside the storage root; the driver never
        makes one).
        """
        return self._look_up(key)[0]

    def _look_up(self, key: str) -> tuple[str, os.stat_result | None]:
        """``key``'s path and its ``lstat`` (``None``: missing), checked as :meth:`path_for` says.

        A folder found free of links is remembered, so a blob in a known folder costs one
        ``lstat``: this runs for every blob served, and each system call gives up the GIL.
        (A folder replaced by a link while the server runs is not noticed; doing that takes
        write access to the storage root, which lets one change any blob anyway.)
        """
        check_key(key)
        segments = fan_out(key)
        path = os.path.join(self.root, *segments)
        folder = os.path.dirname(path)
        if folder not in self._checked_folders:
            walked = self.root
            for segment in segments[:-1]:
                walked = os.path.join(walked, segment)
                try:
                    mode = os.lstat(walked).st_mode
                except OSError:  # missing (what put creates) or not a folder: nothing to follow
                    return path, None
                if stat_module.S_ISLNK(mode):
                    raise self._through_link(key)
            if len(self._checked_folders) >= _CHECKED_FOLDERS_MAX:
                self._checked_folders.clear()
            self._checked_folders.add(folder)
        try:
            result = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return path, None
        except OSError as exc:
            raise StorageUnavailable(f"cannot stat {key!r} in local storage: {exc}") from exc
        if stat_module.S_ISLNK(result.st_mode):
            raise self._through_link(key)
        return path, result

    @staticmethod
    def _through_link(key: str) -> InvalidKey:
        return InvalidKey(
            f"storage key {key!r} passes through a symbolic link in the storage root "
            "(which could lead outside the storage root)"
        )

    # --- operations ----------------------------------------------------------------------

    def put(self, key: str, stream: BinaryIO, size: int | None = None) -> None:
        """Write ``stream`` to a temp file, fsync it and rename it over the key's file.

        Raises :class:`ValueError` (storing nothing) if ``size`` is given and the stream yields a
        different number of bytes; exceptions raised by ``stream`` propagate unchanged.
        """
        path = self.path_for(key)
        reader = SizeCheckingReader(stream, size)
        directory = os.path.dirname(path)
        with _os_errors(key, "write"):
            os.makedirs(directory, exist_ok=True)
            fd, temp_path = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=directory)
        try:
            with os.fdopen(fd, "wb") as temp_file:
                while chunk := reader.read(_WRITE_CHUNK):
                    with _os_errors(key, "write"):
                        temp_file.write(chunk)
                with _os_errors(key, "write"):
                    temp_file.flush()
                    os.fchmod(temp_file.fileno(), 0o644)
                    os.fsync(temp_file.fileno())
            with _os_errors(key, "write"):
                os.replace(temp_path, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp_path)
            raise
        _fsync_directory(directory)

    def open(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Open the file now (raising :class:`BlobNotFound`) and return a chunk iterator.

        A ``start`` past the end of the object yields nothing.
        """
        check_range(start, end)
        path = self.path_for(key)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise BlobNotFound(f"no object with key {key!r}") from exc
        except OSError as exc:
            raise StorageUnavailable(f"cannot open {key!r} in local storage: {exc}") from exc
        file = os.fdopen(fd, "rb", buffering=0)
        try:
            if not stat_module.S_ISREG(os.fstat(fd).st_mode):
                raise BlobNotFound(f"no object with key {key!r}")
            file.seek(start)
        except BaseException:
            file.close()
            raise
        remaining = None if end is None else end - start + 1
        return ClosingIterator(_read_chunks(file, remaining), file.close)

    def stat(self, key: str) -> BlobStat | None:
        result = self._look_up(key)[1]
        if result is None or not stat_module.S_ISREG(result.st_mode):
            return None
        return BlobStat(key, result.st_size, _utc(result.st_mtime))

    def delete(self, key: str) -> None:
        path = self.path_for(key)
        try:
            os.unlink(path)
        except (FileNotFoundError, NotADirectoryError):
            pass
        except IsADirectoryError as exc:
            raise InvalidKey(f"storage key {key!r} names a directory, not an object") from exc
        except OSError as exc:
            raise StorageUnavailable(f"cannot delete {key!r} from local storage: {exc}") from exc

    def presigned_get_url(
        self,
        key: str,
        expires_seconds: int = 300,
        response_headers: Mapping[str, str] | None = None,
    ) -> str | None:
        """Return ``None``: local files have no URL of their own (the app serves them)."""
        check_key(key)
        return None

    def local_path(self, key: str) -> str | None:
        """The object's file (see :meth:`StorageDriver.local_path`), ``None`` if it is missing."""
        try:
            path, result = self._look_up(key)
        except StorageUnavailable:
            return None
        return path if result is not None and stat_module.S_ISREG(result.st_mode) else None

    def iter_keys(self, prefix: str = "") -> Iterator[BlobStat]:
        """Walk the directory that holds ``prefix`` and yield the keys starting with it.

        Temp files, symbolic links and files that no key maps to are skipped.
        """
        check_prefix(prefix)
        directory_segments = prefix.split("/")[:-1]
        top = os.path.realpath(os.path.join(self.root, *directory_segments))
        if top != self.root and not top.startswith(self._root_prefix):
            raise InvalidKey(f"storage key prefix {prefix!r} resolves outside the storage root")
        for segments, size, mtime in _walk_files(top, directory_segments):
            key = fan_in(segments)
            if key is not None and key.startswith(prefix):
                yield BlobStat(key, size, _utc(mtime))


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _read_chunks(file: BinaryIO, remaining: int | None) -> Iterator[bytes]:
    while remaining is None or remaining > 0:
        want = CHUNK_SIZE if remaining is None else min(CHUNK_SIZE, remaining)
        chunk = file.read(want)
        if not chunk:
            return
        if remaining is not None:
            remaining -= len(chunk)
        yield chunk


def _walk_files(directory: str, segments: list[str]) -> Iterator[tuple[list[str], int, float]]:
    """Yield ``(segments, size, mtime)`` of every regular file below ``directory`` (depth first,
    in ascending key order: a folder sorts as its name followed by ``/``, which is where its
    files' keys sort, so ``thumbs/<h>-100.jpg`` comes before the folder ``thumbs/<h>/``)."""
    try:
        entries = sorted(os.scandir(directory), key=_key_order)
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as exc:
        raise StorageUnavailable(f"cannot list local storage folder {directory!r}: {exc}") from exc
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                yield from _walk_files(entry.path, [*segments, entry.name])
            elif entry.is_file(follow_symlinks=False):
                info = entry.stat(follow_symlinks=False)
                yield [*segments, entry.name], info.st_size, info.st_mtime
        except FileNotFoundError:
            continue  # removed while we were listing


def _key_order(entry: os.DirEntry[str]) -> str:
    try:
        is_folder = entry.is_dir(follow_symlinks=False)
    except OSError:
        is_folder = False
    return entry.name + "/" if is_folder else entry.name


def _fsync_directory(directory: str) -> None:
    """Make the rename durable; best effort, since some file systems refuse to fsync a directory."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _os_errors(key: str, action: str) -> Iterator[None]:
    """Turn ``OSError`` into :class:`InvalidKey` (path conflicts) or :class:`StorageUnavailable`."""
    try:
        yield
    except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
        raise InvalidKey(
            f"storage key {key!r} conflicts with an existing object or directory: {exc.strerror}"
        ) from exc
    except OSError as exc:
        raise StorageUnavailable(f"cannot {action} {key!r} in local storage: {exc}") from exc
