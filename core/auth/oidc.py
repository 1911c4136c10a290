"""The OpenID Connect relying party, built on authlib (discovery, PKCE, ID token checks).

One :class:`OidcClient` per app caches the provider's discovery document and keys; everything
about a user's sign-in lives in the database (:mod:`core.auth.sessions`), so any instance can
finish a sign-in another one started.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from authlib.integrations.base_client import BaseApp, OAuth2Mixin, OAuthError, OpenIDMixin
from authlib.integrations.requests_client import OAuth2Session
from flask import Flask
from joserfc.errors import JoseError

from core.auth import ROLES, implied_roles
from core.config import Settings
from core.errors import ServiceUnavailable

log = logging.getLogger("partsbin.auth")

#: Timeout of every call to the provider, seconds.
PROVIDER_TIMEOUT = 10.0
#: Clock skew tolerated when checking ID token times, seconds.
LEEWAY = 60

_EXTENSION = "partsbin.oidc"

#: What a failed exchange with the provider raises (besides HTTP errors).
PROVIDER_ERRORS: tuple[type[Exception], ...] = (
    OAuthError,
    JoseError,
    requests.RequestException,
    ValueError,
    KeyError,
    RuntimeError,
)


class _NoFramework:
    """authlib's framework hook: tokens are stored by :mod:`core.auth.sessions`, not here."""

    def update_token(self, *_args: Any, **_kwargs: Any) -> None:
        return None


class OidcClient(OAuth2Mixin, OpenIDMixin, BaseApp):
    """authlib's OAuth 2 / OpenID client over ``requests`` (what its Flask client is, minus
    the Flask session: our state is in the database)."""

    client_cls = OAuth2Session


@dataclass(frozen=True)
class Identity:
    """Who signed in, from the ID token (and userinfo where the token lacks something)."""

    subject: str
    name: str | None
    email: str | None
    roles: tuple[str, ...]


def client_for(app: Flask, settings: Settings) -> OidcClient:
    """The app's OIDC client (created on first use; discovery happens on first request)."""
    client = app.extensions.get(_EXTENSION)
    if client is None:
        issuer = (settings.oidc_issuer or "").rstrip("/")
        client = OidcClient(
            _NoFramework(),
            name="partsbin",
            client_id=settings.oidc_client_id,
            client_secret=client_secret(settings),
            server_metadata_url=f"{issuer}/.well-known/openid-configuration",
            client_kwargs={
                "scope": settings.oidc_scopes,
                "code_challenge_method": "S256",
                "default_timeout": PROVIDER_TIMEOUT,
                "token_endpoint_auth_method": (
                    "client_secret_basic" if settings.oidc_client_secret else "none"
                ),
            },
        )
        app.extensions[_EXTENSION] = client
    return client


def client_secret(settings: Settings) -> str | None:
    """The configured client secret, in clear (it is a ``SecretStr`` everywhere else)."""
    secret = settings.oidc_client_secret
    return secret.get_secret_value() if secret is not None else None


def metadata(client: OidcClient, settings: Settings) -> Mapping[str, Any]:
    """The provider's discovery document; raises 503 when the provider cannot be reached or its
    issuer is not the configured one."""
    try:
        document = client.load_server_metadata()
    except PROVIDER_ERRORS as exc:
        log.warning("OIDC discovery failed: %s", exc)
        raise ServiceUnavailable(
            "the identity provider cannot be reached, try again later", code="IDP_UNAVAILABLE"
        ) from None
    expected = (settings.oidc_issuer or "").rstrip("/")
    if str(document.get("issuer", "")).rstrip("/") != expected:
        client.server_metadata.pop("_loaded_at", None)
        log.error("OIDC issuer mismatch: discovery says %r", document.get("issuer"))
        raise ServiceUnavailable(
            "the identity provider's issuer does not match PARTSBIN_OIDC_ISSUER",
            code="IDP_MISCONFIGURED",
        )
    return document


def identity_from(
    client: OidcClient, settings: Settings, token: Mapping[str, Any], nonce: str | None
) -> Identity:
    """Validate ``token``'s ID token (signature, issuer, audience, expiry, ``nonce``) and read the
    user from it, asking the userinfo endpoint for what it lacks. Raises one of
    :data:`PROVIDER_ERRORS` when the token is not valid."""
    claims = client.parse_id_token(dict(token), nonce=nonce, leeway=LEEWAY)
    if claims is None:
        raise ValueError("the provider answered without an ID token")
    merged: dict[str, Any] = dict(claims)
    wanted = ("name", "email", settings.oidc_roles_claim.split(".")[0])
    userinfo_endpoint = client.load_server_metadata().get("userinfo_endpoint")
    if userinfo_endpoint and any(key not in merged for key in wanted):
        info = client.userinfo(token=dict(token))
        if info.get("sub") == merged["sub"]:
            for key, value in info.items():
                merged.setdefault(key, value)
    name = merged.get("name") or merged.get("preferred_username")
    return Identity(
        subject=str(merged["sub"]),
        name=str(name) if name else None,
        email=str(merged["email"]) if merged.get("email") else None,
        roles=map_roles(claim_value(merged, settings.oidc_roles_claim), settings.oidc_role_map),
    )


def claim_value(claims: Mapping[str, Any], path: str) -> Any:
    """The claim at dotted ``path`` (``realm_access.roles``), or ``None``."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def map_roles(value: Any, role_map: Mapping[str, str]) -> tuple[str, ...]:
    """Partsbin roles from a roles claim (a list, or a space/comma-separated string).

    With an empty ``role_map`` the provider's ``reader`` and ``editor`` count as themselves;
    a role implies the ones below it. Unknown provider roles are ignored.
    """
    if isinstance(value, str):
        names = value.replace(",", " ").split()
    elif isinstance(value, list | tuple):
        names = [str(item) for item in value]
    else:
        names = []
    mapping = dict(role_map) or {role: role for role in ROLES}
    granted: set[str] = set()
    for name in names:
        if name in mapping:
            granted.update(implied_roles(mapping[name]))
    return tuple(role for role in ROLES if role in granted)


def refresh(client: OidcClient, settings: Settings, refresh_token: str) -> dict[str, Any]:
    """Exchange a refresh token for new tokens; raises one of :data:`PROVIDER_ERRORS`."""
    document = metadata(client, settings)
    session = OAuth2Session(
        client_id=settings.oidc_client_id,
        client_secret=client_secret(settings),
        token_endpoint_auth_method=(
            "client_secret_basic" if settings.oidc_client_secret else "none"
        ),
        default_timeout=PROVIDER_TIMEOUT,
    )
    with session:
        return dict(session.refresh_token(document["token_endpoint"], refresh_token=refresh_token))
