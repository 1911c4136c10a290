"""``PARTSBIN_TESTING=1``: the contract's /api/testing helpers, and never on a public address."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from core.app import create_app
from core.cli import cli


@pytest.fixture
def app_config(db_url: str, storage_url: str) -> dict[str, Any]:
    return {
        "database_url": db_url,
        "storage_url": storage_url,
        "log_level": "WARNING",
        "testing": True,
    }


def test_generated_html_carries_the_title_escaped(client) -> None:
    response = client.get("/api/testing/content/html", query_string={"title": "A <b> page"})
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert b"<title>A &lt;b&gt; page</title>" in response.data
    banner = client.get("/api/testing/content/html-with-banner")
    assert b"deployment-banner" in banner.data


def test_generated_image_is_a_png_and_pdf_is_a_pdf(client) -> None:
    image = client.get("/api/testing/content/image", query_string={"text": "Hello"})
    assert image.mimetype == "image/png"
    assert Image.open(io.BytesIO(image.data)).size == (400, 100)
    document = client.get("/api/testing/content/pdf")
    assert document.mimetype == "application/pdf" and document.data.startswith(b"%PDF-")
    assert client.get("/api/testing/content/pdf").data == document.data  # deterministic


def test_task_event_and_deployment_version_are_published(app, client) -> None:
    from core.events.store import EventRow

    sent = client.post(
        "/api/testing/sse/task-event",
        json={"request_id": "r1", "task_id": "t1", "event_type": "task_completed"},
    )
    assert sent.status_code == 200 and sent.json["delivered"] is True
    deployed = client.post(
        "/api/testing/deployments/version", json={"request_id": "r1", "version": "v2"}
    )
    assert deployed.status_code == 202
    with app.app_context():
        rows = [(r.event_type, r.request_id) for r in EventRow.select().order_by(EventRow.id)]
    assert rows == [("task_event", "r1"), ("version", "r1")]
    stream = client.get("/api/sse/stream?request_id=r9", buffered=False)
    try:
        assert b'"version":"v2"' in next(iter(stream.response))  # new streams start with it
    finally:
        stream.close()


def test_bad_task_events_are_400(client) -> None:
    response = client.post(
        "/api/testing/sse/task-event",
        json={"request_id": "r1", "task_id": "t1", "event_type": "exploded"},
    )
    assert response.status_code == 400
    assert "event_type" in response.json["details"]["fields"]


def test_without_testing_mode_the_helpers_do_not_exist(db_url, storage_url) -> None:
    app = create_app({"database_url": db_url, "storage_url": storage_url, "log_level": "WARNING"})
    assert app.test_client().get("/api/testing/content/pdf").status_code == 404


def test_serve_refuses_testing_mode_on_a_public_address(monkeypatch) -> None:
    monkeypatch.setenv("PARTSBIN_TESTING", "1")
    monkeypatch.setenv("PARTSBIN_AUTH", "none")
    from click.testing import CliRunner

    outcome = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0"])
    assert outcome.exit_code != 0
    assert "PARTSBIN_TESTING=1 is refused on 0.0.0.0" in outcome.output


@pytest.fixture
def oidc_testing_app(db_url: str, storage_url: str):
    """An OIDC app in testing mode; no provider is needed (discovery happens on first sign-in,
    which the testing session skips)."""
    from core.db import close_database
    from core.events.api import stop_hub
    from core.migrate import apply_migrations
    from core.state import get_state

    app = create_app(
        {
            "database_url": db_url,
            "storage_url": storage_url,
            "log_level": "WARNING",
            "testing": True,
            "auth": "oidc",
            "oidc_issuer": "http://127.0.0.1:9/",
            "oidc_client_id": "partsbin-tests",
        }
    )
    with app.app_context():
        apply_migrations(get_state(app))
    yield app
    stop_hub(app)
    close_database(get_state(app).database)


def test_a_testing_session_signs_the_browser_in_without_a_provider(oidc_testing_app) -> None:
    client = oidc_testing_app.test_client()
    assert client.get("/api/auth/self").status_code == 401
    created = client.post(
        "/api/testing/auth/session",
        json={"subject": "tester", "name": "Tess", "roles": ["reader"]},
    )
    assert created.status_code == 201
    me = client.get("/api/auth/self")
    assert me.status_code == 200
    assert (me.json["subject"], me.json["name"], me.json["roles"]) == ("tester", "Tess", ["reader"])
    assert client.post("/api/types", json={"name": "Not allowed"}).status_code == 403
    assert client.post("/api/testing/auth/clear").status_code == 204
    assert client.get("/api/auth/self").status_code == 401


# --- POST /api/testing/auth/force-error -------------------------------------------------------


def test_a_forced_error_answers_the_next_auth_self_once(client) -> None:
    assert client.post("/api/testing/auth/force-error?status=503").status_code == 204
    forced = client.get("/api/auth/self")
    assert forced.status_code == 503
    assert forced.json["code"] == "FORCED_ERROR" and forced.json["details"] == {"status": 503}
    assert forced.headers["Cache-Control"] == "no-store"
    again = client.get("/api/auth/self")
    assert again.status_code == 200 and again.json["name"] == "Local User"


def test_a_forced_error_touches_only_auth_self(client) -> None:
    assert client.post("/api/testing/auth/force-error?status=500").status_code == 204
    assert client.get("/api/types").status_code == 200
    assert client.get("/api/auth/self").status_code == 500


def test_forcing_again_replaces_the_pending_error(client) -> None:
    client.post("/api/testing/auth/force-error?status=500")
    client.post("/api/testing/auth/force-error?status=403")
    assert client.get("/api/auth/self").status_code == 403
    assert client.get("/api/auth/self").status_code == 200


@pytest.mark.parametrize("query", ["", "?status=200", "?status=399", "?status=600", "?status=x"])
def test_force_error_needs_an_error_status(client, query: str) -> None:
    response = client.post("/api/testing/auth/force-error" + query)
    assert response.status_code == 400
    assert "status" in response.json["details"]["fields"]
    assert client.get("/api/auth/self").status_code == 200


def test_a_forced_error_comes_before_authentication(oidc_testing_app) -> None:
    client = oidc_testing_app.test_client()
    client.post("/api/testing/auth/session", json={"subject": "tester", "roles": ["editor"]})
    assert client.post("/api/testing/auth/force-error?status=403").status_code == 204
    assert client.get("/api/auth/self").json["code"] == "FORCED_ERROR"
    assert client.get("/api/auth/self").json["subject"] == "tester"
    client.post("/api/testing/auth/force-error?status=401")
    forced = client.get("/api/auth/self")
    assert forced.status_code == 401 and forced.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_forced_error_reaches_another_instance_on_the_same_database(
    app, db_url: str, storage_url: str
) -> None:
    other = create_app(
        {"database_url": db_url, "storage_url": storage_url, "log_level": "WARNING", "testing": 1}
    )
    assert app.test_client().post("/api/testing/auth/force-error?status=502").status_code == 204
    assert other.test_client().get("/api/auth/self").status_code == 502
    assert app.test_client().get("/api/auth/self").status_code == 200


def test_concurrent_requests_take_a_forced_error_once(app) -> None:
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from core.testing_mode.forced_errors import AUTH_SELF, force_error, take_forced_error

    with app.app_context():
        force_error(AUTH_SELF, 500)
    barrier = Barrier(8)

    def take() -> int | None:
        with app.app_context():
            barrier.wait(timeout=30)
            return take_forced_error(AUTH_SELF)

    with ThreadPoolExecutor(8) as pool:
        taken = list(pool.map(lambda _: take(), range(8)))
    assert sorted(taken, key=str) == [500] + [None] * 7
