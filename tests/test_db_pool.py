"""The PostgreSQL connection pool: a connection given back moments ago is taken again without a
liveness round trip; one idle longer is checked, and one the server dropped is replaced."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import peewee
import pytest

import core.db
from core.db import open_database
from core.testing.servers.postgres import PostgresServer


@pytest.fixture
def url(postgres_server: PostgresServer) -> str:
    return postgres_server.create_database("pool_" + uuid.uuid4().hex[:8])


@pytest.fixture
def pool(url: str) -> Iterator[peewee.Database]:
    database = open_database(url, timeout=2, pool_size=2)
    yield database
    database.close_all()  # type: ignore[attr-defined]


@pytest.fixture
def pings(pool: peewee.Database, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Each liveness round trip the pool makes on checkout."""
    adapter = pool._adapter  # type: ignore[attr-defined]
    made: list[object] = []
    check = adapter.is_connection_closed

    def counted(conn: object) -> bool:
        made.append(conn)
        return bool(check(conn))

    monkeypatch.setattr(adapter, "is_connection_closed", counted)
    return made


def _backend_pid(database: peewee.Database) -> int:
    database.connect(reuse_if_open=True)
    try:
        return int(database.execute_sql("SELECT pg_backend_pid()").fetchone()[0])
    finally:
        database.close()


def test_a_connection_given_back_moments_ago_is_reused_without_a_round_trip(
    pool: peewee.Database, pings: list[object]
) -> None:
    first = _backend_pid(pool)
    assert [_backend_pid(pool) for _ in range(5)] == [first] * 5
    assert pings == []


def test_a_connection_idle_past_the_window_is_checked_first(
    pool: peewee.Database, pings: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _backend_pid(pool)
    monkeypatch.setattr(core.db, "POOL_PING_AFTER_IDLE_SECONDS", 0.0)
    assert _backend_pid(pool) == first
    assert len(pings) == 1


def test_a_connection_the_server_dropped_while_idle_is_replaced(
    pool: peewee.Database, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dropped = _backend_pid(pool)
    other = open_database(url, timeout=2)
    with other.connection_context():
        other.execute_sql("SELECT pg_terminate_backend(%s)", (dropped,))
    monkeypatch.setattr(core.db, "POOL_PING_AFTER_IDLE_SECONDS", 0.0)
    replaced = _backend_pid(pool)
    assert replaced != dropped
