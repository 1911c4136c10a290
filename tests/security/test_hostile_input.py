"""Hostile input: malformed, deep, huge and mistyped JSON; odd path parameters; oversized bodies."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("{not json", "MALFORMED_JSON"),
        ("[" * 100_000 + "]" * 100_000, "MALFORMED_JSON"),
        ('{"description": "x"', "MALFORMED_JSON"),
    ],
    ids=["malformed", "deeply-nested", "truncated"],
)
def test_bad_json_is_a_400(client, body: str, code: str) -> None:
    response = client.post("/api/parts", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json["code"] == code


def test_huge_json_is_a_413_naming_the_limit(client) -> None:
    body = '{"description": "' + "x" * (3 * 1024 * 1024) + '"}'
    response = client.post("/api/parts", data=body, content_type="application/json")
    assert response.status_code == 413
    assert "1048576-byte limit" in response.json["error"]


def test_wrong_types_name_each_field(client) -> None:
    response = client.post("/api/parts", json={"description": 5, "pin_count": "many"})
    assert response.status_code == 400
    assert set(response.json["details"]["fields"]) == {"description", "pin_count"}


def test_unknown_fields_are_refused(client) -> None:
    response = client.post("/api/kits", json={"name": "k", "colour": "red"})
    assert response.status_code == 400
    assert "colour" in response.json["details"]["fields"]


@pytest.mark.parametrize(
    ("path", "statuses"),
    [
        ("/api/attachment-sets/-1", {404}),
        ("/api/attachment-sets/abc", {404}),
        (f"/api/attachment-sets/{10**30}", {400}),
        ("/api/attachment-sets/1/attachments/-5", {404}),
        (f"/api/kits/{2**63}", {400}),
        ("/api/parts/../../etc", {400, 404}),
        ("/api/parts/abcd", {400, 404}),
        ("/api/cas/not-a-hash", {400}),
        ("/api/cas/" + "G" * 64, {400}),
        ("/api/cas/" + "a" * 64 + "%0A", {400}),
        ("/api/cas/" + "a" * 65, {400}),
    ],
)
def test_odd_path_parameters_are_4xx(client, path: str, statuses: set[int]) -> None:
    response = client.get(path)
    assert response.status_code in statuses, (path, response.status_code, response.json)
    assert set(response.json) == {"error", "details", "code"}
