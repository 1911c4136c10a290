"""Pytest fixtures for testing a Partsbin plugin (a pytest plugin, loaded automatically).

Installing Partsbin registers this module under the ``pytest11`` entry point, so a plugin's test
suite gets these fixtures without any import (or with ``-p core.testing`` when plugin
autoloading is off):

- ``partsbin_db_url``: a fresh, empty database for one test. Parametrised: ``[sqlite]`` always,
  ``[postgres]`` when ``PARTSBIN_TEST_POSTGRES_URL`` names a PostgreSQL server whose user may
  create databases (``postgresql://user:pw@127.0.0.1:5432/postgres``); a new database is created
  for the test and dropped after it. Without the variable the ``[postgres]`` case is skipped.
- ``partsbin_storage_url``: a blob folder of the test's own (``file://...``).
- ``partsbin_config``: the settings overrides the app is built with; override this fixture to
  change settings (``{**partsbin_config, "max_image_bytes": 1024}``).
- ``partsbin_plugins``: extra plugin objects or module names for the app (default none; the
  installed entry-point plugins, yours among them, are always loaded).
- ``partsbin_app``: an app on that database and folder with every migration applied (the core's,
  the built-in plugins' and yours) and the attachment-set backfill run.
- ``partsbin_client`` and ``partsbin_runner``: its Flask test client and CLI runner.

Each test gets its own app, database and folder; nothing is shared between tests.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

#: Names a PostgreSQL server for the ``[postgres]`` case of ``partsbin_db_url``.
POSTGRES_URL_ENV = "PARTSBIN_TEST_POSTGRES_URL"


def _with_database(server_url: str, name: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def _admin(server_url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(server_url, autocommit=True, connect_timeout=10) as connection:
        connection.execute(sql)


@pytest.fixture(params=["sqlite", "postgres"])
def partsbin_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL (see the module docstring)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'partsbin.db'}"
        return
    server_url = os.environ.get(POSTGRES_URL_ENV)
    if not server_url:
        pytest.skip(f"set {POSTGRES_URL_ENV} to run the PostgreSQL case")
    name = f"t_{uuid.uuid4().hex[:16]}"
    _admin(server_url, f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(server_url, name)
    finally:
        _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def partsbin_storage_url(tmp_path: Path) -> str:
    """A blob folder of the test's own."""
    return f"file://{tmp_path / 'blobs'}"


@pytest.fixture
def partsbin_config(partsbin_db_url: str, partsbin_storage_url: str) -> dict[str, Any]:
    """Settings overrides of ``partsbin_app`` (lower-case ``Settings`` field names)."""
    return {
        "database_url": partsbin_db_url,
        "storage_url": partsbin_storage_url,
        "log_level": "WARNING",
        "db_pool_size": 0,
    }


@pytest.fixture
def partsbin_plugins() -> list[object]:
    """Extra plugins for ``partsbin_app`` beyond the installed ones."""
    return []


@pytest.fixture
def partsbin_app(
    partsbin_config: dict[str, Any], partsbin_plugins: list[object]
) -> Iterator[Flask]:
    """A migrated app (every source's migrations and the set backfill applied)."""
    from core.app import create_app
    from core.db import close_database
    from core.migrate import apply_migrations
    from core.state import get_state

    app = create_app(partsbin_config, plugins=partsbin_plugins)
    app.config["TESTING"] = True
    state = get_state(app)
    with app.app_context():
        apply_migrations(state)
    yield app
    close_database(state.database)
    state.storage.close()


@pytest.fixture
def partsbin_client(partsbin_app: Flask) -> FlaskClient:
    """The test client of ``partsbin_app``."""
    return partsbin_app.test_client()


@pytest.fixture
def partsbin_runner(partsbin_app: Flask) -> FlaskCliRunner:
    """The CLI runner of ``partsbin_app`` (``partsbin_runner.invoke(args=["check"])``)."""
    return partsbin_app.test_cli_runner()
