"""Pydantic field types for request schemas of the core and of plugins (re-exported by
:mod:`core.plugin_api`).

Text fields are stripped of surrounding whitespace (``StrictTextBody`` turns that on) and
optional text that is blank arrives as ``None``, so blank strings are never stored.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field

from core.api.schemas import MAX_ID, StrictBody


def blank_to_none(value: Any) -> Any:
    """``None`` for a string that is empty or only whitespace; any other value unchanged."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


class StrictTextBody(StrictBody):
    """A JSON body that refuses unknown fields and strips whitespace around every string."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


Text50 = Annotated[Annotated[str, Field(max_length=50)] | None, BeforeValidator(blank_to_none)]
Text100 = Annotated[Annotated[str, Field(max_length=100)] | None, BeforeValidator(blank_to_none)]
Text255 = Annotated[Annotated[str, Field(max_length=255)] | None, BeforeValidator(blank_to_none)]
Text500 = Annotated[Annotated[str, Field(max_length=500)] | None, BeforeValidator(blank_to_none)]
LongText = Annotated[
    Annotated[str, Field(max_length=10_000)] | None, BeforeValidator(blank_to_none)
]
#: An optional id in a query string (``?type_id=`` with nothing after it means "not given").
OptionalQueryId = Annotated[
    Annotated[int, Field(ge=1, le=MAX_ID)] | None, BeforeValidator(blank_to_none)
]
#: A positive id of a row (path parameters and body references).
RowId = Annotated[int, Field(ge=1, le=MAX_ID)]
