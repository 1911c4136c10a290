"""``partsbin gc``: options, output and registration in the ``partsbin`` command group."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import Flask

from core.cas.cli import gc_command
from storage_drivers.base import StorageDriver
from tests.cas.conftest import put_blob, use_timed_storage


@pytest.fixture
def storage(app: Flask, tmp_path: Path) -> StorageDriver:
    return use_timed_storage(app, tmp_path / "cli-blobs")


def invoke(app: Flask, *args: str):
    return app.test_cli_runner().invoke(gc_command, list(args))


def test_default_grace_keeps_fresh_orphans(app: Flask, storage: StorageDriver) -> None:
    orphan = put_blob(app, b"just uploaded")
    result = invoke(app)
    assert result.exit_code == 0, result.output
    assert storage.exists(orphan.key)
    assert result.output.strip() == "scanned 1 objects: kept 1 (13 B), removed 0 (0 B)"


def test_grace_zero_removes_orphans(app: Flask, storage: StorageDriver) -> None:
    orphan = put_blob(app, b"orphan")
    result = invoke(app, "--grace", "0", "--verbose")
    assert result.exit_code == 0, result.output
    assert not storage.exists(orphan.key)
    assert f"removed {orphan.key}" in result.output
    assert "removed 1 (6 B)" in result.output


def test_dry_run_says_would_remove(app: Flask, storage: StorageDriver) -> None:
    orphan = put_blob(app, b"orphan")
    result = invoke(app, "--grace", "0", "--dry-run")
    assert result.exit_code == 0, result.output
    assert storage.exists(orphan.key)
    assert "would remove 1 (6 B)" in result.output


def test_no_progress_bar_when_not_a_terminal(app: Flask, storage: StorageDriver) -> None:
    put_blob(app, b"orphan")
    result = invoke(app, "--grace", "0")
    assert "scanning" not in result.output and "scanning" not in result.stderr


def test_progress_bar_on_stderr_on_a_terminal(
    app: Flask, storage: StorageDriver, monkeypatch
) -> None:
    put_blob(app, b"orphan")
    monkeypatch.setattr("core.cas.cli.stderr_is_terminal", lambda: True)
    result = invoke(app, "--grace", "0")
    assert result.exit_code == 0, result.output
    assert "scanning" in result.stderr and "scanning" not in result.stdout


def test_json_summary_on_stdout(app: Flask, storage: StorageDriver) -> None:
    put_blob(app, b"orphan")
    result = invoke(app, "--grace", "0", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["removed"] == 1 and summary["scanned"] == 1 and summary["dry_run"] is False


def test_bad_grace_is_a_usage_error(app: Flask) -> None:
    result = invoke(app, "--grace", "soon")
    assert result.exit_code == 2
    assert "invalid grace period 'soon'" in result.output
