"""API errors and the JSON error envelope ``{"error", "details", "code"}``.

Services raise :class:`ApiError` subclasses; :func:`init_app` turns them, Werkzeug's HTTP errors,
storage and database failures into JSON responses with the right status. A 500 is only ever a bug
(or a misconfiguration) and its body never carries internals (the log has the traceback, at ERROR,
and the request id).

Database and storage errors are translated by cause (:func:`database_unavailable`): the database or
the storage being out of reach, busy or timing out is a 503 ``DATABASE_UNAVAILABLE`` /
``STORAGE_UNAVAILABLE`` (try again later, logged at WARNING); a schema that does not match the code
(a missing table or column), any other SQL error, and storage that refuses our credentials or has
no bucket are a 500 (someone must fix something; logged at ERROR with the traceback).
"""

from __future__ import annotations

import logging
from typing import Any

import peewee
from flask import Flask, Response, g, jsonify, request
from playhouse.pool import MaxConnectionsExceeded
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


#: SQLSTATE classes (two characters) and codes meaning "unavailable for now", not a bug: connection
#: exceptions, transaction rollbacks (serialization failure, deadlock), insufficient resources (too
#: many connections, disk full), operator intervention (statement timeout, admin shutdown,
#: starting up), system errors (I/O), and a lock not obtained in time.
_UNAVAILABLE_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57", "58"})
_UNAVAILABLE_SQLSTATES = frozenset({"55P03"})

#: SQLite result codes (``sqlite3.Error.sqlite_errorname``) meaning "unavailable for now".
_UNAVAILABLE_SQLITE_CODES = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_IOERR",
                             "SQLITE_FULL", "SQLITE_NOMEM", "SQLITE_PROTOCOL")
#: The same, by message, for errors that carry no result code.
_UNAVAILABLE_SQLITE_MESSAGES = ("database is locked", "database table is locked",
                                "unable to open database", "disk i/o error",
                                "database or disk is full")


def _driver_error(exc: BaseException) -> BaseException | None:
    """The driver's exception that peewee wrapped in ``exc`` (``orig``, first arg or cause)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        module = type(current).__module__.split(".")[0]
        if module in ("psycopg", "psycopg2", "sqlite3", "_sqlite3"):
            return current
        inner = getattr(current, "orig", None)
        if not isinstance(inner, BaseException) and current.args:
            inner = current.args[0] if isinstance(current.args[0], BaseException) else None
        current = inner or current.__cause__ or current.__context__
    return None


def database_unavailable(exc: BaseException) -> bool:
    """Whether a database error means "unavailable for now" (503) rather than a bug (500).

    Unavailable: the pool had no free connection in time; on PostgreSQL an error whose SQLSTATE
    is a connection, resource, operator-intervention (statement timeout), system or
    transaction-rollback (deadlock, serialization) one, or a lock timeout, and a psycopg
    ``OperationalError``/``InterfaceError`` without SQLSTATE (could not connect, connection
    closed); on SQLite a busy/locked database, one that cannot be opened, an I/O error or a full
    disk. Everything else is a bug: SQLSTATE class 42 (undefined table or column, syntax), "no
    such table/column", constraint violations that escaped a service, misuse of the API.
    """
    if isinstance(exc, MaxConnectionsExceeded):
        return True
    driver = _driver_error(exc)
    if driver is None:
        return False
    sqlstate = getattr(driver, "sqlstate", None) or getattr(driver, "pgcode", None)
    if sqlstate:
        return sqlstate[:2] in _UNAVAILABLE_SQLSTATE_CLASSES or sqlstate in _UNAVAILABLE_SQLSTATES
    module = type(driver).__module__.split(".")[0]
    if module.startswith("psycopg"):
        return type(driver).__name__ in ("OperationalError", "InterfaceError")
    name = getattr(driver, "sqlite_errorname", "") or ""
    if name.startswith(_UNAVAILABLE_SQLITE_CODES):
        return True
    message = str(driver).lower()
    return any(text in message for text in _UNAVAILABLE_SQLITE_MESSAGES)


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
        if isinstance(exc, StorageUnavailable):
            log.warning("storage error: %s", exc)
            return error_response(
                503, "storage is unavailable, try again later", "STORAGE_UNAVAILABLE"
            )
        return _internal_error(exc)  # misconfigured (credentials, bucket) or a bug: ERROR

    @app.errorhandler(peewee.PeeweeException)
    @app.errorhandler(MaxConnectionsExceeded)
    def _database_error(exc: Exception) -> Response:
        database = app.extensions.get("partsbin.database")
        if database is not None:  # a broken or aborted connection must not serve the next query
            try:
                database.close()
            except Exception:
                log.debug("closing a broken connection failed", exc_info=True)
        if not database_unavailable(exc):
            return _internal_error(exc)
        log.warning("database error: %s", exc)
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
