"""Pydantic schemas shared by the core's API (request and response shapes for OpenAPI)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    ValidationInfo,
    field_validator,
)
from pydantic.json_schema import JsonDict, JsonSchemaValue
from pydantic_core import CoreSchema

#: Largest id accepted in a path (PostgreSQL integer); larger ids are a 400, not a 500.
MAX_ID = 2**31 - 1


def _no_bool_or_text(value: Any) -> Any:
    # JSON Schema's integer includes 7.0, but never true or "7" (pydantic would take both).
    if isinstance(value, (bool, str)):
        raise ValueError(
            f"must be an integer, not {'a boolean' if isinstance(value, bool) else 'text'}"
        )
    return value


#: An id in a JSON body: an integer from 1 to MAX_ID (``true`` or ``"7"`` is not an id).
BodyId = Annotated[int, Field(ge=1, le=MAX_ID), BeforeValidator(_no_bool_or_text)]
#: Metadata for a whole number in a JSON body: ``3`` or ``3.0`` (JSON Schema's integer), never
#: ``true`` or ``"3"``. Put it after the bounds so they show in the OpenAPI document:
#: ``Qty = Annotated[int, Field(ge=1, le=1000), WholeNumber]``.
WholeNumber = BeforeValidator(_no_bool_or_text)


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


# --- text -----------------------------------------------------------------------------------
# One rule for every text a client sends (JSON bodies, form fields, file names, query strings):
# - single-line text (names, titles, file names, codes, queries) refuses every C0 control
#   character (U+0000-U+001F, so tab and newlines too) and DEL (U+007F);
# - multi-line text (descriptions, notes) allows tab, LF and CR and refuses the other C0
#   controls and DEL.
# U+0000 is therefore always refused (PostgreSQL cannot store it). The check runs on the text as
# sent, before any whitespace is stripped, and a refusal is a 400 ``VALIDATION_ERROR`` naming the
# field. Text that is not the client's own (titles fetched from web pages) is cleaned with
# :func:`strip_control_characters` instead. The OpenAPI document carries the same rule as a
# ``pattern`` (Python ``re`` syntax; ``\s`` is what ``str.strip()`` removes).

SINGLE_LINE_FORBIDDEN = r"\x00-\x1f\x7f"
MULTI_LINE_FORBIDDEN = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
_SINGLE_LINE_RE = re.compile(f"[{SINGLE_LINE_FORBIDDEN}]")
_MULTI_LINE_RE = re.compile(f"[{MULTI_LINE_FORBIDDEN}]")


def _refuse(found: re.Match[str] | None, rule: str) -> None:
    if found:
        raise ValueError(f"must not contain control character U+{ord(found.group()):04X} ({rule})")


def check_single_line(value: Any) -> Any:
    """``value`` unchanged; raises ``ValueError`` if it is a string holding a C0 control character
    or DEL. Anything that is not a string passes (type validation judges it)."""
    if isinstance(value, str):
        _refuse(_SINGLE_LINE_RE.search(value), "single-line text refuses U+0000-U+001F and U+007F")
    return value


def check_multi_line(value: Any) -> Any:
    """Like :func:`check_single_line`, but tab, LF and CR are allowed."""
    if isinstance(value, str):
        _refuse(
            _MULTI_LINE_RE.search(value),
            "text refuses U+0000-U+001F except tab, LF and CR, and U+007F",
        )
    return value


def _check_not_blank(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        raise ValueError("must not be blank")
    return value


def strip_control_characters(value: str) -> str:
    """``value`` without C0 control characters and DEL (runs of them and of whitespace become one
    space), for text that is not the client's own, such as a fetched page's title."""
    if not _SINGLE_LINE_RE.search(value):
        return value
    return " ".join(_SINGLE_LINE_RE.sub(" ", value).split())


@dataclass(frozen=True)
class TextPattern:
    """Annotated metadata that puts ``pattern`` into a string's JSON schema (documentation only:
    the validators above enforce the rule with a clearer message)."""

    pattern: str

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema["pattern"] = self.pattern
        return schema


def _pattern(forbidden: str, required: bool) -> TextPattern:
    allowed = f"[^{forbidden}]"
    if required:
        return TextPattern(f"^{allowed}*[^\\s{forbidden}]{allowed}*$")
    return TextPattern(f"^{allowed}*$")


#: Single-line text (add ``Field(max_length=...)``); the ``Required`` variants must not be blank.
SingleLine = Annotated[
    str, BeforeValidator(check_single_line), _pattern(SINGLE_LINE_FORBIDDEN, required=False)
]
SingleLineRequired = Annotated[
    str,
    BeforeValidator(_check_not_blank),
    BeforeValidator(check_single_line),
    _pattern(SINGLE_LINE_FORBIDDEN, required=True),
]
#: Multi-line text (tab, LF and CR allowed).
MultiLine = Annotated[
    str, BeforeValidator(check_multi_line), _pattern(MULTI_LINE_FORBIDDEN, required=False)
]
MultiLineRequired = Annotated[
    str,
    BeforeValidator(_check_not_blank),
    BeforeValidator(check_multi_line),
    _pattern(MULTI_LINE_FORBIDDEN, required=True),
]
