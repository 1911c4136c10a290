"""Every request passes here first: who is calling, may they call this route, and is an unsafe
request from this site (CSRF).

:func:`init_app` installs it on an app: the trusted-proxy middleware, a ``before_request`` check,
the 401/403 error answers with ``WWW-Authenticate``, and ``x-required-role`` on every operation of
the OpenAPI document.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, request

from core.auth import LOCAL_USER, Principal
from core.auth.proxies import TrustedProxies
from core.auth.roles import route_role
from core.auth.sessions import SESSION_COOKIE, authenticate_session, set_session_cookie
from core.auth.tokens import authenticate_token
from core.errors import ApiError, error_response
from core.state import get_state

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REALM = "partsbin"
_CONVERTER = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")


class Unauthorized(ApiError):
    """401: no valid credentials. ``challenge_error`` goes into ``WWW-Authenticate``."""

    status, code = 401, "UNAUTHORIZED"
    challenge_error: str | None = None


class InvalidToken(Unauthorized):
    code = "INVALID_TOKEN"
    challenge_error = "invalid_token"


class Forbidden(ApiError):
    """403: signed in but without the role, or a cross-origin request with a cookie."""

    status, code = 403, "FORBIDDEN"


def init_app(app: Flask) -> None:
    """Install authentication, roles and the same-origin check on ``app``."""
    settings = get_state(app).settings
    if settings.trusted_proxies:
        app.wsgi_app = TrustedProxies(app.wsgi_app, settings.trusted_proxies)  # type: ignore[method-assign]
    app.before_request(_guard)

    @app.after_request
    def _renew_cookie(response: Response) -> Response:
        secret = g.get("partsbin_renewed_session")
        if secret:
            set_session_cookie(response, secret, get_state().settings, secure=request.is_secure)
        return response

    @app.errorhandler(Unauthorized)
    def _unauthorized(exc: Unauthorized) -> Response:
        response = error_response(exc.status, exc.message, exc.code, exc.details)
        challenge = f'Bearer realm="{REALM}"'
        if exc.challenge_error:
            challenge += f', error="{exc.challenge_error}"'
        response.headers["WWW-Authenticate"] = challenge
        if request.cookies.get(SESSION_COOKIE) and exc.code == "SESSION_INVALID":
            response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    generate = app.generate_spec_json  # type: ignore[attr-defined]

    def generate_with_roles() -> None:
        generate()
        annotate_spec(app, app.spec_json)  # type: ignore[attr-defined]

    app.generate_spec_json = generate_with_roles  # type: ignore[attr-defined]


def current_principal() -> Principal | None:
    """Who is calling (``None``: nobody signed in). Raises :class:`Unauthorized` for credentials
    that were presented but are not valid (unknown or expired token or session)."""
    if "partsbin_principal" in g:
        cached: Principal | None = g.partsbin_principal
        return cached
    principal = _authenticate()
    g.partsbin_principal = principal
    return principal


def required_principal(role: str | None) -> Principal | None:
    """The caller, checked to hold ``role`` (``None``: anyone, signed in or not).

    Raises :class:`Unauthorized` (nobody, or bad credentials) or :class:`Forbidden`.
    """
    if role is None:
        return None
    principal = current_principal()
    if principal is None:
        raise Unauthorized("sign in or send an API token (Authorization: Bearer ...)")
    if not principal.has_role(role):
        raise Forbidden(
            f"this needs the {role} role", {"required_role": role, "roles": list(principal.roles)}
        )
    return principal


def _authenticate() -> Principal | None:
    state = get_state()
    if state.settings.auth == "none":
        return LOCAL_USER
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise InvalidToken("the Authorization header must be `Bearer <token>`")
        g.partsbin_bearer = True
        principal = authenticate_token(value.strip())
        if principal is None:
            raise InvalidToken("the API token is unknown, revoked or expired")
        return principal
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        found = authenticate_session(current_app, state.settings, secret)
        if found is None:
            raise Unauthorized(
                "the session is unknown or has expired: sign in again", code="SESSION_INVALID"
            )
        principal, extended = found
        if extended:
            g.partsbin_renewed_session = secret
        return principal
    return None


def _guard() -> None:
    if request.url_rule is None:
        return  # 404 / 405: routing answers, nothing is served
    endpoint = request.endpoint
    view = current_app.view_functions.get(endpoint) if endpoint else None
    role = route_role(endpoint, view, request.method, cas_public=get_state().settings.cas_public)
    if role is not None:
        required_principal(role)
    if request.method not in SAFE_METHODS:
        check_same_origin()


def check_same_origin() -> None:
    """Refuse an unsafe request that a browser sent from another site (CSRF).

    Bearer-token requests are exempt (a browser never adds that header by itself). Otherwise a
    present ``Origin`` must be this server's origin, and without one ``Sec-Fetch-Site`` must be
    ``same-origin`` or ``none`` when present. Requests with neither header (scripts, curl) pass.
    """
    if g.get("partsbin_bearer") or request.headers.get("Authorization"):
        return
    origin = request.headers.get("Origin")
    if origin is not None:
        if not _same_origin(origin):
            raise Forbidden(
                "cross-origin request refused", {"origin": origin[:200]}, code="CROSS_ORIGIN"
            )
        return
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site.lower() not in ("same-origin", "none"):
        raise Forbidden(
            "cross-site request refused", {"sec_fetch_site": site[:50]}, code="CROSS_ORIGIN"
        )


def _same_origin(origin: str) -> bool:
    """Whether ``origin`` names this server's host (and port). The scheme is not compared: a
    TLS-terminating proxy that is not in ``PARTSBIN_TRUSTED_PROXIES`` makes requests look like
    plain HTTP, and the host is what an attacking site cannot fake."""
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    ours = urlsplit(f"//{request.host}")
    try:
        our_port = ours.port
    except ValueError:
        return False
    default = {"http": 80, "https": 443}
    their_port = port or default[parts.scheme]
    mine = our_port or default.get(request.scheme, 80)
    if parts.hostname.lower() != (ours.hostname or "").lower():
        return False
    # A default port on either side is as good as absent (Host: example.org vs :443 origins).
    return their_port == mine or (port is None and our_port is None)


def annotate_spec(app: Flask, spec: dict[str, Any]) -> None:
    """Add ``x-required-role`` (and ``security``) to every operation of ``spec`` that needs one,
    from the same rule the guard applies."""
    settings = get_state(app).settings
    paths = spec.get("paths", {})
    for rule in app.url_map.iter_rules():
        path = _CONVERTER.sub(r"{\1}", rule.rule)
        item = paths.get(path)
        if not item:
            continue
        view = app.view_functions.get(rule.endpoint)
        for method in rule.methods or ():
            operation = item.get(method.lower())
            if not isinstance(operation, dict):
                continue
            role = route_role(rule.endpoint, view, method, cas_public=settings.cas_public)
            if role is None:
                continue
            operation["x-required-role"] = role
            operation["security"] = [{"BearerAuth": []}, {"SessionCookie": []}]
    schemes = spec.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes["BearerAuth"] = {"type": "http", "scheme": "bearer"}
    schemes["SessionCookie"] = {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE}
