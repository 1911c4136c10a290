"""Pydantic schemas shared by the core's API (request and response shapes for OpenAPI)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic.json_schema import JsonDict

#: Largest id accepted in a path (PostgreSQL integer); larger ids are a 400, not a 500.
MAX_ID = 2**31 - 1


class ErrorBody(BaseModel):
    """The JSON error envelope every error response uses."""

    error: str
    details: dict[str, Any]
    code: str


class _MayBeAbsent:
    """Marks a field made by :func:`may_be_absent` (kept in the field's metadata)."""


_ABSENT_NOT_NULL = _MayBeAbsent()


class StrictBody(BaseModel):
    """Base of JSON request bodies: unknown fields are an error, and a :func:`may_be_absent`
    field sent as ``null`` is a 400 naming the field (whatever its annotation says)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_null_where_absent_is_meant(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if value is None and field is not None and _ABSENT_NOT_NULL in field.metadata:
            raise ValueError("may be left out (keeps the current value) but not null")
        return value


def error_responses(*statuses: int) -> dict[int | str, Any]:
    """``{status: ErrorBody}`` for each status, for route ``responses=``."""
    return dict.fromkeys(statuses, ErrorBody)


#: Documents a fetchable URL (the fetcher enforces it and explains any refusal).
HTTP_URL_SCHEMA: JsonDict = {"format": "uri", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://"}


def _absent() -> None:
    return None


def may_be_absent(**constraints: Any) -> Any:
    """A field of a :class:`StrictBody` that may be left out (then ``None``: "keep the current
    value") but that, when sent, must have its type: ``null`` is a 400 naming the field.

    Annotate it with the non-optional type (``name: Name = may_be_absent()``), so the OpenAPI
    document shows it as not nullable; pass only ``body.model_fields_set`` on to the service.
    ``constraints`` are :func:`pydantic.Field` arguments; types that carry their own
    constraints or ``json_schema_extra`` combine with it.
    """
    info = Field(default_factory=_absent, **constraints)
    info.metadata.append(_ABSENT_NOT_NULL)
    return info


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
