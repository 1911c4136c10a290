"""Uploading a PDF bomb: refused within the render limits, nothing stored (issue 16 item 1)."""

from __future__ import annotations

import io
import time
from typing import Any

import pytest
from flask import Flask

from core.attachments.models import Attachment, AttachmentSet
from core.state import get_state
from tests.cas.pdf_bombs import nested_forms_pdf


@pytest.fixture
def app_config(db_url: str, storage_url: str) -> dict[str, Any]:
    return {
        "database_url": db_url,
        "storage_url": storage_url,
        "log_level": "WARNING",
        "render_timeout": 3.0,
        "render_max_memory": 512 * 1024 * 1024,
    }


def test_a_pdf_bomb_upload_is_422_pdf_too_complex_and_stores_nothing(app: Flask) -> None:
    with app.app_context():
        set_id = AttachmentSet.create().id
    started = time.monotonic()
    response = app.test_client().post(
        f"/api/attachment-sets/{set_id}/attachments",
        data={"file": (io.BytesIO(nested_forms_pdf()), "bomb.pdf"), "title": "bomb"},
        content_type="multipart/form-data",
    )
    assert time.monotonic() - started < 20.0  # "does not hang", not a timing
    assert response.status_code == 422
    assert response.json["code"] == "PDF_TOO_COMPLEX"
    with app.app_context():
        assert Attachment.select().count() == 0
    assert list(get_state(app).storage.iter_keys("cas/")) == []
