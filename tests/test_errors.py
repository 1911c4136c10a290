"""Database and storage errors are translated by cause: unavailable -> 503, bug -> 500 + ERROR log.

Every fault is real: tables dropped or renamed under a running app, a SQLite file locked by another
connection, a PostgreSQL table locked past the lock or statement timeout, a database nobody
listens for. Storage errors come from the S3 drivers' own classification (real refused credentials
are in tests/storage/test_remote_failures.py, an S3 server stopped mid-upload in
tests/reliability/test_faults.py); here a view raises them to check the HTTP mapping.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import peewee
import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient

from core.app import create_app
from core.db import close_database
from core.errors import database_unavailable
from core.migrate import apply_migrations
from core.state import get_state
from core.testing.servers.process import free_ports
from storage_drivers.base import BlobNotFound, StorageMisconfigured, StorageUnavailable
from storage_drivers.s3_common import S3Target, classify_s3_error, unreachable


@pytest.fixture
def app_config(db_url: str, storage_url: str) -> dict[str, Any]:
    """Short waits: a locked database answers within a second."""
    return {"database_url": db_url, "storage_url": storage_url, "log_level": "WARNING",
            "db_timeout": 0.5}


@pytest.fixture
def errors_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Records of the ``partsbin.errors`` logger (the ``partsbin`` logger does not propagate)."""
    logger = logging.getLogger("partsbin.errors")
    logger.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)


def _logged_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """ERROR records with a traceback, once each (they may also reach caplog through the root)."""
    records = {id(r): r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info}
    return list(records.values())


def _sqlite_only(db_url: str) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("SQLite's own locking")


def _postgres_only(db_url: str) -> None:
    if db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's own timeouts")


def _with_options(db_url: str, options: str) -> str:
    return f"{db_url}{'&' if '?' in db_url else '?'}options={quote(options)}"


def _migrated_app(config: dict[str, Any]) -> Flask:
    app = create_app(config)
    with app.app_context():
        apply_migrations(get_state(app))
    return app


# --- schema errors and SQL bugs: 500, traceback at ERROR -----------------------------------------


def test_a_dropped_table_is_a_500_logged_with_its_traceback(
    app: Flask, client: FlaskClient, errors_log: pytest.LogCaptureFixture
) -> None:
    kit = client.post("/api/kits", json={"name": "Clock"}).json
    database = get_state(app).database
    database.execute_sql("DROP TABLE pick_list_lines")
    database.execute_sql("DROP TABLE pick_lists")

    response = client.get(f"/api/kits/{kit['id']}/pick-lists")

    assert response.status_code == 500
    assert response.json["code"] == "INTERNAL_ERROR"
    logged = _logged_errors(errors_log)
    assert logged and isinstance(logged[0].exc_info[1], peewee.DatabaseError)  # type: ignore[index]
    assert "pick_lists" in str(logged[0].exc_info[1])  # type: ignore[index]


def test_a_renamed_column_is_a_500_logged_with_its_traceback(
    app: Flask, client: FlaskClient, errors_log: pytest.LogCaptureFixture
) -> None:
    get_state(app).database.execute_sql("ALTER TABLE kits RENAME COLUMN description TO summary")

    response = client.get("/api/kits")

    assert response.status_code == 500
    assert "description" in str(_logged_errors(errors_log)[0].exc_info[1])  # type: ignore[index]


@pytest.mark.parametrize(
    "sql",
    ["SELECT * FROM no_such_table", "SELECT no_such_column FROM attachments", "SELEC 1"],
    ids=["no-such-table", "no-such-column", "syntax"],
)
def test_sql_bugs_are_not_unavailability(app: Flask, sql: str) -> None:
    with pytest.raises(peewee.PeeweeException) as caught:
        get_state(app).database.execute_sql(sql)

    assert not database_unavailable(caught.value)


# --- unavailable: 503 DATABASE_UNAVAILABLE, logged at WARNING ------------------------------------


def test_a_locked_sqlite_database_is_a_503(
    app: Flask, client: FlaskClient, db_url: str, errors_log: pytest.LogCaptureFixture
) -> None:
    _sqlite_only(db_url)
    other = sqlite3.connect(db_url[len("sqlite:///") :], isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        response = client.post("/api/kits", json={"name": "blocked"})
    finally:
        other.close()

    assert response.status_code == 503
    assert response.json["code"] == "DATABASE_UNAVAILABLE"
    assert _logged_errors(errors_log) == []
    assert client.post("/api/kits", json={"name": "later"}).status_code == 201


@pytest.mark.parametrize("setting", ["lock_timeout", "statement_timeout"])
def test_a_postgres_lock_or_statement_timeout_is_a_503(
    app_config: dict[str, Any], db_url: str, setting: str
) -> None:
    _postgres_only(db_url)
    _migrated_app(app_config)  # the tables, with the ordinary URL
    app = create_app({**app_config, "database_url": _with_options(db_url, f"-c {setting}=300")})
    with psycopg.connect(db_url) as other:
        other.execute("LOCK TABLE kits IN ACCESS EXCLUSIVE MODE")  # held until the block ends
        response = app.test_client().get("/api/kits")
    close_database(get_state(app).database)

    assert response.status_code == 503
    assert response.json["code"] == "DATABASE_UNAVAILABLE"


def test_postgres_nobody_listens_for_is_a_503(app_config: dict[str, Any]) -> None:
    port = free_ports(1)[0]
    config = {**app_config, "database_url": f"postgresql://partsbin@127.0.0.1:{port}/none"}
    app = create_app(config)

    response = app.test_client().get("/api/kits")

    assert response.status_code == 503
    assert response.json["code"] == "DATABASE_UNAVAILABLE"


def test_a_sqlite_file_that_cannot_be_opened_is_a_503(
    app_config: dict[str, Any], tmp_path: Path
) -> None:
    folder = tmp_path / "a-folder-not-a-file"
    folder.mkdir()
    app = create_app({**app_config, "database_url": f"sqlite:///{folder}"})

    response = app.test_client().get("/api/kits")

    assert response.status_code == 503
    assert response.json["code"] == "DATABASE_UNAVAILABLE"


# --- storage: misconfigured -> 500 at ERROR, unavailable -> 503 -----------------------------------

TARGET = S3Target("S3", "http://127.0.0.1:9", "bucket", "key")


@pytest.mark.parametrize(
    "code", ["InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "NoSuchBucket"]
)
def test_refused_credentials_and_a_missing_bucket_are_misconfiguration(code: str) -> None:
    assert isinstance(classify_s3_error(TARGET, code, 403, "", "k"), StorageMisconfigured)


@pytest.mark.parametrize(("code", "status"), [("SlowDown", 503), ("InternalError", 500)])
def test_server_errors_and_throttling_are_unavailability(code: str, status: int) -> None:
    assert isinstance(classify_s3_error(TARGET, code, status, "", "k"), StorageUnavailable)


def test_a_missing_object_is_not_found() -> None:
    assert isinstance(classify_s3_error(TARGET, "NoSuchKey", 404, "", "k"), BlobNotFound)


def _route_raising(app: Flask, error: Exception) -> FlaskClient:
    """A route that fails the way a storage call inside a view does."""

    def view() -> None:
        raise error

    app.add_url_rule("/test-storage-failure", "test_storage_failure", view)
    return app.test_client()


def test_storage_misconfiguration_in_a_request_is_a_500_logged_at_error(
    app: Flask, errors_log: pytest.LogCaptureFixture
) -> None:
    error = classify_s3_error(TARGET, "InvalidAccessKeyId", 403, "", "k")
    response = _route_raising(app, error).get("/test-storage-failure")

    assert response.status_code == 500
    assert response.json["code"] == "INTERNAL_ERROR"
    assert [r.exc_info[1] for r in _logged_errors(errors_log)] == [error]  # type: ignore[index]


def test_a_storage_outage_in_a_request_is_a_503_not_an_error(
    app: Flask, errors_log: pytest.LogCaptureFixture
) -> None:
    error = unreachable(TARGET, ConnectionRefusedError("refused"))
    response = _route_raising(app, error).get("/test-storage-failure")

    assert response.status_code == 503
    assert response.json["code"] == "STORAGE_UNAVAILABLE"
    assert _logged_errors(errors_log) == []
