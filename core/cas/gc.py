"""Garbage collection of the content-addressed store.

A blob ``cas/<sha256>`` is *garbage* when

* no attachment row references it (``attachments.s3_key`` or ``attachments.preview_s3_key``),
* no plugin references it (the ``referenced_blobs`` hook), and
* it is older than the grace period, judged by ``BlobStat.modified`` (the object's last write
  time, reported by the driver); a blob whose age is unknown (``modified is None``) or in the
  future counts as young and is kept. The grace period protects uploads in flight: the upload
  flow stores the blob first and inserts the row afterwards.

Thumbnails ``thumbs/<sha256>/<N>.jpg`` go with their blob; thumbnails whose blob no longer exists
are removed too. Other keys (under ``cas/`` but not a hash, or outside ``cas/`` and ``thumbs/``)
are never touched.

Safe while the API serves: references are loaded before listing and checked again, in batches of
:data:`RECHECK_BATCH`, right before each batch is deleted (the database is queried for exactly
those keys and the plugins are asked again); a thumbnail's blob is checked to be absent right
before an orphan thumbnail is deleted. Idempotent: a second run finds nothing more to remove.
Memory is proportional to the referenced hashes plus the garbage, not to the whole store.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
from collections.abc import Collection, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from core.attachments.models import Attachment
from core.cas.ingest import SHA256_HEX, cas_key, sha256_of_key
from core.cas.locks import blob_transaction, lock_blob
from core.cas.thumbnails import THUMBS_PREFIX
from core.state import PartsbinState
from storage_drivers.base import BlobStat

log = logging.getLogger("partsbin.gc")

T = TypeVar("T")

#: How many candidates are re-checked against the database and plugins at once before deletion.
RECHECK_BATCH = 500

_GRACE = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_THUMB_KEY = re.compile(r"^thumbs/([0-9a-f]{64})/[^/]+$")


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


def plugin_references(state: PartsbinState) -> set[str]:
    """The hashes every plugin's ``referenced_blobs()`` names (``cas/<sha256>`` also accepted).

    ``None`` answers are skipped; values that are not hashes are ignored with a warning.
    """
    found: set[str] = set()
    for answer in state.plugin_manager.hook.referenced_blobs():
        if answer is None:
            continue
        for value in answer:
            sha = _hash_of_reference(value)
            if sha is None:
                log.warning("referenced_blobs() returned %r, which is not a SHA-256 hash", value)
                continue
            found.add(sha)
    return found


def attachment_references(state: PartsbinState, keys: Collection[str] | None = None) -> set[str]:
    """The hashes attachment rows reference; with ``keys``, only those among ``keys``."""
    query = Attachment.select(Attachment.s3_key, Attachment.preview_s3_key)
    if keys is None:
        query = query.where(
            Attachment.s3_key.is_null(False) | Attachment.preview_s3_key.is_null(False)
        )
    else:
        wanted = list(keys)
        query = query.where(Attachment.s3_key.in_(wanted) | Attachment.preview_s3_key.in_(wanted))
    found: set[str] = set()
    # bind() this query to the app's database: no global model rebinding.
    for s3_key, preview_key in query.bind(state.database).tuples().iterator():
        for key in (s3_key, preview_key):
            sha = _hash_in_key(key)
            if sha is not None:
                found.add(sha)
    return found


def referenced_hashes(state: PartsbinState) -> set[str]:
    """Every hash that must be kept: attachment rows plus plugins."""
    return attachment_references(state) | plugin_references(state)


@dataclass
class GcReport:
    """What one run found and did. Removed counts are "would remove" in a dry run."""

    dry_run: bool
    scanned: int = 0
    kept: int = 0
    removed: int = 0
    bytes_kept: int = 0
    bytes_freed: int = 0
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


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


@dataclass
class _Candidate:
    blob: BlobStat
    thumbnails: list[BlobStat] = field(default_factory=list)


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
    """
    now = now or dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    report = GcReport(dry_run=dry_run)
    references = referenced_hashes(state)
    candidates: dict[str, _Candidate] = {}

    with progress(state.storage.iter_keys("cas/"), label="scanning blobs", length=None) as blobs:
        for stat in blobs:
            report.scanned += 1
            sha = _hash_in_key(stat.key)
            modified = blob_modified(stat)
            young = modified is None or now - modified < grace
            if sha is None or sha in references or young:
                report.count_kept(stat)
            else:
                candidates[sha] = _Candidate(stat)

    orphan_thumbnails: list[BlobStat] = []
    source_exists: dict[str, bool] = {}
    with progress(
        state.storage.iter_keys(THUMBS_PREFIX), label="scanning thumbnails", length=None
    ) as thumbs:
        for stat in thumbs:
            report.scanned += 1
            match = _THUMB_KEY.fullmatch(stat.key)
            sha = match.group(1) if match else None
            if sha is None or sha in references:
                report.count_kept(stat)
            elif sha in candidates:
                candidates[sha].thumbnails.append(stat)
            else:
                if sha not in source_exists:
                    source_exists[sha] = state.storage.exists(cas_key(sha))
                if source_exists[sha]:
                    report.count_kept(stat)
                else:
                    orphan_thumbnails.append(stat)

    work: list[_Candidate | BlobStat] = [*candidates.values(), *orphan_thumbnails]
    rescued: set[str] = set()
    with progress(work, label="removing", length=len(work)) as items:
        for index, item in enumerate(items):
            if index % RECHECK_BATCH == 0:
                rescued = _still_referenced(state, work[index : index + RECHECK_BATCH])
            _remove(state, item, rescued, report, dry_run)
    log.info(
        "gc finished",
        extra={
            "dry_run": dry_run,
            "scanned": report.scanned,
            "kept": report.kept,
            "removed": report.removed,
            "bytes_freed": report.bytes_freed,
        },
    )
    return report


def _still_referenced(state: PartsbinState, batch: list[_Candidate | BlobStat]) -> set[str]:
    """Re-check a batch of candidates right before deleting it: rows and plugins, asked again."""
    keys = [item.blob.key for item in batch if isinstance(item, _Candidate)]
    if not keys:
        return set()
    return attachment_references(state, keys) | plugin_references(state)


def _remove(
    state: PartsbinState,
    item: _Candidate | BlobStat,
    rescued: set[str],
    report: GcReport,
    dry_run: bool,
) -> None:
    if isinstance(item, _Candidate):
        sha = _hash_in_key(item.blob.key)
        if sha is None or sha in rescued:
            for stat in (item.blob, *item.thumbnails):
                report.count_kept(stat)
            return
        if dry_run:
            for stat in (item.blob, *item.thumbnails):
                report.count_removed(stat)
            return
        # The last reference check and the delete hold the blob's lock together, so an upload
        # or copy that references this blob either commits first (and we keep it) or finds it
        # gone (and answers 503) - never a row pointing at deleted bytes. See core.cas.locks.
        with blob_transaction(state.database):
            lock_blob(state.database, sha)
            if attachment_references(state, [item.blob.key]):
                for stat in (item.blob, *item.thumbnails):
                    report.count_kept(stat)
                return
            for stat in (item.blob, *item.thumbnails):
                state.storage.delete(stat.key)
                report.count_removed(stat)
        return
    match = _THUMB_KEY.fullmatch(item.key)
    if match is None or state.storage.exists(cas_key(match.group(1))):
        report.count_kept(item)  # its blob appeared since the listing
        return
    if not dry_run:
        state.storage.delete(item.key)
    report.count_removed(item)
