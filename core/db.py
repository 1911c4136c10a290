"""The database: one Peewee proxy, bound at start-up from ``PARTSBIN_DATABASE_URL``.

Every model derives from :class:`BaseModel`. SQLite runs in WAL mode with foreign keys on and a
busy timeout; PostgreSQL goes through psycopg 3. Connections are opened per request and closed on
teardown (see :func:`init_app`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import peewee
from flask import Flask
from playhouse.db_url import connect

database_proxy = peewee.DatabaseProxy()


def utcnow() -> dt.datetime:
    """The current time in UTC, naive (how every timestamp column stores it)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class BaseModel(peewee.Model):
    """Base of every Partsbin model; bound to :data:`database_proxy`."""

    class Meta:
        database = database_proxy
        legacy_table_names = False


class TimestampedModel(BaseModel):
    """A model with ``created_at`` and ``updated_at`` maintained on save."""

    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    def save(self, *args: Any, **kwargs: Any) -> int:
        self.updated_at = utcnow()
        return super().save(*args, **kwargs)


def tuples(query: Any) -> Iterator[tuple[Any, ...]]:
    """Iterate a Peewee select as plain tuples (Peewee's stubs type its rows as models)."""
    return iter(query.tuples())


def open_database(url: str, timeout: float = 5.0, pool_size: int = 0) -> peewee.Database:
    """Open (lazily; nothing connects yet) the database named by ``url``.

    ``postgresql://`` and ``postgres://`` URLs use psycopg 3; with ``pool_size`` > 0 up to that
    many connections are kept open and reused (each is checked with a round trip when taken, so
    connections broken by a server restart are replaced). SQLite files get their parent folder
    created. Raises ``ValueError`` for an unsupported scheme.
    """
    scheme = urlsplit(url).scheme
    if scheme in ("postgresql", "postgres", "psycopg3"):
        rest = url[len(scheme) :]
        if pool_size > 0:
            return connect(
                "psycopg3+pool" + rest,
                autoconnect=True,
                connect_timeout=max(1, int(timeout)),
                max_connections=pool_size,
                stale_timeout=300,
                timeout=max(1, int(timeout)),
            )
        return connect("psycopg3" + rest, autoconnect=True, connect_timeout=max(1, int(timeout)))
    if scheme == "sqlite":
        path = url[len("sqlite:///") :]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # Every transaction begins IMMEDIATE: a deferred one that reads and then writes cannot
        # wait for the write lock (SQLite answers "database is locked" at once, busy timeout or
        # not), while BEGIN IMMEDIATE waits up to the busy timeout. Reads serialize with writes.
        return peewee.SqliteDatabase(
            path or ":memory:",
            timeout=timeout,
            autoconnect=True,
            lock_type="IMMEDIATE",
            pragmas={
                "journal_mode": "wal",
                "foreign_keys": 1,
                "busy_timeout": int(timeout * 1000),
                "synchronous": "normal",
            },
        )
    raise ValueError(
        f"unsupported database URL scheme {scheme!r} (use sqlite:/// or postgresql://)"
    )


def close_database(database: peewee.Database) -> None:
    """Close every connection of ``database``, pooled ones included (app shutdown, tests)."""
    close_all = getattr(database, "close_all", None)
    if close_all is not None:
        close_all()
    elif not database.is_closed():
        database.close()


def is_sqlite(database: peewee.Database | None = None) -> bool:
    """Whether the bound (or given) database is SQLite."""
    db = database or database_proxy.obj
    return isinstance(db, peewee.SqliteDatabase)


def init_app(app: Flask, database: peewee.Database) -> None:
    """Bind the proxy to ``database`` and close the request's connection on teardown."""
    database_proxy.initialize(database)
    app.extensions["partsbin.database"] = database

    @app.before_request
    def _bind_database() -> None:
        # Several apps may live in one process (tests); each request uses its own app's database.
        if database_proxy.obj is not database:
            database_proxy.initialize(database)

    @app.teardown_appcontext
    def _close_database(_exc: BaseException | None) -> None:
        if not database.is_closed():
            database.close()
