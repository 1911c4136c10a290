"""Settings: defaults, then ``PARTSBIN_*`` environment variables, then explicit overrides.

Every setting is documented in README.md ("Configuration"); a test checks that the table and this
class agree. A bad value fails at start-up with a message naming the variable.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

ENV_PREFIX = "PARTSBIN_"
DEFAULT_DATA_DIR = Path("data")

DEFAULT_ALLOWED_TYPES = (
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/gif",
    "image/svg+xml",
    "application/pdf",
)


class ConfigError(Exception):
    """A setting has a bad value. The message names the environment variable."""


class Settings(BaseSettings):
    """Every runtime setting of a Partsbin instance (environment variable ``PARTSBIN_<NAME>``)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    database_url: str = Field(
        default=f"sqlite:///{(DEFAULT_DATA_DIR / 'partsbin.db').absolute()}",
        description="Peewee database URL: sqlite:///path or postgresql://user:pw@host:port/db.",
    )
    storage_url: str = Field(
        default=f"file://{(DEFAULT_DATA_DIR / 'blobs').absolute()}",
        description="Blob store URL: file:///abs/path, s3://bucket?..., minio://host:port/bucket?...",
    )
    host: str = Field(default="127.0.0.1", description="Address `partsbin serve` binds to.")
    port: int = Field(default=5000, ge=1, le=65535, description="Port `partsbin serve` binds to.")
    workers: int = Field(default=2, ge=1, le=64, description="gunicorn worker processes.")
    threads: int = Field(default=4, ge=1, le=256, description="Threads per gunicorn worker.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Log level of the structured JSON logs on stderr."
    )
    max_image_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1, description="Largest accepted image upload, in bytes."
    )
    max_file_bytes: int = Field(
        default=100 * 1024 * 1024, ge=1, description="Largest accepted non-image upload, in bytes."
    )
    allowed_types: Annotated[tuple[str, ...], NoDecode] = Field(
        default=DEFAULT_ALLOWED_TYPES,
        description="Comma-separated content types accepted for uploads (detected from content).",
    )
    url_fetch_allow: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Comma-separated CIDR networks URL attachments may fetch from despite being "
        "private/loopback (e.g. 127.0.0.1/32 for a local test server).",
    )
    url_fetch_timeout: float = Field(
        default=10.0, gt=0, le=120, description="Connect and read timeout for URL fetches, seconds."
    )
    cas_redirect: Literal["none", "presigned"] = Field(
        default="none",
        description="`presigned`: GET /api/cas answers 302 to a presigned S3/MinIO URL.",
    )
    cache_dir: str = Field(
        default=str((DEFAULT_DATA_DIR / "cache").absolute()),
        description="Folder of the local read-through cache of blobs and thumbnails in front of "
        "S3/MinIO (shared by the workers of one machine).",
    )
    cache_max_bytes: int = Field(
        default=1024 * 1024 * 1024,
        ge=0,
        description="Size limit of the read-through cache, bytes (0: no cache).",
    )
    thumbnail_max_pixels: int = Field(
        default=50_000_000, ge=1, description="Images with more pixels are refused as bombs."
    )
    thumbnail_prerender: Annotated[tuple[int, ...], NoDecode] = Field(
        default=(150, 300, 500),
        description="Comma-separated thumbnail sizes (px) made together from one decode: in the "
        "background after an image or PDF upload, and when one of them is first asked for "
        "(the web UI asks for 150, 300 and 500); empty: none, each size is rendered alone "
        "when asked for.",
    )
    render_timeout: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="Wall-clock (and CPU) seconds a sandboxed PDF render or check may take.",
    )
    render_max_memory: int = Field(
        default=1024 * 1024 * 1024,
        ge=256 * 1024 * 1024,
        description="Address-space limit of a sandboxed PDF render or check, in bytes.",
    )
    render_concurrency: int = Field(
        default=2, ge=1, le=64, description="Sandboxed PDF renders running at once per worker."
    )
    db_pool_size: int = Field(
        default=8,
        ge=0,
        le=1000,
        description="PostgreSQL: connections each worker keeps open (0: one per request).",
    )
    disable_plugins: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Comma-separated names of installed plugins not to load (e.g. `kits`).",
    )
    db_timeout: float = Field(
        default=5.0, gt=0, le=60, description="Database connect / lock wait timeout, seconds."
    )
    auth: Literal["none", "oidc"] = Field(
        default="none",
        description="`none`: everyone is the local user with every role (loopback only unless "
        "set explicitly); `oidc`: sign in through an OpenID Connect provider, API tokens.",
    )
    ui_dir: Path | None = Field(
        default=None,
        description="A built web UI (folder with index.html) to serve at / (SPA fallback).",
    )
    testing: bool = Field(
        default=False,
        description="Serve /api/testing/* for browser tests; refused on a non-loopback address.",
    )
    sse_heartbeat: float = Field(
        default=15.0, gt=0, le=300, description="Seconds between heartbeats on event streams."
    )
    drain_key: str | None = Field(
        default=None,
        min_length=16,
        description="Bearer token for GET /health/drain (unset: draining over HTTP is off).",
    )
    oidc_issuer: str | None = Field(
        default=None,
        description="OIDC: the provider's issuer URL (discovery: <issuer>/.well-known/"
        "openid-configuration).",
    )
    oidc_client_id: str | None = Field(default=None, description="OIDC: the client id.")
    oidc_client_secret: SecretStr | None = Field(
        default=None, description="OIDC: the client secret (unset: a public client, PKCE only)."
    )
    oidc_scopes: str = Field(
        default="openid profile email", description="OIDC: space-separated scopes to request."
    )
    oidc_roles_claim: str = Field(
        default="roles",
        description="OIDC: the claim holding the user's roles; dots walk into objects "
        "(`realm_access.roles`).",
    )
    oidc_role_map: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="OIDC: comma-separated `provider-role=reader|editor` pairs; unset: the "
        "provider's `reader` and `editor` roles count as themselves.",
    )
    session_lifetime: int = Field(
        default=86400,
        ge=60,
        le=90 * 86400,
        description="Seconds a sign-in session lasts; a successful token refresh extends it.",
    )
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Comma-separated CIDR networks of reverse proxies whose X-Forwarded-Proto "
        "and X-Forwarded-Host are believed.",
    )
    cas_public: bool = Field(
        default=False,
        description="`true`: GET /api/cas/<sha256> needs no sign-in (content URLs are public).",
    )

    @field_validator(
        "allowed_types", "url_fetch_allow", "disable_plugins", "trusted_proxies", mode="before"
    )
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("thumbnail_prerender", mode="before")
    @classmethod
    def _split_sizes(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("thumbnail_prerender")
    @classmethod
    def _thumbnail_sizes(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        for size in value:
            if not 1 <= size <= 1000:
                raise ValueError(f"thumbnail size {size} is not within 1..1000")
        return tuple(sorted(set(value)))

    @field_validator("oidc_role_map", mode="before")
    @classmethod
    def _split_pairs(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        pairs: dict[str, str] = {}
        for item in value.split(","):
            if not item.strip():
                continue
            provider_role, sep, role = item.rpartition("=")
            if not sep or not provider_role.strip():
                raise ValueError(f"{item.strip()!r} is not `provider-role=reader|editor`")
            pairs[provider_role.strip()] = role.strip()
        return pairs

    @field_validator("oidc_role_map")
    @classmethod
    def _known_roles(cls, value: dict[str, str]) -> dict[str, str]:
        for provider_role, role in value.items():
            if role not in ("reader", "editor"):
                raise ValueError(f"{provider_role!r} maps to {role!r}: use reader or editor")
        return value

    @model_validator(mode="after")
    def _oidc_complete(self) -> Settings:
        if self.auth == "oidc":
            missing = [
                f"{ENV_PREFIX}{name.upper()}"
                for name in ("oidc_issuer", "oidc_client_id")
                if not getattr(self, name)
            ]
            if missing:
                raise ValueError(f"PARTSBIN_AUTH=oidc needs {' and '.join(missing)}")
        return self

    @field_validator("url_fetch_allow", "trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as exc:
                raise ValueError(f"{entry!r} is not an IP network (CIDR): {exc}") from None
        return value

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, *args, **kw):
        # Explicit overrides win over the environment; no .env files, no secrets dirs.
        return (init_settings, env_settings)

    @property
    def log_level_number(self) -> int:
        """The log level as a :mod:`logging` number."""
        return int(logging.getLevelName(self.log_level))


def load_settings(overrides: Mapping[str, Any] | Settings | None = None) -> Settings:
    """Build settings from the environment and ``overrides`` (lower-case field names).

    Raises :class:`ConfigError` naming the offending ``PARTSBIN_*`` variable.
    """
    if isinstance(overrides, Settings):
        return overrides
    try:
        return Settings(**dict(overrides or {}))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            if not err["loc"]:  # a check across settings names them in its message
                problems.append(str(err["msg"]).removeprefix("Value error, "))
                continue
            problems.append(f"{ENV_PREFIX}{str(err['loc'][0]).upper()}: {err['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
    except SettingsError as exc:
        raise ConfigError(f"invalid configuration: {exc}") from None
