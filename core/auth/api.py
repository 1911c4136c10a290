"""``/api/auth``: who am I, sign in, the provider's callback, sign out.

``PARTSBIN_AUTH=none``: ``/self`` is the local user and login/logout just redirect. ``oidc``: the
authorization code flow with PKCE against the configured provider (see docs/auth.md).
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit, urlunsplit

from flask import current_app, jsonify, redirect, request, url_for
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field
from werkzeug.wrappers import Response

from core.api.schemas import QueryModel, error_responses
from core.auth import oidc
from core.auth.guard import Forbidden, Unauthorized, current_principal
from core.auth.roles import public
from core.auth.sessions import (
    LOGIN_COOKIE,
    LOGIN_TIMEOUT,
    SESSION_COOKIE,
    PendingLogin,
    create_session,
    end_session,
    find_session,
    save_login,
    set_session_cookie,
    take_login,
)
from core.errors import ValidationFailed
from core.state import get_state

blueprint = APIBlueprint(
    "auth",
    __name__,
    url_prefix="/api/auth",
    abp_tags=[Tag(name="auth", description="Signing in and the current user")],
)

MAX_REDIRECT_LENGTH = 2000


class UserInfo(BaseModel):
    """The current user (``GET /api/auth/self``)."""

    subject: str = Field(description="User subject (the provider's `sub`, or `local`).")
    email: str | None = Field(description="User email address.")
    name: str | None = Field(description="User display name.")
    roles: list[str] = Field(description="User roles (`reader`, `editor`).")


class LoginQuery(QueryModel):
    redirect: str = Field(
        max_length=MAX_REDIRECT_LENGTH,
        description="Where to go after signing in: a path or a URL of this server.",
    )


class LogoutQuery(QueryModel):
    redirect: str = Field(
        default="/",
        max_length=MAX_REDIRECT_LENGTH,
        description="Where to go after signing out: a path or a URL of this server.",
    )


@blueprint.get("/self", responses={200: UserInfo, **error_responses(401, 403)})
@public
def auth_self() -> Response:
    """The current user; 401 when nobody is signed in, 403 when signed in without any role."""
    principal = current_principal()
    if principal is None:
        raise Unauthorized("not signed in")
    if not principal.roles:
        raise Forbidden(
            "signed in, but the identity provider grants no Partsbin role", code="NO_ROLE"
        )
    response: Response = jsonify(principal.as_json())
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/login", responses={302: None, **error_responses(400, 503)})
@public
def auth_login(query: LoginQuery) -> Response:
    """Start signing in at the provider (302), then come back to ``redirect``."""
    target = same_origin_target(query.redirect)
    settings = get_state().settings
    if settings.auth == "none":
        return redirect(target)
    client = oidc.client_for(current_app._get_current_object(), settings)  # type: ignore[attr-defined]
    oidc.metadata(client, settings)
    callback = url_for("auth.auth_callback", _external=True)
    started = client.create_authorization_url(redirect_uri=callback)
    save_login(
        started["state"],
        PendingLogin(started["nonce"], started["code_verifier"], callback, target),
    )
    response = redirect(started["url"])
    response.headers["Cache-Control"] = "no-store"
    response.set_cookie(
        LOGIN_COOKIE,
        started["state"],
        max_age=int(LOGIN_TIMEOUT.total_seconds()),
        path=url_for("auth.auth_callback"),
        httponly=True,
        secure=request.is_secure,
        samesite="Lax",
    )
    return response


@blueprint.get("/callback", responses={302: None, **error_responses(400, 401, 503)})
@public
def auth_callback() -> Response:
    """Finish signing in: exchange the code, start a session (cookie), go where /login said."""
    settings = get_state().settings
    if settings.auth == "none":
        return redirect("/")
    error = request.args.get("error")
    if error:
        raise Unauthorized(
            "the identity provider refused the sign-in",
            {"error": error[:100], "description": request.args.get("error_description", "")[:300]},
            code="SIGN_IN_REFUSED",
        )
    state, code = request.args.get("state", ""), request.args.get("code", "")
    if not state or not code:
        raise ValidationFailed("the callback needs `code` and `state`", code="BAD_CALLBACK")
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), state.encode()):
        raise ValidationFailed(
            "this sign-in was not started in this browser; start again", code="LOGIN_STATE_MISMATCH"
        )
    pending = take_login(state)
    if pending is None:
        raise ValidationFailed(
            "this sign-in has expired or was finished; start again", code="LOGIN_EXPIRED"
        )
    client = oidc.client_for(current_app._get_current_object(), settings)  # type: ignore[attr-defined]
    oidc.metadata(client, settings)
    try:
        token = client.fetch_access_token(
            redirect_uri=pending.redirect_uri, code=code, code_verifier=pending.code_verifier
        )
        identity = oidc.identity_from(client, settings, token, nonce=pending.nonce)
    except oidc.PROVIDER_ERRORS as exc:
        oidc.log.warning("sign-in failed: %s", exc)
        raise Unauthorized(
            "the sign-in could not be completed with the identity provider", code="SIGN_IN_FAILED"
        ) from None
    secret, _row = create_session(settings, identity, token)
    response = redirect(pending.redirect_to)
    response.headers["Cache-Control"] = "no-store"
    response.delete_cookie(LOGIN_COOKIE, path=url_for("auth.auth_callback"))
    set_session_cookie(response, secret, settings, secure=request.is_secure)
    return response


@blueprint.get("/logout", responses={302: None, **error_responses(400)})
@public
def auth_logout(query: LogoutQuery) -> Response:
    """Sign out: end the session, then sign out at the provider when it offers
    RP-initiated logout, and come back to ``redirect``."""
    target = same_origin_target(query.redirect)
    settings = get_state().settings
    destination = target
    row = find_session(request.cookies.get(SESSION_COOKIE, ""))
    if row is not None:
        end_session(row)
    if settings.auth == "oidc" and row is not None:
        client = oidc.client_for(current_app._get_current_object(), settings)  # type: ignore[attr-defined]
        try:
            document = oidc.metadata(client, settings)
        except Exception:  # noqa: BLE001 - sign-out here must not fail because the IdP is down
            document = {}
        if document.get("end_session_endpoint"):
            destination = client.create_logout_url(
                post_logout_redirect_uri=request.host_url.rstrip("/") + target,
                id_token_hint=row.id_token,
                client_id=settings.oidc_client_id,
            )["url"]
    response = redirect(destination)
    response.headers["Cache-Control"] = "no-store"
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def same_origin_target(value: str) -> str:
    """``value`` as a path on this server (``/parts?x=1``); raises 400 for anything that could
    leave it: another host, a scheme-relative ``//host``, backslashes, control characters."""
    refused = ValidationFailed(
        "redirect must be a path or a URL of this server",
        {"redirect": value[:200]},
        code="REDIRECT_NOT_ALLOWED",
    )
    if not value or "\\" in value or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise refused
    try:
        parts = urlsplit(value)
    except ValueError:
        raise refused from None
    if parts.scheme or parts.netloc:
        if parts.scheme not in ("http", "https") or parts.netloc.lower() != request.host.lower():
            raise refused
    path = parts.path or "/"
    if not path.startswith("/") or path.startswith("//"):
        raise refused
    return urlunsplit(("", "", path, parts.query, parts.fragment))
