"""``partsbin gc``: remove unreferenced blobs and their thumbnails after a grace period."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import TypeVar

import click
from flask.cli import with_appcontext

from core.cas.gc import GcReport, ProgressFactory, collect_garbage, no_progress, parse_grace
from core.state import get_state
from storage_drivers.base import StorageError

T = TypeVar("T")


def _progressbar(
    iterable: Iterable[T], *, label: str, length: int | None
) -> AbstractContextManager[Iterable[T]]:
    return click.progressbar(iterable, length=length, label=label, show_pos=True)


def stdout_is_terminal() -> bool:
    """Whether stdout is an interactive terminal (progress bars are shown only then)."""
    return sys.stdout.isatty()


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
@with_appcontext
def gc_command(dry_run: bool, grace: object, verbose: bool) -> None:
    """Remove blobs no attachment or plugin references, with their thumbnails.

    Only blobs older than the grace period go, so uploads in flight are safe; safe to run while
    the API serves. Shows a progress bar when stdout is a terminal.
    """
    progress: ProgressFactory = _progressbar if stdout_is_terminal() else no_progress
    try:
        report: GcReport = collect_garbage(
            get_state(), grace, dry_run=dry_run, progress=progress  # type: ignore[arg-type]
        )
    except StorageError as exc:
        raise click.ClickException(f"storage failed: {exc}") from exc
    if verbose:
        verb = "would remove" if dry_run else "removed"
        for key in report.removed_keys:
            click.echo(f"{verb} {key}")
    click.echo(report.summary())
