"""The core's own plugin: serves the attachment API through the same hooks as any plugin."""

from __future__ import annotations

from flask_openapi3 import APIBlueprint

from core.plugins import hookimpl


@hookimpl
def register_blueprints() -> list[APIBlueprint]:
    from core.api.attachments import blueprint

    return [blueprint]
