"""TimestampedModel: a new row's ``updated_at`` equals its ``created_at``; saves move it on."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from flask.testing import FlaskClient

from core.attachments.models import AttachmentSet


def test_a_new_row_has_updated_at_equal_to_created_at(app: Flask) -> None:
    with app.app_context():
        created = AttachmentSet.create()
        stored = AttachmentSet.get_by_id(created.id)

    assert stored.updated_at == stored.created_at


def test_a_later_save_moves_updated_at_on_and_keeps_created_at(app: Flask) -> None:
    long_ago = dt.datetime(2020, 1, 1)
    with app.app_context():
        row = AttachmentSet.create()
        AttachmentSet.update(created_at=long_ago, updated_at=long_ago).where(
            AttachmentSet.id == row.id
        ).execute()
        loaded = AttachmentSet.get_by_id(row.id)
        loaded.save()
        stored = AttachmentSet.get_by_id(row.id)

    assert stored.created_at == long_ago
    assert stored.updated_at > long_ago


def test_a_part_created_through_the_api_has_equal_timestamps(client: FlaskClient) -> None:
    body = client.post("/api/parts", json={"description": "a part"}).json

    assert body["updated_at"] == body["created_at"]
