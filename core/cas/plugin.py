"""The content-addressed store as a plugin: ``partsbin gc``, added through ``register_commands``
like any plugin's command."""

from __future__ import annotations

import click

from core.plugins import hookimpl


@hookimpl
def register_commands(cli: click.Group) -> None:
    from core.cas.cli import gc_command

    cli.add_command(gc_command)
