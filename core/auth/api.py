"""``/api/auth``: who am I, sign in, the provider's callback, sign out."""

from __future__ import annotations

from flask import Response, jsonify
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field

from core.auth import LOCAL_USER

blueprint = APIBlueprint(
    "auth",
    __name__,
    url_prefix="/api/auth",
    abp_tags=[Tag(name="auth", description="Signing in and the current user")],
)


class UserInfo(BaseModel):
    """The current user (``GET /api/auth/self``)."""

    subject: str = Field(description="User subject (the provider's `sub`, or `local`).")
    email: str | None = Field(description="User email address.")
    name: str | None = Field(description="User display name.")
    roles: list[str] = Field(description="User roles (`reader`, `editor`).")


@blueprint.get("/self", responses={200: UserInfo})
def auth_self() -> Response:
    """The current user; 401 when nobody is signed in."""
    return jsonify(LOCAL_USER.as_json())
