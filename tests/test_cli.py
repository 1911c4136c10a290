"""The ``partsbin`` command line: commands arrive through ``register_commands``; output on stdout
stays parseable while logs go to stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click

from core.attachments.check import check_command
from core.cas.cli import gc_command
from core.plugins import build_plugin_manager

PARTSBIN = str(Path(sys.executable).with_name("partsbin"))


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PARTSBIN_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "PARTSBIN_STORAGE_URL": f"file://{tmp_path / 'blobs'}",
        **extra,
    }


def test_the_cores_check_and_gc_arrive_through_register_commands() -> None:
    group = click.Group()
    build_plugin_manager(load_entry_points=False).hook.register_commands(cli=group)
    assert group.commands["check"] is check_command
    assert group.commands["gc"] is gc_command


def test_help_lists_core_and_plugin_commands(tmp_path: Path) -> None:
    result = subprocess.run(
        [PARTSBIN, "--help"], env=_env(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    commands = {
        line.split()[0] for line in result.stdout.split("Commands:")[1].splitlines() if line.strip()
    }
    assert {"check", "gc", "migrate", "plugins", "serve"} <= commands


def test_plugins_json_stays_parseable_with_debug_logging(tmp_path: Path) -> None:
    result = subprocess.run(
        [PARTSBIN, "plugins", "--json"],
        env=_env(tmp_path, PARTSBIN_LOG_LEVEL="DEBUG"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    names = {row["name"] for row in json.loads(result.stdout)}
    assert {"parts", "kits", "core.attachments.plugin"} <= names


def test_migrate_prints_results_on_stdout_and_logs_on_stderr(tmp_path: Path) -> None:
    result = subprocess.run(
        [PARTSBIN, "migrate"], env=_env(tmp_path), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "applied core:001_initial"
    assert all(line.startswith(("applied ", "backfilled ")) for line in result.stdout.splitlines())
    logs = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert any(entry["logger"] == "partsbin.migrate" for entry in logs), result.stderr
