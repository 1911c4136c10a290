"""The app factory. Nothing is built at import time: every call returns an independent app."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from flask import Flask, Response, g, request
from flask_openapi3 import Info, OpenAPI
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from core import db, errors
from core.api.schemas import ErrorBody
from core.attachments.entities import entity_registry
from core.auth import guard as auth_guard
from core.cas import background
from core.config import Settings, load_settings
from core.logging_setup import configure_logging
from core.plugins import build_plugin_manager, collect_list, collect_mapping
from core.state import PartsbinState, get_state
from storage_drivers.cache import caching_reader
from storage_drivers.registry import LazyDriverMap, open_storage

log = logging.getLogger("partsbin.http")

#: Largest JSON request body; file uploads have their own, larger limits.
MAX_JSON_BYTES = 1024 * 1024

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,128}$")


def create_app(
    config: Mapping[str, Any] | Settings | None = None,
    *,
    plugins: Sequence[object | str] = (),
    load_entry_points: bool = True,
) -> Flask:
    """Build a Partsbin WSGI app.

    Settings come from defaults, then ``PARTSBIN_*`` variables, then ``config`` (lower-case field
    names, as in :class:`core.config.Settings`). ``plugins`` adds plugin modules or objects after
    the core's and the entry-point ones (``load_entry_points=False`` loads the core alone).
    Raises :class:`core.config.ConfigError` for bad settings and
    :class:`core.plugins.PluginError` for bad plugins.
    """
    settings = load_settings(config)
    configure_logging(settings.log_level_number)
    pm = build_plugin_manager(
        plugins,
        load_entry_points=load_entry_points,
        disabled=settings.disable_plugins if load_entry_points else (),
    )

    app = OpenAPI(
        "partsbin",
        info=Info(title="Partsbin API", version="1.0.0"),
        doc_prefix="/api/docs",
        doc_url="/openapi.json",
        security_schemes={},
        validation_error_status=400,
        validation_error_model=ErrorBody,
        validation_error_callback=_validation_error_response,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    # Bodies other than uploads (which raise it per request) are small JSON documents.
    app.config["MAX_CONTENT_LENGTH"] = MAX_JSON_BYTES
    app.config["MAX_FORM_MEMORY_SIZE"] = 1024 * 1024
    app.config["MAX_FORM_PARTS"] = 100

    drivers = LazyDriverMap(
        {
            scheme: target
            for scheme, (_plugin, target) in collect_mapping(
                pm, "register_storage_drivers", "storage scheme"
            ).items()
        }
    )
    storage = open_storage(settings.storage_url, drivers)
    state = PartsbinState(
        settings=settings,
        plugin_manager=pm,
        database=db.open_database(
            settings.database_url, timeout=settings.db_timeout, pool_size=settings.db_pool_size
        ),
        storage=storage,
        read_storage=caching_reader(storage, settings.cache_dir, settings.cache_max_bytes)
        or storage,
    )
    app.extensions["partsbin"] = state
    entity_registry(state)  # validate plugin registrations now, not on first use
    db.init_app(app, state.database)
    app.teardown_request(background.queue_deferred)  # work a request left for after its answer
    auth_guard.init_app(app)  # before anything reads the body: who may call, from where
    app.before_request(_parse_json_body)
    errors.init_app(app)
    _init_request_logging(app)

    from core.api import cas, health

    app.register_api(health.blueprint)
    app.register_api(health.metrics_blueprint)
    app.register_api(cas.blueprint)
    for _plugin, blueprint in collect_list(pm, "register_blueprints", app=app):
        app.register_api(blueprint)
    if settings.ui_dir is not None:
        from core import ui

        ui.init_app(app, settings.ui_dir)  # last: its catch-all yields to every API route
    return app


def _parse_json_body() -> None:
    """Parse a JSON body up front, so malformed JSON is a clear 400 wherever it is sent.

    Werkzeug caches the result, so views and flask-openapi3 do not parse it again. Nesting
    deep enough to exhaust the parser's recursion is malformed too, not a 500.
    """
    has_body = bool(request.content_length) or "Transfer-Encoding" in request.headers
    if not request.is_json or not has_body:
        return
    try:
        request.get_json(silent=False)
    except RecursionError:
        raise errors.ValidationFailed(
            "request body is not valid JSON: nested too deeply", code="MALFORMED_JSON"
        ) from None
    except HTTPException as exc:
        if exc.code == 413:
            raise
        raise errors.ValidationFailed(
            "request body is not valid JSON", code="MALFORMED_JSON"
        ) from None


def _validation_error_response(exc: ValidationError) -> Response:
    return errors.error_response(
        400, errors.validation_message(exc), "VALIDATION_ERROR", errors.validation_details(exc)
    )


def _init_request_logging(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        request_id = getattr(g, "request_id", None) or uuid.uuid4().hex
        response.headers["X-Request-ID"] = request_id
        started = getattr(g, "started", None)
        log.info(
            "request",
            extra={
                "request_id": request_id,
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2)
                if started
                else None,
            },
        )
        return response


__all__ = ["create_app", "get_state"]
