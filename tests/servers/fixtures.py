"""Pytest fixtures for the real test servers.

Load them with ``pytest_plugins = ["tests.servers.fixtures"]`` in the top-level conftest.

Fixtures:

* ``postgres_server`` (session) -- a :class:`~core.testing.servers.postgres.PostgresServer`; call
  ``create_database(name)`` for a database URL. If the environment variable
  ``PARTSBIN_TEST_POSTGRES_URL`` is set (``postgresql://user:pass@host:port/postgres``), that
  existing server is used instead and none is started; it must let the user create databases.
* ``s3_server`` (session) -- a :class:`~core.testing.servers.seaweedfs.SeaweedServer`
  (SeaweedFS S3).
* ``s3_bucket`` (session) -- the name of one bucket on ``s3_server``, shared by every test
  (creating a bucket makes its first write slow), so tests keep apart through ``s3_prefix``.
* ``s3_prefix`` (function) -- a key prefix unique to the test, such as ``test_put-1a2b3c4d``.

Each server starts when a test first asks for it, at most once per session, and stops when the
session ends, whether tests passed or not. If a server fails to start, every test using it
errors with the server's log tail.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator

import pytest

from core.testing.servers.postgres import ExternalPostgresServer, PostgresServer
from core.testing.servers.seaweedfs import SeaweedServer

POSTGRES_URL_ENV = "PARTSBIN_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A running PostgreSQL server (or the one named by ``PARTSBIN_TEST_POSTGRES_URL``)."""
    external_url = os.environ.get(POSTGRES_URL_ENV)
    if external_url:
        yield ExternalPostgresServer(external_url)
        return
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[SeaweedServer]:
    """A running SeaweedFS S3 server on 127.0.0.1."""
    server = SeaweedServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_bucket(s3_server: SeaweedServer) -> str:
    """The name of a bucket on ``s3_server`` shared by the whole session."""
    return s3_server.create_bucket(f"partsbin-test-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def s3_prefix(request: pytest.FixtureRequest) -> str:
    """A key prefix (one safe key segment, no slash) that no other test uses."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", request.node.name)[:60].strip("-._")
    return f"{name or 'test'}-{uuid.uuid4().hex[:8]}"
