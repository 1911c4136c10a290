"""API errors and the JSON error envelope ``{"error", "details", "code"}``.

Services raise :class:`ApiError` subclasses; :func:`init_app` turns them, Werkzeug's HTTP errors,
storage and database failures into JSON responses with the right status. A 500 is only ever a bug
and its body never carries internals (the log has the traceback and the request id).
"""

from __future__ import annotations

import logging
from typing import Any

import peewee
from flask import Flask, Response, g, jsonify, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from storage_drivers.base import BlobNotFound, StorageError, StorageUnavailable

log = logging.getLogger("partsbin.errors")


class ApiError(Exception):
    """An error with an HTTP status, a stable machine-readable code and optional details."""

    status = 400
    code = "BAD_REQUEST"

    def __init__(
        self, message: str, details: dict[str, Any] | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        if code:
            self.code = code


class ValidationFailed(ApiError):
    status, code = 400, "VALIDATION_ERROR"


class NotFound(ApiError):
    status, code = 404, "NOT_FOUND"


class Conflict(ApiError):
    status, code = 409, "CONFLICT"


class PayloadTooLarge(ApiError):
    status, code = 413, "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(ApiError):
    status, code = 415, "UNSUPPORTED_MEDIA_TYPE"


class RangeNotSatisfiable(ApiError):
    status, code = 416, "RANGE_NOT_SATISFIABLE"


class UnprocessableContent(ApiError):
    status, code = 422, "UNPROCESSABLE_CONTENT"


class ServiceUnavailable(ApiError):
    status, code = 503, "SERVICE_UNAVAILABLE"


def error_response(
    status: int, message: str, code: str, details: dict[str, Any] | None = None
) -> Response:
    """Build the JSON error envelope."""
    response = jsonify({"error": message, "details": details or {}, "code": code})
    response.status_code = status
    return response


def validation_details(exc: ValidationError) -> dict[str, Any]:
    """Turn a pydantic error into ``{"fields": {"a.b": "message"}}``."""
    fields: dict[str, str] = {}
    for err in exc.errors(include_url=False):
        loc = ".".join(str(part) for part in err["loc"]) or "body"
        fields.setdefault(loc, err["msg"])
    return {"fields": fields}


def validation_message(exc: ValidationError) -> str:
    """A one-line message naming the invalid fields."""
    details = validation_details(exc)["fields"]
    return "invalid request: " + "; ".join(f"{k}: {v}" for k, v in details.items())


_HTTP_CODES = {
    400: "BAD_REQUEST",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    411: "LENGTH_REQUIRED",
    413: "PAYLOAD_TOO_LARGE",
    414: "URI_TOO_LONG",
    415: "UNSUPPORTED_MEDIA_TYPE",
    416: "RANGE_NOT_SATISFIABLE",
    431: "REQUEST_HEADER_FIELDS_TOO_LARGE",
}


def init_app(app: Flask) -> None:
    """Register the JSON error handlers on the app (not a blueprint, so unmatched URLs see them)."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.message, exc.code, exc.details)

    @app.errorhandler(ValidationError)
    def _pydantic_error(exc: ValidationError) -> Response:
        return error_response(
            400, validation_message(exc), "VALIDATION_ERROR", validation_details(exc)
        )

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        if status >= 500:
            return _internal_error(exc)
        message = exc.description or exc.name
        details: dict[str, Any] = {}
        if status == 413 and request.max_content_length is not None:
            message = f"request body is larger than the {request.max_content_length}-byte limit"
            details = {"limit_bytes": request.max_content_length}
        response = error_response(
            status, message, _HTTP_CODES.get(status, exc.name.upper()), details
        )
        if status == 405 and exc.get_response().headers.get("Allow"):
            response.headers["Allow"] = exc.get_response().headers["Allow"]
        return response

    @app.errorhandler(BlobNotFound)
    def _blob_missing(exc: BlobNotFound) -> Response:
        return error_response(404, "blob not found", "NOT_FOUND")

    @app.errorhandler(StorageError)
    def _storage_error(exc: StorageError) -> Response:
        log.warning("storage error: %s", exc)
        if isinstance(exc, StorageUnavailable):
            return error_response(
                503, "storage is unavailable, try again later", "STORAGE_UNAVAILABLE"
            )
        return _internal_error(exc)

    @app.errorhandler(peewee.OperationalError)
    @app.errorhandler(peewee.InterfaceError)
    def _database_error(exc: Exception) -> Response:
        log.warning("database error: %s", exc)
        database = app.extensions.get("partsbin.database")
        if database is not None:
            try:
                database.close()
            except Exception:
                log.debug("closing a broken connection failed", exc_info=True)
        return error_response(
            503, "database is unavailable, try again later", "DATABASE_UNAVAILABLE"
        )

    @app.errorhandler(Exception)
    def _internal_error(exc: BaseException) -> Response:
        log.exception("unhandled error", exc_info=exc)
        return error_response(
            500,
            "internal server error",
            "INTERNAL_ERROR",
            {"request_id": getattr(g, "request_id", None)},
        )
