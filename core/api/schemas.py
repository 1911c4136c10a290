"""Pydantic schemas shared by the core's API (request and response shapes for OpenAPI)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import JsonDict

#: Largest id accepted in a path (PostgreSQL integer); larger ids are a 400, not a 500.
MAX_ID = 2**31 - 1


class ErrorBody(BaseModel):
    """The JSON error envelope every error response uses."""

    error: str
    details: dict[str, Any]
    code: str


class StrictBody(BaseModel):
    """Base of JSON request bodies: unknown fields are an error."""

    model_config = ConfigDict(extra="forbid")


def error_responses(*statuses: int) -> dict[int | str, Any]:
    """``{status: ErrorBody}`` for each status, for route ``responses=``."""
    return dict.fromkeys(statuses, ErrorBody)


#: Documents a fetchable URL (the fetcher enforces it and explains any refusal).
HTTP_URL_SCHEMA: JsonDict = {"format": "uri", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://"}


def _without_default(schema: JsonDict) -> None:
    schema.pop("default", None)


def may_be_absent(**constraints: Any) -> Any:
    """A body field that may be left out (then ``None``: "keep the current value") but that,
    when sent, must have its type: ``null`` is a 400 naming the field, and the OpenAPI document
    shows the field as not nullable."""
    return Field(default=None, json_schema_extra=_without_default, **constraints)


class QueryModel(BaseModel):
    """Base of query-string models: the JSON schema is built once per set of arguments.

    flask-openapi3 4.x calls ``model_json_schema()`` of a route's query model on *every* request
    (to find list-valued fields), which costs more than a whole 304. Each caller gets a fresh
    copy (decoded from cached JSON), so nothing can alter the cached schema.
    """

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        key = (cls, args, tuple(sorted(kwargs.items())))
        encoded = _SCHEMAS.get(key)
        if encoded is None:
            encoded = _SCHEMAS[key] = json.dumps(super().model_json_schema(*args, **kwargs))
        schema: dict[str, Any] = json.loads(encoded)
        return schema


_SCHEMAS: dict[tuple[Any, ...], str] = {}
