"""The parts and kits plugins are built in, and their routes are documented in OpenAPI."""

from __future__ import annotations

import importlib.metadata

from core.plugins import DEFAULT_PLUGINS

ROUTES = {
    "/api/types": {"get", "post"},
    "/api/types/{type_id}": {"get", "put", "delete"},
    "/api/parts": {"get", "post"},
    "/api/parts/{key}": {"get", "put", "delete"},
    "/api/parts/{key}/kits": {"get"},
    "/api/parts/{key}/kit-reservations": {"get"},
    "/api/parts/{key}/locations": {"get"},
    "/api/parts/attachment-proxy/content": {"get"},
    "/api/parts/attachment-preview/image": {"get"},
    "/api/parts/copy-attachment": {"post"},
    "/api/parts/attachment-preview": {"post"},
    "/api/kits": {"get", "post"},
    "/api/kits/{kit_id}": {"get", "patch", "delete"},
    "/api/kits/{kit_id}/archive": {"post"},
    "/api/kits/{kit_id}/unarchive": {"post"},
    "/api/kits/{kit_id}/contents": {"post"},
    "/api/kits/{kit_id}/contents/{content_id}": {"patch", "delete"},
}


def test_parts_and_kits_load_through_entry_points_like_any_plugin() -> None:
    entry_points = {
        ep.name: ep.value for ep in importlib.metadata.entry_points(group="partsbin")
    }
    assert entry_points["parts"] == "plugins.parts.plugin"
    assert entry_points["kits"] == "plugins.kits.plugin"
    assert not any(name.startswith("plugins.") for name in DEFAULT_PLUGINS)


def test_every_route_is_documented_with_its_errors(client) -> None:
    paths = client.get("/api/docs/openapi.json").json["paths"]
    for path, methods in ROUTES.items():
        assert set(paths[path]) == methods, path
        for method in methods:
            operation = paths[path][method]
            assert "400" in operation["responses"], (path, method)
            assert operation.get("summary"), (path, method)


def test_path_and_query_parameters_are_documented(client) -> None:
    paths = client.get("/api/docs/openapi.json").json["paths"]
    key = paths["/api/parts/{key}"]["get"]["parameters"][0]
    assert key["in"] == "path" and key["schema"]["pattern"] == "^[A-Z]{4,8}$"
    kit_id = paths["/api/kits/{kit_id}"]["get"]["parameters"][0]
    assert kit_id["schema"]["maximum"] == 2**31 - 1
    queried = {p["name"] for p in paths["/api/parts"]["get"]["parameters"]}
    assert queried == {"limit", "offset", "cursor", "count", "type_id", "include"}
    assert {p["name"] for p in paths["/api/kits"]["get"]["parameters"]} == {
        "status", "query", "limit", "offset",
    }


def test_request_bodies_are_documented(client) -> None:
    document = client.get("/api/docs/openapi.json").json
    schemas = document["components"]["schemas"]
    assert schemas["PartCreateIn"]["required"] == ["description"]
    assert schemas["PartCreateIn"]["additionalProperties"] is False
    assert "version" in schemas["KitContentUpdateIn"]["required"]
