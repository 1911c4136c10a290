"""The throwaway PostgreSQL server used by the test suite (core.testing.servers.postgres)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from core.testing.servers.postgres import (
    ExternalPostgresServer,
    PostgresServer,
    PostgresServerError,
)

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    with PostgresServer() as started:
        yield started


def unique_name() -> str:
    return f"partsbin_{uuid.uuid4().hex[:8]}"


def test_create_database_returns_a_url_to_connect_to(server: PostgresServer) -> None:
    url = server.create_database(unique_name())

    with psycopg.connect(url) as conn:
        assert conn.execute("select current_user").fetchone() == ("postgres",)
    assert url.startswith(f"postgresql://postgres@127.0.0.1:{server.port}/")


def test_drop_database_removes_it_even_with_open_connections(server: PostgresServer) -> None:
    name = unique_name()
    url = server.create_database(name)
    conn = psycopg.connect(url)

    server.drop_database(name)
    server.drop_database(name)  # dropping twice is fine

    conn.close()
    with pytest.raises(psycopg.OperationalError, match="does not exist"):
        psycopg.connect(url, connect_timeout=5)


def test_restart_keeps_the_port_and_the_data(server: PostgresServer) -> None:
    url = server.create_database(unique_name())
    with psycopg.connect(url) as conn:
        conn.execute("create table part (name text)")
        conn.execute("insert into part values ('LM358')")
    port = server.port

    server.restart()

    assert server.port == port
    with psycopg.connect(url) as conn:
        assert conn.execute("select name from part").fetchall() == [("LM358",)]


def test_stop_removes_the_cluster_folder() -> None:
    with PostgresServer() as server:
        folder = server.folder
        assert folder is not None and folder.is_dir()

        server.stop()
        server.stop()  # stopping twice is fine

    assert not folder.exists()
    assert not server.is_running


def test_an_external_server_is_described_by_its_url_and_cannot_restart() -> None:
    external = ExternalPostgresServer("postgresql://user:pw@db.example:6543/maintenance")

    assert external.base_url == "postgresql://user:pw@db.example:6543"
    assert external.port == 6543
    with pytest.raises(PostgresServerError, match="cannot restart"):
        external.restart()
