"""Pydantic field types for request schemas of the core and of plugins (re-exported by
:mod:`core.plugin_api`).

Text fields are stripped of surrounding whitespace (``StrictTextBody`` turns that on) and
optional text that is blank arrives as ``None``, so blank strings are never stored. Every text
type follows the control-character rule of :mod:`core.api.schemas` (single-line text refuses
C0 controls and DEL; multi-line text allows tab, LF and CR), checked before stripping.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field

from core.api.schemas import (
    MAX_ID,
    MultiLine,
    SingleLine,
    StrictBody,
    check_multi_line,
    check_single_line,
)


def blank_to_none(value: Any) -> Any:
    """``None`` for a string that is empty or only whitespace; any other value unchanged."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


class StrictTextBody(StrictBody):
    """A JSON body that refuses unknown fields and strips whitespace around every string."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# Before-validators run last-listed first: the control-character check sees the text as sent,
# then blank text becomes None.
Text50 = Annotated[
    Annotated[SingleLine, Field(max_length=50)] | None,
    BeforeValidator(blank_to_none),
    BeforeValidator(check_single_line),
]
Text100 = Annotated[
    Annotated[SingleLine, Field(max_length=100)] | None,
    BeforeValidator(blank_to_none),
    BeforeValidator(check_single_line),
]
Text255 = Annotated[
    Annotated[SingleLine, Field(max_length=255)] | None,
    BeforeValidator(blank_to_none),
    BeforeValidator(check_single_line),
]
Text500 = Annotated[
    Annotated[SingleLine, Field(max_length=500)] | None,
    BeforeValidator(blank_to_none),
    BeforeValidator(check_single_line),
]
LongText = Annotated[
    Annotated[MultiLine, Field(max_length=10_000)] | None,
    BeforeValidator(blank_to_none),
    BeforeValidator(check_multi_line),
]
#: An optional id in a query string (``?type_id=`` with nothing after it means "not given").
OptionalQueryId = Annotated[
    Annotated[int, Field(ge=1, le=MAX_ID)] | None, BeforeValidator(blank_to_none)
]
#: A positive id of a row (path parameters and body references).
RowId = Annotated[int, Field(ge=1, le=MAX_ID)]
