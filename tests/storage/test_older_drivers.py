"""A driver written against the older interface (no ``timeout`` on ``check``, no
``response_headers`` on ``presigned_get_url``) still works: readiness and redirects call it
safely."""

from __future__ import annotations

import io
from pathlib import Path

from flask import Flask

from core.app import create_app
from core.cas.ingest import ingest
from core.state import get_state
from storage_drivers.local import LocalDriver
from tests.cas.conftest import png


class OlderDriver(LocalDriver):
    """Overrides the two methods with their old signatures (as a third-party driver would)."""

    def check(self) -> None:  # type: ignore[override]
        self.stat("healthcheck/probe")

    def presigned_get_url(self, key: str, expires_seconds: int = 300) -> str | None:  # type: ignore[override]
        return f"http://127.0.0.1:9/{key}"


def _app(tmp_path: Path, **config: object) -> Flask:
    app = create_app(
        {
            "database_url": f"sqlite:///{tmp_path / 'db.sqlite'}",
            "storage_url": f"file://{tmp_path / 'blobs'}",
            "log_level": "WARNING",
            **config,
        },
        load_entry_points=False,
    )
    state = get_state(app)
    state.storage = state.read_storage = OlderDriver(str(tmp_path / "blobs"))
    return app


def test_readiness_calls_an_older_check_without_a_timeout(tmp_path: Path) -> None:
    response = _app(tmp_path).test_client().get("/health/readyz")
    assert response.status_code == 200, response.json


def test_a_driver_that_cannot_sign_headers_is_served_by_the_app(tmp_path: Path) -> None:
    app = _app(tmp_path, cas_redirect="presigned")
    data = png(30, 30)
    blob = ingest(get_state(app).storage, io.BytesIO(data), lambda _type: 10**9)

    response = app.test_client().get(f"/api/cas/{blob.sha256}?filename=a.png")

    assert response.status_code == 200 and response.data == data
