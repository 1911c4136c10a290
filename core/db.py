"""The database: each app opens its own from ``PARTSBIN_DATABASE_URL``; models reach it through
:data:`database`, which stands for the current app's database.

Every model derives from :class:`BaseModel`, bound to :data:`database`. Inside an app context
(every request, every CLI command, ``with app.app_context():``) it is that app's database, so
several apps can live in one process (tests build many) and every query goes through one route.
Outside an app context using a model is an error that says so. SQLite runs in WAL mode with
foreign keys on and a busy timeout; PostgreSQL goes through psycopg 3. Connections are opened per
request and closed on teardown (see :func:`init_app`).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import peewee
from flask import Flask, current_app, has_app_context
from playhouse.db_url import connect, parse
from playhouse.postgres_ext import PooledPsycopg3Database

#: Where an app keeps its database in ``app.extensions``.
_EXTENSION = "partsbin.database"


class AppDatabase(peewee.DatabaseProxy):
    """A Peewee database proxy that resolves to the database of the current Flask app.

    Raises :class:`RuntimeError` when used outside an app context, or in the context of an app
    that has no Partsbin database.
    """

    __slots__ = ()

    def __setattr__(self, attr: str, value: Any) -> None:
        if attr not in ("_callbacks", "_Model"):
            raise AttributeError(f"cannot set {attr!r} on the app database proxy")
        object.__setattr__(self, attr, value)

    def initialize(self, obj: Any) -> None:
        """Not supported: the database comes from the current app (see :func:`init_app`)."""
        if obj is not None:
            raise RuntimeError("the app's database is bound by core.db.init_app(app, database)")

    @property
    def obj(self) -> peewee.Database:
        if not has_app_context():
            raise RuntimeError(
                "a Partsbin model was used outside an app context; "
                "wrap the code in `with app.app_context():`"
            )
        bound = current_app.extensions.get(_EXTENSION)
        if bound is None:
            raise RuntimeError(f"app {current_app.name!r} has no Partsbin database")
        return bound


#: The current app's database (what every model is bound to).
database = AppDatabase()


def utcnow() -> dt.datetime:
    """The current time in UTC, naive (how every timestamp column stores it)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class BaseModel(peewee.Model):
    """Base of every Partsbin model; bound to :data:`database` (the current app's)."""

    class Meta:
        database = database
        legacy_table_names = False


class TimestampedModel(BaseModel):
    """A model with ``created_at`` and ``updated_at`` maintained on save.

    A new row (saved by INSERT) gets ``updated_at == created_at``; each later save moves
    ``updated_at`` on.
    """

    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    def save(self, *args: Any, **kwargs: Any) -> int:
        inserting = self.get_id() is None or kwargs.get("force_insert", args[0] if args else False)
        self.updated_at = self.created_at if inserting else utcnow()
        return super().save(*args, **kwargs)


def tuples(query: Any) -> Iterator[tuple[Any, ...]]:
    """Iterate a Peewee select as plain tuples (Peewee's stubs type its rows as models)."""
    return iter(query.tuples())


def one_of(field: Any, values: Iterable[Any]) -> peewee.Expression:
    """``field`` is one of ``values``: the condition for "these ids" in a batch query.

    On PostgreSQL it is ``field = ANY(%s)`` with the values as one array parameter, so the
    statement text is the same for any number of values (psycopg prepares it after a few runs)
    and one array is adapted instead of a parameter per value (cheaper to build and to send
    for a 50-row page's ids). On SQLite, an ordinary ``IN (?, ?, ...)``. No values: a
    condition that is never true. Build it inside an app context (it asks which database is in
    use).
    """
    listed = list(values)
    if not listed or is_sqlite():
        return cast(peewee.Expression, field.in_(listed))
    return cast(peewee.Expression, field == peewee.fn.ANY(peewee.Value(listed, unpack=False)))


#: A pooled connection given back to the pool less than this long ago is taken again without the
#: liveness round trip (``SELECT 1``) peewee's pool makes on every checkout: under load every
#: request saves one round trip, and a connection that sat idle longer is still checked.
POOL_PING_AFTER_IDLE_SECONDS = 0.5


class _PingIdlePool(PooledPsycopg3Database):
    """peewee's psycopg 3 pool, checking a connection with a round trip on checkout only when it
    was idle in the pool for :data:`POOL_PING_AFTER_IDLE_SECONDS` or more (or is not idle at
    the server, or was never given back). A server restart within that window after a
    connection was given back costs the next request on it a 503; the pool then drops it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._given_back: dict[int, float] = {}  # conn_key -> monotonic time (pool lock held)

    def _close(self, conn: Any, close_conn: bool = False) -> None:
        super()._close(conn, close_conn)
        if not close_conn and not conn.closed:
            self._given_back[self.conn_key(conn)] = time.monotonic()

    def _is_closed(self, conn: Any) -> bool:
        given_back = self._given_back.pop(self.conn_key(conn), None)
        if conn.closed:
            return True
        adapter = self._adapter
        recent = given_back is not None and (
            time.monotonic() - given_back < POOL_PING_AFTER_IDLE_SECONDS
        )
        if recent and adapter.txn_status(conn) == adapter.txn_idle:
            return False
        return bool(super()._is_closed(conn))


def open_database(url: str, timeout: float = 5.0, pool_size: int = 0) -> peewee.Database:
    """Open (lazily; nothing connects yet) the database named by ``url``.

    ``postgresql://`` and ``postgres://`` URLs use psycopg 3; with ``pool_size`` > 0 up to that
    many connections are kept open and reused (one idle in the pool for more than
    :data:`POOL_PING_AFTER_IDLE_SECONDS` is checked with a round trip when taken, so
    connections broken by a server restart are replaced). SQLite files get their parent folder
    created. Raises ``ValueError`` for an unsupported scheme.
    """
    scheme = urlsplit(url).scheme
    if scheme in ("postgresql", "postgres", "psycopg3"):
        rest = url[len(scheme) :]
        if pool_size > 0:
            return _PingIdlePool(
                **{
                    **parse("postgresql" + rest),
                    "autoconnect": True,
                    "connect_timeout": max(1, int(timeout)),
                    "max_connections": pool_size,
                    "stale_timeout": 300,
                    "timeout": max(1, int(timeout)),
                }
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


def is_sqlite(db: peewee.Database | peewee.DatabaseProxy | None = None) -> bool:
    """Whether ``db`` (a database or a proxy; default: the current app's) is SQLite.

    Migration files use it to choose their DDL (peewee-migrate passes the database or a proxy).
    Raises :class:`RuntimeError` for a proxy that is not initialised.
    """
    target = database if db is None else db
    if isinstance(target, peewee.DatabaseProxy):
        target = target.obj
        if target is None:
            raise RuntimeError("the database proxy is not initialised")
    return isinstance(target, peewee.SqliteDatabase)


def init_app(app: Flask, db: peewee.Database) -> None:
    """Make ``db`` the database of ``app`` (what :data:`database` resolves to in its context)
    and close the request's connection on teardown."""
    app.extensions[_EXTENSION] = db

    @app.teardown_appcontext
    def _close_database(_exc: BaseException | None) -> None:
        if not db.is_closed():
            db.close()
