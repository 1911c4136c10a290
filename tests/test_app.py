"""The app factory, the JSON error envelope, request ids, health probes and the OpenAPI document."""

from __future__ import annotations

import socket

import pytest
from flask import Flask
from openapi_spec_validator import validate

from core.app import create_app
from core.config import ConfigError
from core.state import get_state


def test_apps_are_independent(app: Flask, tmp_path) -> None:
    other = create_app(
        {
            "database_url": f"sqlite:///{tmp_path / 'other.db'}",
            "storage_url": f"file://{tmp_path}/o",
        }
    )
    assert other is not app
    assert get_state(other).database is not get_state(app).database
    assert get_state(other).plugin_manager is not get_state(app).plugin_manager


def test_bad_setting_fails_at_start_naming_the_variable(tmp_path) -> None:
    with pytest.raises(ConfigError, match="PARTSBIN_PORT"):
        create_app({"port": "not-a-port"})


def test_bad_storage_scheme_fails_at_start(tmp_path) -> None:
    with pytest.raises(Exception, match="nosuch"):
        create_app({"storage_url": "nosuch://x", "database_url": f"sqlite:///{tmp_path}/x.db"})


def test_healthz(client) -> None:
    response = client.get("/health/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_reports_database_and_storage(client) -> None:
    response = client.get("/health/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "checks": {"database": "ok", "storage": "ok"}}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_readyz_names_the_unreachable_database(tmp_path) -> None:
    app = create_app(
        {
            "database_url": f"postgresql://nobody@127.0.0.1:{_closed_port()}/none",
            "storage_url": f"file://{tmp_path}/blobs",
            "db_timeout": 1,
        }
    )
    response = app.test_client().get("/health/readyz")
    assert response.status_code == 503
    assert response.json["checks"] == {"database": "unavailable", "storage": "ok"}


def test_unknown_url_is_a_json_404(client) -> None:
    response = client.get("/api/no-such-thing")
    assert response.status_code == 404
    assert response.json["code"] == "NOT_FOUND"
    assert set(response.json) == {"error", "details", "code"}


def test_wrong_method_is_a_json_405(client) -> None:
    response = client.delete("/health/healthz")
    assert response.status_code == 405
    assert response.json["code"] == "METHOD_NOT_ALLOWED"
    assert "GET" in response.headers["Allow"]


def test_bug_is_a_500_without_internals(app: Flask) -> None:
    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internal detail")

    response = app.test_client().get("/boom", headers={"X-Request-ID": "abc-123"})
    assert response.status_code == 500
    assert response.json["code"] == "INTERNAL_ERROR"
    assert "secret" not in response.get_data(as_text=True)
    assert response.json["details"] == {"request_id": "abc-123"}


def test_request_id_is_echoed(client) -> None:
    response = client.get("/health/healthz", headers={"X-Request-ID": "req-42"})
    assert response.headers["X-Request-ID"] == "req-42"


def test_request_id_is_generated_when_missing(client) -> None:
    first = client.get("/health/healthz").headers["X-Request-ID"]
    second = client.get("/health/healthz").headers["X-Request-ID"]
    assert first and second and first != second


def test_unsafe_request_id_is_replaced(client) -> None:
    response = client.get("/health/healthz", headers={"X-Request-ID": "a b<script>"})
    assert response.headers["X-Request-ID"] != "a b<script>"
    assert response.headers["X-Request-ID"].isalnum()


def test_openapi_document_is_valid_openapi_3(client) -> None:
    response = client.get("/api/docs/openapi.json")
    assert response.status_code == 200
    document = response.json
    assert document["openapi"].startswith("3.")
    validate(document)
    assert "/health/readyz" in document["paths"]


def test_swagger_ui_is_served(client) -> None:
    response = client.get("/api/docs/swagger")
    assert response.status_code == 200
    assert b"swagger" in response.data.lower()
