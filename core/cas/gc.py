"""Garbage collection of the content-addressed store.

A blob ``cas/<sha256>`` is *garbage* when

* no attachment row references it (``attachments.blob_key`` or ``attachments.preview_blob_key``),
* no plugin references it (the ``referenced_blobs`` hook), and
* it is older than the grace period, judged by ``BlobStat.modified`` (the object's last write
  time, reported by the driver); a blob whose age is unknown (``modified is None``) or in the
  future counts as young and is kept. The grace period protects uploads in flight: the upload
  flow stores the blob first and inserts the row afterwards.

Thumbnails ``thumbs/<sha256>-<N>.jpg`` go with their blob; thumbnails whose blob no longer exists
are removed too, and so is every key of the earlier thumbnail layout, ``thumbs/<sha256>/<N>.jpg``,
which nothing reads any more (see :mod:`core.cas.thumbnails`). Other keys (under ``cas/`` but not
a hash, or outside ``cas/`` and ``thumbs/``) are never touched.

How: one streaming merge join. The sorted ``cas/`` listing, the sorted ``thumbs/`` listing and
the sorted reference streams (every ``referenced_blobs`` answer, merged with :func:`heapq.merge`)
are walked together by hash, so memory stays flat in the store's size (one batch of candidates,
not every reference or every garbage key). Streams out of order abort the run before anything
more is deleted.

Safe while the API serves: candidates are deleted in batches of :data:`DELETE_BATCH` inside one
transaction that holds every batch blob's lock (:mod:`core.cas.locks`), after asking the
``referenced_blobs`` hook again for exactly the batch's hash range; a thumbnail-only orphan's
blob is checked to be absent right before it goes. Resumable and idempotent: a batch deletes
thumbnails and their blobs together with S3 ``DeleteObjects``, a crash mid-batch leaves only
unreferenced objects (blobs, or thumbnails whose blob is gone) that the next run removes. A batch
is settled in a background thread while the scan collects the next one (:class:`_BatchRemover`,
two batches at once), so deleting and listing overlap; their counts are reported in order.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import heapq
import itertools
import logging
import re
from collections.abc import Collection, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from flask import current_app, has_app_context

from core.cas.ingest import HEX_DIGITS, SHA256_HEX, cas_key, sha256_of_key
from core.cas.locks import blob_transaction, lock_blobs
from core.cas.thumbnails import LEGACY_THUMBNAIL_KEY, THUMBS_PREFIX
from core.db import is_sqlite
from core.plugins import PluginError
from core.state import PartsbinState
from storage_drivers.base import BlobStat, StorageError, sorted_listing

log = logging.getLogger("partsbin.gc")

T = TypeVar("T")

#: How many blobs are re-checked and deleted together (S3 DeleteObjects takes 1,000 keys).
DELETE_BATCH = 1000
#: How many batches are settled at once while the scan collects the next one (PostgreSQL; on
#: SQLite one, since a batch holds the database's only write lock while it deletes).
BATCHES_IN_FLIGHT = 2

_GRACE = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
#: A thumbnail key of either layout (``thumbs/<sha256>-<N>.jpg``, ``thumbs/<sha256>/<N>.jpg``).
#: Both sort by hash, so one listing groups a blob's thumbnails of both layouts together.
_THUMB_KEY = re.compile(r"^thumbs/([0-9a-f]{64})[-/][^/]+$")


class ProgressFactory(Protocol):
    """Wraps an iterable in a progress display (``click.progressbar`` has this shape).

    ``length`` is ``None`` when unknown. The context manager yields the iterable to consume.
    """

    def __call__(
        self, iterable: Iterable[T], *, label: str, length: int | None
    ) -> AbstractContextManager[Iterable[T]]: ...


def no_progress(
    iterable: Iterable[T], *, label: str, length: int | None
) -> AbstractContextManager[Iterable[T]]:
    """The :class:`ProgressFactory` that shows nothing."""
    return contextlib.nullcontext(iterable)


def parse_grace(text: str) -> dt.timedelta:
    """Parse a grace period: ``0``, ``30s``, ``15m``, ``24h``, ``7d`` (a bare number is seconds).

    Raises :class:`ValueError` naming the accepted forms.
    """
    match = _GRACE.fullmatch(text)
    if match is None:
        raise ValueError(
            f"invalid grace period {text!r}: use a whole number with an optional unit "
            "s, m, h or d (e.g. 0, 30s, 15m, 24h, 7d)"
        )
    try:
        return dt.timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()])
    except OverflowError:
        raise ValueError(f"invalid grace period {text!r}: too long") from None


def blob_modified(stat: BlobStat) -> dt.datetime | None:
    """When the object was last written (timezone-aware), or ``None`` if the driver cannot tell.

    Reads ``BlobStat.modified``; a naive datetime is taken as UTC.
    """
    modified = stat.modified
    if modified is not None and modified.tzinfo is None:
        modified = modified.replace(tzinfo=dt.UTC)
    return modified


def _hash_in_key(key: str | None) -> str | None:
    """The hash of a ``cas/<sha256>`` key, or ``None`` (strict: no trailing newline)."""
    sha = sha256_of_key(key)
    return sha if sha is not None and SHA256_HEX.fullmatch(sha) else None


def _hash_of_reference(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    if SHA256_HEX.fullmatch(value):
        return value
    return _hash_in_key(value)


def _ordered_answer(
    answer: Iterable[object], first: str | None, last: str | None
) -> Iterator[str]:
    """One plugin's answer as ascending hashes within ``[first, last]``.

    An in-memory collection (list, set, tuple) is sorted here; a lazy iterable must already be
    ascending, and going backwards raises :class:`PluginError` (a merge join over an unsorted
    stream would miss references and delete referenced blobs).
    """
    values = sorted(map(str, answer)) if isinstance(answer, Collection) else answer
    previous = ""
    for value in values:
        sha = _hash_of_reference(value)
        if sha is None:
            log.warning("referenced_blobs() returned %r, which is not a SHA-256 hash", value)
            continue
        if sha < previous:
            raise PluginError(
                f"referenced_blobs() streamed {sha} after {previous}: answers must be ascending"
            )
        previous = sha
        if (first is None or sha >= first) and (last is None or sha <= last):
            yield sha


def referenced_stream(
    state: PartsbinState, first: str | None = None, last: str | None = None
) -> Iterator[str]:
    """Every referenced hash in ``[first, last]`` (``None``: unbounded), ascending, repeats
    possible: the ``referenced_blobs`` answers of every plugin (attachment rows included, via
    the attachments plugin) merged with :func:`heapq.merge`."""
    answers = state.plugin_manager.hook.referenced_blobs(first=first, last=last)
    return heapq.merge(*(_ordered_answer(a, first, last) for a in answers if a is not None))


def referenced_hashes(state: PartsbinState, hashes: Collection[str]) -> set[str]:
    """Which of ``hashes`` are referenced now (the hook is asked for their range only)."""
    if not hashes:
        return set()
    wanted = set(hashes)
    return {sha for sha in referenced_stream(state, min(wanted), max(wanted)) if sha in wanted}


class _Cursor:
    """Walks an ascending stream and answers "is this hash in it?" for ascending queries."""

    def __init__(self, stream: Iterator[str]) -> None:
        self._stream = stream
        self._head: str | None = next(stream, None)

    def contains(self, sha: str) -> bool:
        while self._head is not None and self._head < sha:
            self._head = next(self._stream, None)
        return self._head == sha


@dataclass
class GcReport:
    """What one run found and did. Removed counts are "would remove" in a dry run."""

    dry_run: bool
    scanned: int = 0
    kept: int = 0
    removed: int = 0
    bytes_kept: int = 0
    bytes_freed: int = 0
    batches: int = 0
    removed_keys: list[str] = field(default_factory=list)

    def count_kept(self, stat: BlobStat) -> None:
        """Count ``stat`` as kept."""
        self.kept += 1
        self.bytes_kept += stat.size

    def count_removed(self, stat: BlobStat) -> None:
        """Count ``stat`` as removed (or to be removed, in a dry run)."""
        self.removed += 1
        self.bytes_freed += stat.size
        self.removed_keys.append(stat.key)

    def summary(self) -> str:
        """One line for humans, e.g. ``scanned 10 objects: kept 7 (1.2 MB), removed 3 (300 B)``."""
        verb = "would remove" if self.dry_run else "removed"
        return (
            f"scanned {self.scanned} objects: kept {self.kept} ({_human(self.bytes_kept)}), "
            f"{verb} {self.removed} ({_human(self.bytes_freed)})"
        )

    def as_json(self) -> dict[str, object]:
        """The counts for ``--json`` (without the removed keys)."""
        return {
            "dry_run": self.dry_run, "scanned": self.scanned, "kept": self.kept,
            "removed": self.removed, "bytes_kept": self.bytes_kept,
            "bytes_freed": self.bytes_freed, "batches": self.batches,
        }


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


@dataclass
class _Candidate:
    sha: str
    blob: BlobStat | None  # ``None``: thumbnails whose blob was not listed
    thumbnails: list[BlobStat] = field(default_factory=list)
    #: Keys of the earlier thumbnail layout: removed whatever becomes of the blob.
    superseded: list[BlobStat] = field(default_factory=list)

    @property
    def stats(self) -> list[BlobStat]:
        return [*self.thumbnails, *([self.blob] if self.blob else [])]


def _ascending(stats: Iterable[BlobStat], pattern: re.Pattern[str], report: GcReport,
               ) -> Iterator[tuple[str, BlobStat]]:
    """``(hash, stat)`` of the listing's keys matching ``pattern``; others are counted kept.

    Raises :class:`StorageError` if the hashes come out of order (the merge needs order).
    """
    previous = ""
    for stat in stats:
        report.scanned += 1
        match = pattern.fullmatch(stat.key)
        if match is None:
            report.count_kept(stat)
            continue
        sha = match.group(1)
        if sha < previous:
            raise StorageError(f"storage listed {stat.key} out of order; gc stopped")
        previous = sha
        yield sha, stat


_BLOB_KEY = re.compile(r"^cas/([0-9a-f]{64})$")


def _by_hash(state: PartsbinState, report: GcReport,
             ) -> Iterator[tuple[str, BlobStat | None, list[BlobStat]]]:
    """``(hash, blob or None, thumbnails)`` in ascending hash order (two sorted listings)."""
    blobs = _ascending(sorted_listing(state.storage, "cas/", HEX_DIGITS), _BLOB_KEY, report)
    thumbs = _ascending(
        sorted_listing(state.storage, THUMBS_PREFIX, HEX_DIGITS), _THUMB_KEY, report
    )
    groups = (
        (sha, [stat for _, stat in group])
        for sha, group in itertools.groupby(thumbs, key=lambda item: item[0])
    )
    blob = next(blobs, None)
    group = next(groups, None)
    while blob is not None or group is not None:
        if group is None or (blob is not None and blob[0] < group[0]):
            assert blob is not None
            yield blob[0], blob[1], []
            blob = next(blobs, None)
        elif blob is None or group[0] < blob[0]:
            yield group[0], None, group[1]
            group = next(groups, None)
        else:
            yield blob[0], blob[1], group[1]
            blob, group = next(blobs, None), next(groups, None)


def collect_garbage(
    state: PartsbinState,
    grace: dt.timedelta,
    *,
    dry_run: bool = False,
    now: dt.datetime | None = None,
    progress: ProgressFactory = no_progress,
) -> GcReport:
    """Remove unreferenced blobs older than ``grace`` and their thumbnails; return a report.

    ``now`` (timezone-aware; default: the current UTC time) is the clock ages are measured
    against. With ``dry_run`` nothing is deleted and the report says what would be. Raises
    :class:`~storage_drivers.base.StorageUnavailable` if storage fails and Peewee errors if the
    database does; what was deleted before the failure stays deleted (a rerun continues).
    ``progress`` wraps the one pass over the store (label ``"scanning"``, length unknown).
    """
    now = now or dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    report = GcReport(dry_run=dry_run)
    references = _Cursor(referenced_stream(state))
    pending: list[_Candidate] = []
    with (
        _BatchRemover(state, report, dry_run) as remover,
        progress(_by_hash(state, report), label="scanning", length=None) as items,
    ):
        for sha, blob, listed_thumbnails in items:
            superseded: list[BlobStat] = []
            thumbnails: list[BlobStat] = []
            for thumbnail in listed_thumbnails:
                legacy = LEGACY_THUMBNAIL_KEY.fullmatch(thumbnail.key)
                (superseded if legacy else thumbnails).append(thumbnail)
            candidate: _Candidate | None = None
            if references.contains(sha):
                kept: list[BlobStat] = [*thumbnails, *([blob] if blob else [])]
            elif blob is not None:
                modified = blob_modified(blob)
                if modified is None or now - modified < grace:
                    kept = [blob, *thumbnails]
                else:
                    kept = []
                    candidate = _Candidate(sha, blob, thumbnails)
            else:
                kept = []
                candidate = _Candidate(sha, None, thumbnails)
            if superseded:
                candidate = candidate or _Candidate(sha, None)
                candidate.superseded = superseded
            if candidate is not None:
                pending.append(candidate)
            for stat in kept:
                report.count_kept(stat)
            if len(pending) >= DELETE_BATCH:
                remover.submit(pending)
                pending = []
        if pending:
            remover.submit(pending)
    log.info("gc finished", extra=report.as_json())
    return report


class _BatchRemover:
    """Settles batches in background threads while the scan goes on.

    Deleting is bound by the object store and scanning by parsing listings, so overlapping them
    makes a run cost about the longer of the two instead of their sum; on PostgreSQL
    :data:`BATCHES_IN_FLIGHT` batches are settled at once (object stores delete concurrent
    batches faster than one after another; the batches hold disjoint blob locks, each taken in
    key order, so they cannot deadlock), on SQLite one. Memory stays at that many batches plus
    the one being collected. Each batch runs in its own database connection and the caller's
    app context; its counts are added to the report in the caller's thread, in submission
    order. An error raised by a batch is raised by a later :meth:`submit` or on exit. A dry
    run settles batches inline (nothing to overlap).
    """

    def __init__(self, state: PartsbinState, report: GcReport, dry_run: bool) -> None:
        self._state = state
        self._report = report
        self._dry_run = dry_run
        self._app = current_app._get_current_object() if has_app_context() else None  # type: ignore[attr-defined]
        self._at_once = 1 if is_sqlite(state.database) else BATCHES_IN_FLIGHT
        self._pool = (
            None
            if dry_run
            else ThreadPoolExecutor(self._at_once, thread_name_prefix="partsbin-gc")
        )
        self._in_flight: collections.deque[Future[_Settled]] = collections.deque()

    def submit(self, batch: list[_Candidate]) -> None:
        """Settle ``batch`` (once there is room among the batches in flight)."""
        if self._pool is None:
            self._record(_settle_batch(self._state, batch, self._dry_run))
            return
        while len(self._in_flight) >= self._at_once:
            self._collect_oldest()
        self._in_flight.append(self._pool.submit(self._settle_in_thread, batch))

    def _settle_in_thread(self, batch: list[_Candidate]) -> _Settled:
        scope = self._app.app_context() if self._app is not None else contextlib.nullcontext()
        with scope, self._state.database.connection_context():
            return _settle_batch(self._state, batch, self._dry_run)

    def _collect_oldest(self) -> None:
        self._record(self._in_flight.popleft().result())

    def _record(self, settled: _Settled) -> None:
        self._report.batches += 1
        for stat in settled.kept:
            self._report.count_kept(stat)
        for stat in settled.removed:
            self._report.count_removed(stat)

    def __enter__(self) -> _BatchRemover:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        try:
            if exc_type is None:
                while self._in_flight:
                    self._collect_oldest()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)


@dataclass
class _Settled:
    kept: list[BlobStat]
    removed: list[BlobStat]


def _settle_batch(state: PartsbinState, batch: list[_Candidate], dry_run: bool) -> _Settled:
    """Re-check and delete one batch; the check and the delete hold the batch's blob locks.

    An upload or copy that references one of these blobs either commits first (the re-check
    sees its row and the blob is kept) or finds the blob gone (and answers 503): never a row
    pointing at deleted bytes. See :mod:`core.cas.locks`.
    """
    kept: list[BlobStat] = []
    doomed: list[BlobStat] = []
    # A thumbnail-only orphan goes only while its blob is still absent (it may have appeared).
    remaining = []
    for candidate in batch:
        doomed += candidate.superseded
        if not candidate.stats:
            continue
        if candidate.blob is None and state.storage.exists(cas_key(candidate.sha)):
            kept += candidate.thumbnails
        else:
            remaining.append(candidate)
    hashes = [c.sha for c in remaining]
    guard = contextlib.nullcontext() if dry_run else blob_transaction(state.database)
    with guard:
        if not dry_run:
            lock_blobs(state.database, hashes)
        rescued = referenced_hashes(state, hashes)
        for candidate in remaining:
            if candidate.sha in rescued:
                kept += candidate.stats
            else:
                doomed += candidate.stats
        if not dry_run and doomed:
            state.storage.delete_many([stat.key for stat in doomed])
    return _Settled(kept, doomed)
