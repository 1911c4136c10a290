"""Roles on every route of every loaded plugin: readers read, editors write, the rest is 401.

The walks go through ``app.url_map``, so a route a plugin adds tomorrow is covered without
touching these tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, Response, jsonify
from flask.testing import FlaskClient
from flask_openapi3 import APIBlueprint

from core.auth.roles import route_role
from core.plugin_api import READER, hookimpl, public, requires_role
from tests.auth.conftest import bearer, build_app, close_app, sign_in

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
#: Routes anyone may call: health probes, the API document and its viewer, signing in.
OPEN_PREFIXES = ("/health/", "/api/docs", "/api/auth/", "/static/")
#: Write-method routes that only read, so readers may call them (as in EI's contract). A write
#: route that needs less than editor and is not listed here fails the walks.
READ_ONLY_POSTS = (
    "/api/probe/search",
    "/api/kits/pick-list-memberships/query",
    "/api/kits/shopping-list-memberships/query",
    "/api/parts/shopping-list-memberships/query",
)
_PARAM = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def concrete(rule: str) -> str:
    """A URL matching ``rule``: every path parameter filled in."""
    return _PARAM.sub(lambda m: "1" if m.group(1) == "int" else "abcd", rule)


def routes(app: Flask, methods: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) & set(methods)):
            yield method, concrete(rule.rule)


class ProbePlugin:
    """A plugin with a POST that only reads and a public GET, declared through the plugin API."""

    @hookimpl
    def register_blueprints(self) -> list[APIBlueprint]:
        bp = APIBlueprint("probe", __name__, url_prefix="/api/probe")

        @bp.post("/search")
        @requires_role(READER)
        def probe_search() -> Response:
            return jsonify({"found": []})

        @bp.get("/open")
        @public
        def probe_open() -> Response:
            return jsonify({"open": True})

        @bp.delete("/things")
        def probe_delete() -> Response:
            return jsonify({"deleted": True})

        return [bp]


@pytest.fixture
def app_plugins() -> list[object]:
    return [ProbePlugin()]


def test_every_write_route_needs_a_sign_in(oidc_client: FlaskClient, oidc_app: Flask) -> None:
    checked = []
    for method, url in routes(oidc_app, WRITE_METHODS):
        if url.startswith(OPEN_PREFIXES):
            continue
        response = oidc_client.open(url, method=method, json={})
        assert response.status_code == 401, f"{method} {url} is not protected"
        checked.append(url)
    assert "/api/parts" in checked and "/api/kits" in checked  # the walk saw the plugins


def test_every_read_route_needs_a_sign_in(oidc_client: FlaskClient, oidc_app: Flask) -> None:
    for method, url in routes(oidc_app, ("GET", "HEAD")):
        if url.startswith(OPEN_PREFIXES) or url == "/api/probe/open":
            continue
        response = oidc_client.open(url, method=method)
        assert response.status_code == 401, f"{method} {url} is open"


def test_a_reader_gets_403_on_every_write_route(oidc_client: FlaskClient, oidc_app: Flask) -> None:
    sign_in(oidc_client, "reader")
    for method, url in routes(oidc_app, WRITE_METHODS):
        if url.startswith(OPEN_PREFIXES) or url in READ_ONLY_POSTS:
            continue
        response = oidc_client.open(url, method=method, json={})
        assert response.status_code == 403, f"a reader may {method} {url}"
        assert response.get_json()["code"] == "FORBIDDEN"


def test_a_reader_token_gets_403_on_every_write_route(
    oidc_client: FlaskClient, oidc_app: Flask, tokens: dict[str, str]
) -> None:
    for method, url in routes(oidc_app, WRITE_METHODS):
        if url.startswith(OPEN_PREFIXES) or url in READ_ONLY_POSTS:
            continue
        response = oidc_client.open(url, method=method, json={}, headers=bearer(tokens["reader"]))
        assert response.status_code == 403, f"a reader token may {method} {url}"


def test_readers_reach_the_read_only_posts_and_nothing_else_that_writes(
    oidc_app: Flask, tokens: dict[str, str]
) -> None:
    client = oidc_app.test_client()
    reachable = set()
    for method, url in routes(oidc_app, WRITE_METHODS):
        if url.startswith(OPEN_PREFIXES):
            continue
        response = client.open(url, method=method, json={}, headers=bearer(tokens["reader"]))
        if response.status_code not in (401, 403):
            reachable.add(url)
    assert reachable == set(READ_ONLY_POSTS) & {u for _m, u in routes(oidc_app, WRITE_METHODS)}


def test_an_editor_reaches_every_write_route(
    oidc_client: FlaskClient, oidc_app: Flask, tokens: dict[str, str]
) -> None:
    for method, url in routes(oidc_app, WRITE_METHODS):
        if url.startswith(OPEN_PREFIXES):
            continue
        response = oidc_client.open(url, method=method, json={}, headers=bearer(tokens["editor"]))
        assert response.status_code not in (401, 403), f"an editor may not {method} {url}"


def test_an_editor_creates_and_a_reader_reads(
    oidc_client: FlaskClient, tokens: dict[str, str]
) -> None:
    created = oidc_client.post(
        "/api/parts", json={"description": "10k resistor"}, headers=bearer(tokens["editor"])
    )
    assert created.status_code == 201
    key = created.get_json()["key"]
    read = oidc_client.get(f"/api/parts/{key}", headers=bearer(tokens["reader"]))
    assert read.status_code == 200
    assert read.get_json()["description"] == "10k resistor"


def test_a_plugin_declares_a_read_only_post(
    oidc_client: FlaskClient, tokens: dict[str, str]
) -> None:
    response = oidc_client.post("/api/probe/search", json={}, headers=bearer(tokens["reader"]))
    assert response.status_code == 200
    assert oidc_client.post("/api/probe/search", json={}).status_code == 401
    assert oidc_client.get("/api/probe/open").status_code == 200


def test_requires_role_refuses_an_unknown_role() -> None:
    with pytest.raises(ValueError, match="unknown role 'admin'"):
        requires_role("admin")


def test_health_stays_open(oidc_client: FlaskClient) -> None:
    assert oidc_client.get("/health/healthz").status_code == 200
    assert oidc_client.get("/health/readyz").status_code == 200


def test_content_urls_need_a_reader(oidc_client: FlaskClient, tokens: dict[str, str]) -> None:
    url = "/api/cas/" + "0" * 64
    assert oidc_client.get(url).status_code == 401
    assert oidc_client.get(url, headers=bearer(tokens["reader"])).status_code == 404


def test_cas_public_opens_content_urls(oidc_config: dict[str, Any]) -> None:
    app = build_app({**oidc_config, "cas_public": True})
    try:
        client = app.test_client()
        assert client.get("/api/cas/" + "0" * 64).status_code == 404  # no blob, but no 401
        assert client.get("/api/parts").status_code == 401
    finally:
        close_app(app)


def test_every_operation_states_its_role(oidc_client: FlaskClient, oidc_app: Flask) -> None:
    spec = oidc_client.get("/api/docs/openapi.json").get_json()
    seen = 0
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method.upper() not in ("GET", "HEAD", *WRITE_METHODS):
                continue
            if path.startswith(OPEN_PREFIXES) or path == "/api/probe/open":
                assert "x-required-role" not in operation, f"{method} {path}"
                continue
            expected = "editor" if method.upper() in WRITE_METHODS else "reader"
            if path in READ_ONLY_POSTS:
                expected = "reader"
            assert operation.get("x-required-role") == expected, f"{method} {path}"
            seen += 1
    assert seen > 20
    assert spec["components"]["securitySchemes"]["BearerAuth"]["scheme"] == "bearer"


def test_route_role_defaults_by_method() -> None:
    def view() -> None: ...

    assert route_role("parts.x", view, "GET") == "reader"
    assert route_role("parts.x", view, "HEAD") == "reader"
    assert route_role("parts.x", view, "POST") == "editor"
    assert route_role("parts.x", view, "OPTIONS") is None
    assert route_role("health.healthz", view, "GET") is None
    assert route_role("cas.get_blob", view, "GET", cas_public=True) is None


def test_ai_operations_answer_not_available_to_editors_only(
    oidc_client: FlaskClient, tokens: dict[str, str]
) -> None:
    for path in ("/api/ai-parts/analyze", "/api/ai-parts/cleanup", "/api/ai-parts/create"):
        assert oidc_client.post(path, json={}).status_code == 401
        as_reader = oidc_client.post(path, json={}, headers=bearer(tokens["reader"]))
        assert as_reader.status_code == 403
        as_editor = oidc_client.post(path, json={}, headers=bearer(tokens["editor"]))
        assert (as_editor.status_code, as_editor.get_json()["code"]) == (501, "AI_NOT_AVAILABLE")


def test_task_routes_need_a_reader_to_read_and_an_editor_to_change(
    oidc_client: FlaskClient, tokens: dict[str, str]
) -> None:
    task = "0" * 32
    status = f"/api/tasks/{task}/status"
    assert oidc_client.get(status).status_code == 401
    as_reader = oidc_client.get(status, headers=bearer(tokens["reader"]))
    assert (as_reader.status_code, as_reader.get_json()["code"]) == (404, "TASK_NOT_FOUND")
    for method, url in (("POST", f"/api/tasks/{task}/cancel"), ("DELETE", f"/api/tasks/{task}")):
        assert oidc_client.open(url, method=method).status_code == 401
        reader = oidc_client.open(url, method=method, headers=bearer(tokens["reader"]))
        assert reader.status_code == 403
        editor = oidc_client.open(url, method=method, headers=bearer(tokens["editor"]))
        assert (editor.status_code, editor.get_json()["code"]) == (404, "TASK_NOT_FOUND")
