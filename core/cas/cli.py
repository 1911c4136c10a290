"""``partsbin gc``: remove unreferenced blobs and their thumbnails after a grace period."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import click
from flask.cli import with_appcontext
from tqdm import tqdm

from core.cas.gc import GcReport, ProgressFactory, collect_garbage, no_progress, parse_grace
from core.plugins import PluginError
from core.state import get_state
from storage_drivers.base import StorageError

T = TypeVar("T")


@contextmanager
def _tqdm(iterable: Iterable[T], *, label: str, length: int | None) -> Iterator[Iterable[T]]:
    with tqdm(iterable, desc=label, total=length, unit=" objects", file=sys.stderr) as bar:
        yield bar


def terminal_progress() -> ProgressFactory:
    """A tqdm bar on stderr when stderr is a terminal; nothing in pipes and logs."""
    return _tqdm if stderr_is_terminal() else no_progress


def stderr_is_terminal() -> bool:
    """Whether stderr is an interactive terminal (progress bars are shown only then)."""
    return sys.stderr.isatty()


def _grace(_ctx: click.Context, _param: click.Parameter, value: str) -> object:
    try:
        return parse_grace(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


@click.command("gc")
@click.option(
    "--dry-run", is_flag=True, help="Report what would be removed; delete nothing."
)
@click.option(
    "--grace",
    default="24h",
    show_default=True,
    callback=_grace,
    help="Keep unreferenced blobs younger than this: 0, 30s, 15m, 24h, 7d.",
)
@click.option("--verbose", "-v", is_flag=True, help="Print every removed key.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout instead.")
@with_appcontext
def gc_command(dry_run: bool, grace: object, verbose: bool, as_json: bool) -> None:
    """Remove blobs no attachment or plugin references, with their thumbnails.

    Only blobs older than the grace period go, so uploads in flight are safe; safe to run while
    the API serves, and safe to interrupt (the next run finishes the job). Shows a progress bar
    on stderr when it is a terminal. Exit 0 on success, 1 when storage or a plugin failed.
    """
    try:
        report: GcReport = collect_garbage(
            get_state(), grace, dry_run=dry_run, progress=terminal_progress()  # type: ignore[arg-type]
        )
    except (StorageError, PluginError) as exc:
        raise click.ClickException(f"gc stopped: {exc}") from exc
    if as_json:
        click.echo(json.dumps(report.as_json()))
        return
    if verbose:
        verb = "would remove" if dry_run else "removed"
        for key in report.removed_keys:
            click.echo(f"{verb} {key}")
    click.echo(report.summary())
