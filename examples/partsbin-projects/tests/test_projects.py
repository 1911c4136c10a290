"""The plugin's own tests, written with the fixtures Partsbin ships for plugin authors.

``partsbin_client`` is a test client of a fresh, migrated app that loads every installed plugin,
this one included (see ``core.testing``). Each test runs on SQLite, and on PostgreSQL when
``PARTSBIN_TEST_POSTGRES_URL`` names a server.
"""

from __future__ import annotations

import io

from flask.testing import FlaskClient
from PIL import Image


def png(color: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(out, "PNG")
    return out.getvalue()


def test_a_new_project_owns_an_empty_attachment_set(partsbin_client: FlaskClient) -> None:
    created = partsbin_client.post("/api/projects", json={"name": "Nixie clock"})
    assert created.status_code == 201, created.json
    project = created.json
    assert project["status"] == "idea" and project["cover_url"] is None
    attachment_set = partsbin_client.get(f"/api/attachment-sets/{project['attachment_set_id']}")
    assert attachment_set.json["owner"] == {
        "type": "project",
        "id": project["id"],
        "key": project["id"],
    }


def test_the_first_image_becomes_the_cover(partsbin_client: FlaskClient) -> None:
    project = partsbin_client.post("/api/projects", json={"name": "Tube amp"}).json
    upload = partsbin_client.post(
        f"/api/attachment-sets/{project['attachment_set_id']}/attachments",
        data={"file": (io.BytesIO(png("red")), "front.png"), "title": "front"},
        content_type="multipart/form-data",
    )
    assert upload.status_code == 201, upload.json
    listed = partsbin_client.get("/api/projects").json
    assert listed[0]["cover_url"] == upload.json["attachment_url"].split("?")[0]


def test_patch_refuses_null_and_keeps_what_is_left_out(partsbin_client: FlaskClient) -> None:
    project = partsbin_client.post(
        "/api/projects", json={"name": "Synth", "description": "VCO"}
    ).json
    refused = partsbin_client.patch(f"/api/projects/{project['id']}", json={"name": None})
    assert refused.status_code == 400
    assert "name" in refused.json["details"]["fields"]
    changed = partsbin_client.patch(f"/api/projects/{project['id']}", json={"status": "done"})
    assert changed.json["status"] == "done" and changed.json["description"] == "VCO"


def test_deleting_a_project_deletes_its_set(partsbin_client: FlaskClient) -> None:
    project = partsbin_client.post("/api/projects", json={"name": "Robot"}).json
    assert partsbin_client.delete(f"/api/projects/{project['id']}").status_code == 204
    gone = partsbin_client.get(f"/api/attachment-sets/{project['attachment_set_id']}")
    assert gone.status_code == 404
