"""``PARTSBIN_UI_DIR``: the built UI at ``/`` on the API's origin (single-page app rules)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.app import create_app
from core.config import ConfigError


@pytest.fixture
def app_config(db_url: str, storage_url: str, ui_dist: Path) -> dict[str, Any]:
    return {
        "database_url": db_url,
        "storage_url": storage_url,
        "log_level": "WARNING",
        "ui_dir": str(ui_dist),
    }


def _asset(ui_dist: Path, suffix: str) -> str:
    return next(p.name for p in (ui_dist / "assets").iterdir() if p.name.endswith(suffix))


def test_root_answers_index_html_with_no_cache_and_security_headers(client, ui_dist) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.data == (ui_dist / "index.html").read_bytes()
    assert response.headers["Cache-Control"] == "no-cache"
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in csp and "script-src 'self'" in csp
    assert "worker-src 'self'" in csp and "'unsafe-eval'" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_any_other_ui_path_falls_back_to_index_html(client, ui_dist) -> None:
    for path in ("/parts", "/parts/ABCD", "/kits/3/edit", "/types?x=1", "/apiary"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.data == (ui_dist / "index.html").read_bytes(), path
        assert response.headers["Cache-Control"] == "no-cache", path


def test_hashed_assets_are_served_as_they_are_and_cached_forever(client, ui_dist) -> None:
    name = _asset(ui_dist, ".js")
    response = client.get(f"/assets/{name}")
    assert response.status_code == 200
    assert response.mimetype in ("text/javascript", "application/javascript")
    assert response.data == (ui_dist / "assets" / name).read_bytes()
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    css = client.get(f"/assets/{_asset(ui_dist, '.css')}")
    assert css.mimetype == "text/css"


def test_files_at_the_root_are_served_and_revalidated(client, ui_dist) -> None:
    version = client.get("/version.json")
    assert version.status_code == 200
    assert version.json == json.loads((ui_dist / "version.json").read_text())
    assert version.headers["Cache-Control"] == "no-cache"
    assert client.get("/favicon.png").mimetype == "image/png"


def test_a_missing_asset_is_a_json_404_not_the_page(client) -> None:
    response = client.get("/assets/index-DOESNOTEXIST.js")
    assert response.status_code == 404
    assert response.json["code"] == "NOT_FOUND"


def test_api_and_health_paths_are_never_the_page(client) -> None:
    for path in ("/api/nothing-here", "/api", "/health/nothing"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.is_json, path
    assert client.post("/api/nothing-here").status_code == 404
    assert client.get("/health/healthz").json == {"status": "ok"}


def test_paths_cannot_leave_the_bundle(client, ui_dist) -> None:
    for path in ("/../README.md", "/assets/../../ei-ui/README.md", "/%2e%2e/README.md"):
        response = client.get(path)
        assert response.status_code in (200, 404), path
        if response.status_code == 200:
            assert response.data == (ui_dist / "index.html").read_bytes(), path


def test_conditional_requests_answer_304(client) -> None:
    first = client.get("/")
    again = client.get("/", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


def test_a_folder_without_index_html_stops_start_up(tmp_path, db_url, storage_url) -> None:
    with pytest.raises(ConfigError, match=r"index\.html"):
        create_app({"database_url": db_url, "storage_url": storage_url, "ui_dir": str(tmp_path)})


def test_without_ui_dir_nothing_is_served_at_root(db_url, storage_url) -> None:
    app = create_app({"database_url": db_url, "storage_url": storage_url, "log_level": "WARNING"})
    response = app.test_client().get("/")
    assert response.status_code == 404 and response.is_json
