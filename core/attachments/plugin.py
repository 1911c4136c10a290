"""The attachments package as a plugin: the attachment API and ``partsbin check``, served through
the same hooks as any plugin's."""

from __future__ import annotations

import click
from flask_openapi3 import APIBlueprint

from core.plugins import hookimpl


@hookimpl
def register_blueprints() -> list[APIBlueprint]:
    from core.api.attachments import blueprint

    return [blueprint]


@hookimpl
def register_commands(cli: click.Group) -> None:
    from core.attachments.check import check_command

    cli.add_command(check_command)
