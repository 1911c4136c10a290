"""Serializes "is this blob still referenced?" with "reference it" and "delete it".

An upload that deduplicates onto an existing blob, or a copy that shares one, checks inside its
insert transaction that the blob is still there; garbage collection re-checks references and
deletes inside a transaction of its own. Both take the same per-blob lock, so a blob is never
deleted between the moment a new row's check saw it and the moment that row is committed:

- PostgreSQL: a transaction-scoped advisory lock keyed by the hash.
- SQLite: both transactions begin ``IMMEDIATE`` (one writer at a time), which already excludes
  each other; no extra lock is needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import peewee

from core.db import is_sqlite


def lock_key(sha256: str) -> int:
    """The signed 64-bit advisory-lock key of a hash (its first 8 bytes)."""
    return int.from_bytes(bytes.fromhex(sha256[:16]), "big", signed=True)


def lock_blob(database: peewee.Database, sha256: str) -> None:
    """Hold the blob's lock until the current transaction ends (a no-op on SQLite, see above)."""
    if not is_sqlite(database):
        database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (lock_key(sha256),))


def lock_blobs(database: peewee.Database, hashes: list[str]) -> None:
    """:func:`lock_blob` for many hashes in one statement (in key order, so two batch holders
    cannot deadlock); a no-op on SQLite."""
    if hashes and not is_sqlite(database):
        database.execute_sql(
            "SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) AS k ORDER BY k",
            (sorted({lock_key(sha) for sha in hashes}),),
        )


@contextmanager
def blob_transaction(database: peewee.Database) -> Iterator[None]:
    """A transaction in which :func:`lock_blob` excludes concurrent referencing transactions."""
    if is_sqlite(database):
        with database.atomic(lock_type="IMMEDIATE"):
            yield
    else:
        with database.atomic():
            yield
