"""Sign-in sessions and sign-ins in progress, both in the database.

Why the database and not a signed, encrypted cookie: nothing to configure (no key to generate,
share between instances and rotate), a session ends for real at sign-out (the row is deleted, a
copied cookie is dead too), and every instance sees every session after a restart. The cookie
holds a 256-bit random secret; the table holds only its SHA-256, so reading the table does not
let anyone sign in. Refresh tokens are stored as issued (they need the client secret to use).
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask
from werkzeug.wrappers import Response

from core.auth import Principal
from core.auth import oidc as _oidc
from core.auth.models import AuthSession, LoginState, secret_hash
from core.config import Settings
from core.db import utcnow
from core.errors import ServiceUnavailable

log = logging.getLogger("partsbin.auth")

SESSION_COOKIE = "partsbin_session"
LOGIN_COOKIE = "partsbin_login"
#: How long a sign-in may take at the provider, from /login to /callback.
LOGIN_TIMEOUT = dt.timedelta(minutes=10)
#: Sign-ins in progress (``/login`` called, ``/callback`` not yet) allowed at once.
MAX_PENDING_LOGINS = 10_000
#: After a refresh failed because the provider could not be reached, wait this long to retry.
REFRESH_RETRY = dt.timedelta(minutes=1)

_UNREACHABLE: tuple[type[Exception], ...] = (ServiceUnavailable, *_oidc.PROVIDER_ERRORS)


@dataclass(frozen=True)
class PendingLogin:
    """What /callback needs to finish the sign-in /login started."""

    nonce: str
    code_verifier: str
    redirect_uri: str
    redirect_to: str


def save_login(state: str, login: PendingLogin) -> None:
    """Remember a sign-in in progress under its OAuth ``state`` (and forget stale ones).

    Anyone may start a sign-in, so at most :data:`MAX_PENDING_LOGINS` can be pending at once
    (503 beyond that, until the oldest expire): a flood of ``/login`` calls cannot fill the
    database.
    """
    now = utcnow()
    LoginState.delete().where(LoginState.expires_at <= now).execute()
    if LoginState.select().count() >= MAX_PENDING_LOGINS:
        raise ServiceUnavailable(
            "too many sign-ins are in progress, try again in a few minutes",
            code="TOO_MANY_SIGN_INS",
        )
    LoginState.create(
        state_hash=secret_hash(state),
        nonce=login.nonce,
        code_verifier=login.code_verifier,
        redirect_uri=login.redirect_uri,
        redirect_to=login.redirect_to,
        expires_at=now + LOGIN_TIMEOUT,
    )


def take_login(state: str) -> PendingLogin | None:
    """The sign-in started with ``state``, removed so it can be finished only once; ``None``
    when there is none or it has expired."""
    row = LoginState.get_or_none(LoginState.state_hash == secret_hash(state))
    if row is None:
        return None
    deleted = LoginState.delete().where(LoginState.id == row.id).execute()
    if not deleted or row.expires_at <= utcnow():
        return None  # finished by a concurrent callback, or too old
    return PendingLogin(row.nonce, row.code_verifier, row.redirect_uri, row.redirect_to)


def create_session(
    settings: Settings, identity: _oidc.Identity, token: Mapping[str, Any]
) -> tuple[str, AuthSession]:
    """Start a session for ``identity``; return the cookie secret (shown to nobody else)."""
    now = utcnow()
    AuthSession.delete().where(AuthSession.expires_at <= now).execute()
    secret = secrets.token_urlsafe(32)
    row = AuthSession.create(
        key_hash=secret_hash(secret),
        subject=identity.subject[:255],
        name=identity.name[:255] if identity.name else None,
        email=identity.email[:255] if identity.email else None,
        roles=" ".join(identity.roles),
        id_token=token.get("id_token"),
        refresh_token=token.get("refresh_token"),
        token_expires_at=_token_expiry(token, now),
        created_at=now,
        expires_at=now + dt.timedelta(seconds=settings.session_lifetime),
    )
    return secret, row


def find_session(secret: str) -> AuthSession | None:
    """The unexpired session whose cookie secret is ``secret``, or ``None``."""
    if not secret or len(secret) > 100:
        return None
    row = AuthSession.get_or_none(AuthSession.key_hash == secret_hash(secret))
    if row is None:
        return None
    if row.expires_at <= utcnow():
        end_session(row)
        return None
    return row


def end_session(row: AuthSession) -> None:
    """Delete a session (sign-out, expiry, refused refresh)."""
    AuthSession.delete().where(AuthSession.id == row.id).execute()


def authenticate_session(
    app: Flask, settings: Settings, secret: str
) -> tuple[Principal, bool] | None:
    """The principal of a session cookie, and whether the session was just extended (so the
    cookie should be sent again with a new lifetime); ``None`` for no valid session.

    When the provider's tokens have expired they are refreshed first. A refresh the provider
    refuses ends the session (``None``); a provider that cannot be reached leaves the session as
    it is until its own expiry. A refresh that succeeds extends the session by
    ``PARTSBIN_SESSION_LIFETIME`` and takes the roles the provider grants now.
    """
    row = find_session(secret)
    if row is None:
        return None
    now = utcnow()
    extended = False
    if row.refresh_token and row.token_expires_at is not None and row.token_expires_at <= now:
        before = row.expires_at
        row = _refresh(app, settings, row, now)
        if row is None:
            return None
        extended = row.expires_at != before
    principal = Principal(
        subject=row.subject,
        name=row.name,
        email=row.email,
        roles=tuple(row.roles.split()),
        via="session",
    )
    return principal, extended


def set_session_cookie(response: Response, secret: str, settings: Settings, secure: bool) -> None:
    """Send the session cookie: HttpOnly, SameSite=Lax, for the whole site, ``Secure`` over
    HTTPS, living as long as a session does."""
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=settings.session_lifetime,
        path="/",
        httponly=True,
        secure=secure,
        samesite="Lax",
    )


def _refresh(
    app: Flask, settings: Settings, row: AuthSession, now: dt.datetime
) -> AuthSession | None:
    client = _oidc.client_for(app, settings)
    try:
        token = _oidc.refresh(client, settings, str(row.refresh_token))
    except _oidc.OAuthError as exc:
        log.info("session refresh refused by the provider (%s): signing out", exc)
        end_session(row)
        return None
    except _UNREACHABLE as exc:
        # The provider is down or broken: keep the session (it still ends at its own expiry)
        # and try again later rather than on every request.
        log.warning("session refresh failed, keeping the session: %s", exc)
        retry_at = now + REFRESH_RETRY
        AuthSession.update(token_expires_at=retry_at).where(AuthSession.id == row.id).execute()
        row.token_expires_at = retry_at
        return row
    roles = row.roles
    id_token = row.id_token
    if token.get("id_token"):
        try:
            identity = _oidc.identity_from(client, settings, token, nonce=None)
        except _oidc.PROVIDER_ERRORS as exc:
            log.warning("refreshed ID token refused (%s): signing out", exc)
            end_session(row)
            return None
        if identity.subject != row.subject:
            end_session(row)
            return None
        roles = " ".join(identity.roles)
        id_token = token["id_token"]
    updates = {
        "roles": roles,
        "id_token": id_token,
        "refresh_token": token.get("refresh_token") or row.refresh_token,
        "token_expires_at": _token_expiry(token, now),
        "expires_at": now + dt.timedelta(seconds=settings.session_lifetime),
    }
    AuthSession.update(**updates).where(AuthSession.id == row.id).execute()
    return AuthSession.get_by_id(row.id)


def _token_expiry(token: Mapping[str, Any], now: dt.datetime) -> dt.datetime | None:
    expires_in = token.get("expires_in")
    if isinstance(expires_in, int | float) and expires_in > 0:
        return now + dt.timedelta(seconds=float(expires_in))
    return None
