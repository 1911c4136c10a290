"""`partsbin check`: the attachment invariants, each violation named."""

from __future__ import annotations

from core.attachments.models import Attachment, AttachmentSet
from core.cli import cli
from core.state import get_state
from tests.attachments.conftest import make_png


def test_clean_database_passes(app, set_id) -> None:
    with app.app_context():
        AttachmentSet.delete().execute()  # no owner types: an unowned set is a violation
    result = app.test_cli_runner().invoke(cli, ["check"])
    assert result.exit_code == 0, result.output
    assert "no violations" in result.output


def test_orphan_set_missing_blob_and_foreign_cover_are_named(app, set_id, upload) -> None:
    aid = upload(set_id, make_png()).json["id"]
    with app.app_context():
        other = AttachmentSet.create()
        AttachmentSet.update(cover_attachment=aid).where(AttachmentSet.id == other.id).execute()
        key = Attachment.get_by_id(aid).s3_key
        get_state(app).storage.delete(key)
    result = app.test_cli_runner().invoke(cli, ["check"])
    assert result.exit_code == 1
    assert f"attachment set {set_id} has no owner" in result.output
    assert (
        f"attachment set {other.id} has cover {aid}, which belongs to set {set_id}" in result.output
    )
    assert f"{key} is missing from storage (attachments {aid})" in result.output
