"""Testing mode as a core plugin: ``/api/testing/*`` only when ``PARTSBIN_TESTING=1``."""

from __future__ import annotations

import flask
from flask_openapi3 import APIBlueprint

from core.plugins import hookimpl
from core.state import get_state


@hookimpl
def register_blueprints(app: flask.Flask) -> list[APIBlueprint]:
    if not get_state(app).settings.testing:
        return []
    from core.events.streams import add_stream_route
    from core.testing_mode import logs
    from core.testing_mode.api import blueprint

    add_stream_route(app, logs.stream_route(app))
    return [blueprint]
