"""``partsbin check``: verifies the attachment invariants and names every violation.

Memory stays flat in the number of rows and objects: every comparison is a streaming merge join
of sorted inputs read in keyset chunks (owners by set id against the sets; attachment keys
against the sorted bucket listing, which S3 returns in ListObjectsV2 pages), so only one chunk
per stream is held at a time, plus the violations found.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import logging
import re
import sys
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, TypeVar

import click
import peewee
from flask.cli import with_appcontext

from core.attachments.entities import entity_registry
from core.attachments.models import Attachment, AttachmentSet
from core.cas.ingest import HEX_DIGITS
from core.db import tuples
from core.state import PartsbinState, get_state
from storage_drivers.base import StorageError, sorted_listing

log = logging.getLogger("partsbin.check")

T = TypeVar("T")

#: Rows read per query by the keyset-chunked streams.
CHUNK = 5000
#: Concurrent storage requests of ``--deep`` (and the most requests in flight).
DEEP_WORKERS = 8

_CAS_KEY = re.compile(r"^cas/[0-9a-f]{64}$")


@dataclass(frozen=True)
class Violation:
    """One broken invariant: a ``kind`` for counting and a message naming it."""

    kind: str
    message: str

    def __str__(self) -> str:
        return self.message


def _chunked(
    query: Callable[[Any], peewee.ModelSelect[Any]], order: peewee.Field
) -> Iterator[tuple[Any, ...]]:
    """Rows of ``query(after)`` ascending on ``order`` (unique), :data:`CHUNK` per query.

    ``query(after)`` must return the select with ``order`` as its first column, limited to rows
    after ``after`` when it is not ``None``.
    """
    after: Any = None
    while True:
        rows = list(tuples(query(after).order_by(order).limit(CHUNK)))
        yield from rows
        if len(rows) < CHUNK:
            return
        after = rows[-1][0]


def _owner_stream(name: str, model: type[peewee.Model], column: peewee.Field) -> Iterator[Any]:
    pk = model._meta.primary_key

    def query(after: Any) -> peewee.ModelSelect[Any]:
        select = model.select(column, pk).where(column.is_null(False))
        return select if after is None else select.where(column > after)

    return ((set_id, name, row_id) for set_id, row_id in _chunked(query, column))


def _set_stream() -> Iterator[int]:
    def query(after: Any) -> peewee.ModelSelect[Any]:
        select = AttachmentSet.select(AttachmentSet.id)
        return select if after is None else select.where(AttachmentSet.id > after)

    return (set_id for (set_id,) in _chunked(query, AttachmentSet.id))


def _ownership_violations(state: PartsbinState) -> Iterator[Violation]:
    entities = entity_registry(state).values()
    for entity in entities:
        pk = entity.model._meta.primary_key
        unset = entity.model.select(pk).where(entity.set_column.is_null(True)).order_by(pk)
        for (row_id,) in tuples(unset):
            yield Violation("owner_without_set", f"{entity.name} {row_id} has no attachment set")
    owners = heapq.merge(*(_owner_stream(e.name, e.model, e.set_column) for e in entities))
    by_set = itertools.groupby(owners, key=lambda owner: owner[0])
    group = next(by_set, None)
    for set_id in _set_stream():
        while group is not None and group[0] < set_id:
            group = next(by_set, None)  # an owner of a set that does not exist: the FK forbids
        if group is None or group[0] != set_id:
            yield Violation("set_without_owner", f"attachment set {set_id} has no owner")
            continue
        names = [f"{name} {row_id}" for _, name, row_id in group[1]]
        if len(names) > 1:
            yield Violation(
                "shared_set", f"attachment set {set_id} is shared by {', '.join(names)}"
            )
        group = next(by_set, None)


def _cover_violations() -> Iterator[Violation]:
    covers = (
        AttachmentSet.select(
            AttachmentSet.id, AttachmentSet.cover_attachment, Attachment.attachment_set
        )
        .join(Attachment, on=(AttachmentSet.cover_attachment == Attachment.id))
        .where(Attachment.attachment_set != AttachmentSet.id)
        .order_by(AttachmentSet.id)
    )
    for set_id, cover_id, other_set in tuples(covers):
        yield Violation(
            "foreign_cover",
            f"attachment set {set_id} has cover {cover_id}, which belongs to set {other_set}",
        )


def _key_stream(column: peewee.Field) -> Iterator[tuple[str, int]]:
    """``(key, attachment id)`` of every row with a key in ``column``, ascending by key then id.

    Keyset chunks on ``(key, id)`` (the column is indexed); keys repeat across rows.
    """
    after: tuple[str, int] | None = None
    while True:
        query = Attachment.select(column, Attachment.id).where(column.is_null(False))
        if after is not None:
            query = query.where(
                (column > after[0]) | ((column == after[0]) & (Attachment.id > after[1]))
            )
        rows = list(tuples(query.order_by(column, Attachment.id).limit(CHUNK)))
        yield from rows
        if len(rows) < CHUNK:
            return
        after = rows[-1]


def referenced_keys() -> Iterator[tuple[str, list[int]]]:
    """Every stored key attachment rows name, ascending, with the ids of those rows."""
    merged = heapq.merge(_key_stream(Attachment.blob_key), _key_stream(Attachment.preview_blob_key))
    for key, rows in itertools.groupby(merged, key=lambda row: row[0]):
        yield key, sorted({attachment_id for _, attachment_id in rows})


def _missing(key: str, ids: list[int]) -> Violation:
    listed = ", ".join(str(i) for i in ids)
    return Violation("missing_blob", f"{key} is missing from storage (attachments {listed})")


def _storage_violations(
    state: PartsbinState, keys: Iterable[tuple[str, list[int]]], deep: bool
) -> Iterator[Violation]:
    """Merge the sorted keys with the sorted ``cas/`` listing; other keys get one HEAD each.

    With ``deep``, every present ``cas/`` blob is also downloaded and re-hashed, by
    :data:`DEEP_WORKERS` threads with at most that many blobs in flight.
    """
    listing = (
        s.key for s in sorted_listing(state.storage, "cas/", HEX_DIGITS) if _CAS_KEY.match(s.key)
    )
    head = next(listing, None)
    previous = ""
    window: deque[Future[Violation | None]] = deque()
    pool = ThreadPoolExecutor(DEEP_WORKERS) if deep else None
    try:
        for key, ids in keys:
            if not _CAS_KEY.match(key):
                if state.storage.stat(key) is None:
                    yield _missing(key, ids)
                continue
            while head is not None and head < key:
                if head < previous:
                    raise StorageError(f"storage listed {head} out of order; check stopped")
                previous, head = head, next(listing, None)
            if head != key:
                yield _missing(key, ids)
                continue
            if pool is not None:
                window.append(pool.submit(_rehash, state, key, ids))
                while len(window) >= DEEP_WORKERS or (window and window[0].done()):
                    found = window.popleft().result()
                    if found is not None:
                        yield found
        while window:
            found = window.popleft().result()
            if found is not None:
                yield found
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def _rehash(state: PartsbinState, key: str, ids: list[int]) -> Violation | None:
    digest = hashlib.sha256()
    try:
        for chunk in state.storage.open(key):
            digest.update(chunk)
    except StorageError as exc:
        return Violation("unreadable_blob", f"{key} cannot be read ({exc})")
    if digest.hexdigest() != key[4:]:
        listed = ", ".join(str(i) for i in ids)
        return Violation(
            "corrupt_blob", f"{key} does not hash to its name (attachments {listed})"
        )
    return None


def find_violations(
    state: PartsbinState,
    *,
    deep: bool = False,
    progress: Callable[[Iterable[Any]], AbstractContextManager[Iterable[Any]]] | None = None,
) -> Iterator[Violation]:
    """Yield one :class:`Violation` per broken invariant.

    Checked: every owner row has a set; no set is shared by two owners; no set is without an
    owner; every cover is an attachment of its own set; every stored key exists in storage
    (with ``deep``: and hashes to its name). ``progress`` wraps the stream of stored keys.
    """
    yield from _ownership_violations(state)
    yield from _cover_violations()
    wrap = progress or nullcontext
    with wrap(referenced_keys()) as keys:
        yield from _storage_violations(state, keys, deep)


@contextmanager
def _tqdm(iterable: Iterable[T]) -> Iterator[Iterable[T]]:
    from tqdm import tqdm

    with tqdm(iterable, desc="checking keys", unit=" keys", file=sys.stderr) as bar:
        yield bar


@click.command("check")
@click.option("--deep", is_flag=True, help="Also download every blob and verify its hash.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout instead.")
@with_appcontext
def check_command(deep: bool, as_json: bool) -> None:
    """Verify attachment invariants; exit 1 naming each violation (0 when there are none).

    Shows a progress bar on stderr when it is a terminal.
    """
    progress = _tqdm if sys.stderr.isatty() else None
    kinds: Counter[str] = Counter()
    messages: list[str] = []
    try:
        for violation in find_violations(get_state(), deep=deep, progress=progress):
            kinds[violation.kind] += 1
            if as_json:
                if len(messages) < 1000:
                    messages.append(violation.message)
            else:
                click.echo(violation.message)
    except StorageError as exc:
        raise click.ClickException(f"check stopped: {exc}") from exc
    total = sum(kinds.values())
    if as_json:
        click.echo(json.dumps({
            "ok": total == 0, "violations": total, "by_kind": dict(kinds),
            "messages": messages, "truncated": total > len(messages), "deep": deep,
        }))
    elif total == 0:
        click.echo("ok: no violations")
    if total:
        raise SystemExit(1)
