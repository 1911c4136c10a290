"""Authentication as a core plugin: the ``/api/auth`` routes and ``partsbin tokens``.

The per-request checks are installed by :func:`core.auth.guard.init_app`, which the app factory
calls for every app (they are not optional, so not a hook).
"""

from __future__ import annotations

import click
from flask_openapi3 import APIBlueprint

from core.plugins import hookimpl


@hookimpl
def register_blueprints() -> list[APIBlueprint]:
    from core.auth.api import blueprint

    return [blueprint]


@hookimpl
def register_commands(cli: click.Group) -> None:
    from core.auth.cli import tokens_command

    cli.add_command(tokens_command)
