"""Pydantic schemas shared by the core's API (request and response shapes for OpenAPI)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

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


Id = Field(ge=1, le=MAX_ID)
