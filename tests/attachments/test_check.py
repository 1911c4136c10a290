"""`partsbin check`: the attachment invariants, each violation named."""

from __future__ import annotations

import io
import json

from core.attachments import check
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
        key = Attachment.get_by_id(aid).blob_key
        get_state(app).storage.delete(key)
    result = app.test_cli_runner().invoke(cli, ["check"])
    assert result.exit_code == 1
    assert f"attachment set {set_id} has no owner" in result.output
    assert (
        f"attachment set {other.id} has cover {aid}, which belongs to set {set_id}" in result.output
    )
    assert f"{key} is missing from storage (attachments {aid})" in result.output


def _invoke(app, *args: str):
    return app.test_cli_runner().invoke(cli, ["check", *args])


def test_missing_blobs_are_found_across_chunk_boundaries(app, set_id, upload, monkeypatch) -> None:
    monkeypatch.setattr(check, "CHUNK", 2)  # the merge crosses many keyset chunks
    ids = [upload(set_id, make_png(color=color)).json["id"] for color in ("red", "blue", "green")]
    with app.app_context():
        gone = Attachment.get_by_id(ids[1])
        get_state(app).storage.delete(gone.blob_key)
        messages = [str(v) for v in check.find_violations(get_state(app))]
    missing = [m for m in messages if "missing from storage" in m]
    assert missing == [f"{gone.blob_key} is missing from storage (attachments {gone.id})"]


def test_a_key_shared_by_two_rows_names_both(app, set_id, upload) -> None:
    first = upload(set_id, make_png()).json["id"]
    second = upload(set_id, make_png()).json["id"]  # same bytes: the same blob
    with app.app_context():
        key = Attachment.get_by_id(first).blob_key
        get_state(app).storage.delete(key)
        messages = [str(v) for v in check.find_violations(get_state(app))]
    assert f"{key} is missing from storage (attachments {first}, {second})" in messages


def test_deep_finds_a_blob_whose_bytes_do_not_match_its_hash(app, set_id, upload) -> None:
    aid = upload(set_id, make_png()).json["id"]
    with app.app_context():
        key = Attachment.get_by_id(aid).blob_key
        get_state(app).storage.put(key, io.BytesIO(b"bit rot"), 7)
    assert not any("does not hash" in m for m in _invoke(app).output.splitlines())
    result = _invoke(app, "--deep")
    assert result.exit_code == 1
    assert f"{key} does not hash to its name (attachments {aid})" in result.output


def test_json_summary_counts_violations_by_kind(app, set_id, upload) -> None:
    aid = upload(set_id, make_png()).json["id"]
    with app.app_context():
        get_state(app).storage.delete(Attachment.get_by_id(aid).blob_key)
    result = _invoke(app, "--json")
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert summary["ok"] is False
    assert summary["by_kind"]["missing_blob"] >= 1
    assert summary["violations"] == len(summary["messages"])
