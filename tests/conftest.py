"""Shared fixtures: an app on SQLite and on PostgreSQL, its client and CLI runner.

Every test that takes ``app`` (or ``client``, ``db_url``) runs twice: ``[sqlite]`` and
``[postgres]``; the PostgreSQL server is started once per session (see core/testing/servers/).
"""

from __future__ import annotations

import atexit
import ipaddress
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from core.app import create_app
from core.cas import background
from core.db import close_database
from core.events.api import stop_hub
from core.migrate import apply_migrations
from core.state import get_state
from core.tasks.runner import stop_tasks

pytest_plugins = ["tests.servers.fixtures"]

# In-process test apps connect per request (many short-lived apps must not hold pooled
# connections to the shared PostgreSQL); tests of the pool, and live servers, set it themselves.
os.environ["PARTSBIN_DB_POOL_SIZE"] = "0"
# Apps on S3/MinIO serve through the read-through cache, in a folder of this session's own (never
# the working directory's data/cache); content is immutable, so tests may share it.
_CACHE_DIR = tempfile.mkdtemp(prefix="partsbin-test-cache-")
os.environ["PARTSBIN_CACHE_DIR"] = _CACHE_DIR
atexit.register(shutil.rmtree, _CACHE_DIR, True)

_LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


def _is_loopback(host: object) -> bool:
    try:
        address = ipaddress.ip_address(str(host).split("%")[0])
    except ValueError:
        return False
    return address in _LOOPBACK or address == ipaddress.ip_address("::1")


@pytest.fixture(autouse=True)
def background_jobs_finish() -> Iterator[None]:
    """Work a test left to the background runner (thumbnail pre-renders) ends with the test, so it
    never runs against the next test's apps or a closed storage."""
    yield
    assert background.runner().drain(timeout=60), "background jobs still running after 60 s"


@pytest.fixture(autouse=True)
def no_outside_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reaches beyond loopback: names never go to DNS, sockets only connect to loopback.

    Host names other than ``localhost`` do not resolve (as if unknown), and a connection to any
    non-loopback address fails the test. Fuzzed URL attachments therefore never leave the machine.
    """
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect

    def getaddrinfo(
        host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name in (None, "localhost"):
            return real_getaddrinfo(host, port, family, type, proto, flags)
        try:
            return real_getaddrinfo(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)
        except socket.gaierror:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None

    def connect(self: socket.socket, address: Any) -> Any:
        if isinstance(address, tuple) and not _is_loopback(address[0]):
            raise AssertionError(f"test tried to connect outside loopback: {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new database on the PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'partsbin.db'}"
        return
    server = request.getfixturevalue("postgres_server")
    name = f"t_{uuid.uuid4().hex[:16]}"
    url = server.create_database(name)
    try:
        yield url
    finally:
        server.drop_database(name)


@pytest.fixture
def storage_url(tmp_path: Path) -> str:
    """A local blob folder (tests that need every driver use ``any_storage_url``)."""
    return f"file://{tmp_path / 'blobs'}"


@pytest.fixture
def app_config(db_url: str, storage_url: str) -> dict[str, Any]:
    """Settings overrides for the ``app`` fixture; override this fixture to change them."""
    return {"database_url": db_url, "storage_url": storage_url, "log_level": "WARNING"}


@pytest.fixture
def app_plugins() -> list[object]:
    """Extra plugins for the ``app`` fixture; override this fixture to add some."""
    return []


@pytest.fixture
def unmigrated_app(app_config: dict[str, Any], app_plugins: list[object]) -> Iterator[Flask]:
    """An app on an empty database."""
    app = create_app(app_config, plugins=app_plugins)
    app.config["TESTING"] = True
    yield app
    stop_tasks(app)  # background task threads, if a test started any
    stop_hub(app)  # the event hub's thread, if a test opened a stream
    state = get_state(app)
    close_database(state.database)
    state.storage.close()


@pytest.fixture
def app(unmigrated_app: Flask) -> Flask:
    """An app whose database has every migration applied."""
    with unmigrated_app.app_context():
        apply_migrations(get_state(unmigrated_app))
    return unmigrated_app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()
