"""The AI parts plugin: every ``/api/ai-parts`` operation answers 501 ``AI_NOT_AVAILABLE`` with a
message a user can read (EI's UI shows the body as it is), whatever the request holds."""

from __future__ import annotations

import io
from typing import Any

import pytest
from flask import Flask

from core.app import create_app
from core.db import close_database
from core.state import get_state
from tests.plugins.conftest import make_png

OPERATIONS = {
    "/api/ai-parts/analyze": "AI part analysis is not available on this server",
    "/api/ai-parts/cleanup": "AI part cleanup is not available on this server",
    "/api/ai-parts/create": "Creating parts from AI suggestions is not available on this server",
}


def bodies() -> dict[str, dict[str, Any]]:
    """What the UI sends (multipart text and image; a JSON part key), and worse (fresh files:
    the test client closes them)."""
    return {
        "multipart": {
            "data": {"text": "Arduino Uno R3", "image": (io.BytesIO(make_png()), "uno.png")},
            "content_type": "multipart/form-data",
        },
        "large multipart": {  # over the JSON body limit: never read, so no 413
            "data": {"image": (io.BytesIO(b"\0" * (3 * 1024 * 1024)), "big.png")},
            "content_type": "multipart/form-data",
        },
        "json": {"json": {"part_key": "ABCD"}},
        "json not matching the contract": {"json": {"part_key": 7, "extra": True}},
        "no body": {},
    }


@pytest.mark.parametrize("path", sorted(OPERATIONS))
@pytest.mark.parametrize("body", sorted(bodies()))
def test_every_ai_operation_is_not_available(client, path: str, body: str) -> None:
    response = client.post(path, **bodies()[body])
    assert response.status_code == 501
    assert response.mimetype == "application/json"
    envelope = response.get_json()
    assert set(envelope) == {"error", "details", "code"}
    assert envelope["code"] == "AI_NOT_AVAILABLE"
    assert envelope["error"].startswith(OPERATIONS[path])
    assert '"' not in envelope["error"]  # shown inside the raw JSON text: no escaped quotes
    assert envelope["details"] == {}


def test_malformed_json_is_still_a_400(client) -> None:
    response = client.post(
        "/api/ai-parts/cleanup", data="{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.get_json()["code"] == "MALFORMED_JSON"


def test_only_post_is_served(client) -> None:
    response = client.get("/api/ai-parts/analyze")
    assert response.status_code == 405
    assert response.get_json()["code"] == "METHOD_NOT_ALLOWED"


def test_the_openapi_document_states_501_and_the_editor_role(client) -> None:
    spec = client.get("/api/docs/openapi.json").get_json()
    for path in OPERATIONS:
        operation = spec["paths"][path]["post"]
        assert "501" in operation["responses"], path
        assert operation["x-required-role"] == "editor"


@pytest.fixture
def app_without_ai(db_url: str, storage_url: str) -> Any:
    app = create_app(
        {
            "database_url": db_url,
            "storage_url": storage_url,
            "log_level": "WARNING",
            "disable_plugins": "ai_parts",
        }
    )
    yield app
    close_database(get_state(app).database)


def test_disabling_the_plugin_removes_the_routes(app_without_ai: Flask) -> None:
    response = app_without_ai.test_client().post("/api/ai-parts/analyze")
    assert response.status_code == 404
    assert response.get_json()["code"] == "NOT_FOUND"
