"""Uploads are a service routes opt into: a plugin route parses a CSV upload as Flask does, or
asks the core for a streaming spool with limits of its own; the attachment endpoint keeps its."""

from __future__ import annotations

import csv
import io

import pytest
from flask import Flask, Response, jsonify, request
from flask.testing import FlaskClient
from flask_openapi3 import APIBlueprint

from core.plugin_api import hookimpl, receive_upload


class PriceListPlugin:
    """A plugin with two upload routes (its code is shown in docs/plugins.md, "Uploads")."""

    @hookimpl
    def register_blueprints(self) -> list[APIBlueprint]:
        blueprint = APIBlueprint("price_lists", __name__, url_prefix="/api/price-lists")

        @blueprint.post("/plain")
        def import_plain() -> Response:
            # Ordinary multipart parsing, within the app's 1 MiB limit for non-upload bodies.
            text = request.files["file"].read().decode("utf-8")
            return jsonify({"rows": len(list(csv.reader(io.StringIO(text))))})

        @blueprint.post("/streamed")
        def import_streamed() -> Response:
            # The core's spool: hashed, sniffed and limited while the body arrives.
            with receive_upload("file", max_bytes=64 * 1024, required_fields=("seller",)) as upload:
                rows = list(csv.reader(io.StringIO(upload.read().decode("utf-8"))))
                return jsonify(
                    {"rows": len(rows), "sha256": upload.sha256, "seller": upload.form["seller"]}
                )

        return [blueprint]


@pytest.fixture
def app_plugins() -> list[object]:
    return [PriceListPlugin()]


CSV = b"part,price\nR1,0.01\nC1,0.02\n"


def _post(client: FlaskClient, path: str, data: bytes, **fields: str):
    return client.post(
        path,
        data={"file": (io.BytesIO(data), "prices.csv"), **fields},
        content_type="multipart/form-data",
    )


def test_a_plugin_route_parses_a_csv_upload_normally(client: FlaskClient) -> None:
    response = _post(client, "/api/price-lists/plain", CSV)
    assert response.status_code == 200, response.json
    assert response.json == {"rows": 3}


def test_a_plugin_route_can_stream_into_the_cores_spool(client: FlaskClient) -> None:
    import hashlib

    response = _post(client, "/api/price-lists/streamed", CSV, seller="Mouser")
    assert response.status_code == 200, response.json
    assert response.json == {
        "rows": 3,
        "sha256": hashlib.sha256(CSV).hexdigest(),
        "seller": "Mouser",
    }


def test_the_spool_applies_the_routes_own_limit(client: FlaskClient) -> None:
    response = _post(client, "/api/price-lists/streamed", b"x," * 40_000, seller="Mouser")
    assert response.status_code == 413
    assert response.json["code"] == "PAYLOAD_TOO_LARGE"


def test_missing_fields_are_named(client: FlaskClient) -> None:
    response = client.post(
        "/api/price-lists/streamed", data={"other": "1"}, content_type="multipart/form-data"
    )
    assert response.status_code == 400
    assert set(response.json["details"]["fields"]) == {"file", "seller"}


def test_the_attachment_endpoint_still_refuses_disallowed_types(
    app: Flask, client: FlaskClient
) -> None:
    set_id = client.post("/api/parts", json={"description": "r"}).json["attachment_set_id"]
    response = client.post(
        f"/api/attachment-sets/{set_id}/attachments",
        data={"file": (io.BytesIO(CSV), "prices.csv"), "title": "prices"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 415, response.json
