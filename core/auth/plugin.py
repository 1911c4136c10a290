"""Authentication as a core plugin: the ``/api/auth`` routes."""

from __future__ import annotations

from flask_openapi3 import APIBlueprint

from core.plugins import hookimpl


@hookimpl
def register_blueprints() -> list[APIBlueprint]:
    from core.auth.api import blueprint

    return [blueprint]
