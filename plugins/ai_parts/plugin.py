"""The AI parts plugin's hook implementations (entry point ``ai_parts``)."""

from __future__ import annotations

from flask_openapi3 import APIBlueprint

from core.plugin_api import hookimpl


@hookimpl
def register_blueprints() -> list[APIBlueprint]:
    from plugins.ai_parts import api

    return [api.blueprint]
