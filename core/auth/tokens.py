"""API tokens: created by ``partsbin tokens create``, shown once, stored as their SHA-256.

A token is ``pbt_`` followed by 43 URL-safe characters (256 random bits). Requests present it as
``Authorization: Bearer <token>``; it is checked whenever ``PARTSBIN_AUTH`` is not ``none``.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
import secrets
from dataclasses import dataclass

import peewee

from core.auth import ROLES, Principal, implied_roles
from core.auth.models import ApiToken, secret_hash
from core.db import utcnow

TOKEN_PREFIX = "pbt_"  # noqa: S105 - a visible prefix, not a secret
_TOKEN_SHAPE = re.compile(r"^pbt_[A-Za-z0-9_\-]{43}$")
_NAME_SHAPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,99}$")
_DURATION = re.compile(r"^(\d{1,5})([hdw])$")

#: ``last_used_at`` is written at most this often per token (not on every request).
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


class TokenError(ValueError):
    """A token could not be created or revoked; the message says why."""


@dataclass(frozen=True)
class CreatedToken:
    """A new token: its row and the secret, which is never shown again."""

    row: ApiToken
    secret: str


def parse_duration(text: str) -> dt.timedelta:
    """``90d``, ``12h`` or ``2w`` as a timedelta; raises :class:`TokenError` otherwise."""
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise TokenError(f"{text!r} is not a duration like 90d, 12h or 2w")
    amount, unit = int(match.group(1)), match.group(2)
    return {"h": dt.timedelta(hours=amount), "d": dt.timedelta(days=amount)}.get(
        unit, dt.timedelta(weeks=amount)
    )


def create_token(name: str, role: str, expires_in: dt.timedelta | None = None) -> CreatedToken:
    """Create token ``name`` with ``role``; raises :class:`TokenError` for a bad or taken name."""
    if not _NAME_SHAPE.match(name):
        raise TokenError(
            f"{name!r} is not a token name (letters, digits, '.', '_', '-'; up to 100)"
        )
    if role not in ROLES:
        raise TokenError(f"{role!r} is not a role (use {' or '.join(ROLES)})")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    try:
        row = ApiToken.create(
            name=name,
            token_hash=secret_hash(secret),
            role=role,
            created_at=now,
            expires_at=now + expires_in if expires_in else None,
        )
    except peewee.IntegrityError:
        raise TokenError(f"a token named {name!r} exists (revoke it first)") from None
    return CreatedToken(row=row, secret=secret)


def list_tokens() -> list[ApiToken]:
    """Every token, oldest first."""
    return list(ApiToken.select().order_by(ApiToken.created_at, ApiToken.id))


def revoke_token(name: str) -> bool:
    """Delete token ``name``; whether it existed. Requests with it are 401 from then on."""
    return bool(ApiToken.delete().where(ApiToken.name == name).execute())


def authenticate_token(secret: str) -> Principal | None:
    """The principal of a presented token, or ``None`` if it is unknown, revoked or expired."""
    if not _TOKEN_SHAPE.match(secret):
        return None
    digest = secret_hash(secret)
    row = ApiToken.get_or_none(ApiToken.token_hash == digest)
    # The lookup is by hash, so timing says nothing about the secret; compare anyway.
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    now = utcnow()
    if row.expires_at is not None and row.expires_at <= now:
        return None
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.update(last_used_at=now).where(ApiToken.id == row.id).execute()
    return Principal(
        subject=f"token:{row.name}",
        name=row.name,
        email=None,
        roles=tuple(implied_roles(row.role)),
        via="token",
    )
