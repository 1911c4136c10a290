"""The auth tables (created by migrations/002_auth.py). Secrets are stored as SHA-256 hex only."""

from __future__ import annotations

import hashlib

import peewee

from core.db import BaseModel, utcnow


def secret_hash(secret: str) -> str:
    """The SHA-256 (hex) under which a token or session secret is stored.

    The secrets are 256-bit random values, so a plain hash is enough: there is nothing to guess,
    and a leaked table does not let anyone sign in.
    """
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class ApiToken(BaseModel):
    """An API token for scripts and CI (``partsbin tokens``)."""

    id = peewee.AutoField()

    name = peewee.CharField(max_length=100, unique=True)
    token_hash = peewee.CharField(max_length=64, unique=True)
    role = peewee.CharField(max_length=20)
    created_at = peewee.DateTimeField(default=utcnow)
    last_used_at = peewee.DateTimeField(null=True)
    expires_at = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "auth_tokens"


class AuthSession(BaseModel):
    """A signed-in browser session; the cookie holds the secret whose hash is ``key_hash``."""

    id = peewee.AutoField()

    key_hash = peewee.CharField(max_length=64, unique=True)
    subject = peewee.CharField(max_length=255)
    name = peewee.CharField(max_length=255, null=True)
    email = peewee.CharField(max_length=255, null=True)
    roles = peewee.CharField(max_length=255)  # space-separated Partsbin roles
    id_token = peewee.TextField(null=True)
    refresh_token = peewee.TextField(null=True)
    token_expires_at = peewee.DateTimeField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    expires_at = peewee.DateTimeField()

    class Meta:
        table_name = "auth_sessions"


class LoginState(BaseModel):
    """A sign-in in progress: what the callback needs to finish it (used once, short-lived)."""

    id = peewee.AutoField()

    state_hash = peewee.CharField(max_length=64, unique=True)
    nonce = peewee.CharField(max_length=255)
    code_verifier = peewee.CharField(max_length=255)
    redirect_uri = peewee.CharField(max_length=2000)
    redirect_to = peewee.CharField(max_length=2000)
    expires_at = peewee.DateTimeField()

    class Meta:
        table_name = "auth_login_states"
