"""The safe default: without authentication, serve only on loopback unless told otherwise."""

from __future__ import annotations

import ipaddress

from core.config import Settings


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server reachable from this machine only."""
    name = host.strip().strip("[]")
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.split("%")[0]).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def unsafe_bind_refusal(settings: Settings, host: str) -> str | None:
    """Why ``partsbin serve`` must not bind ``host`` with these settings, or ``None``.

    ``PARTSBIN_AUTH`` defaults to ``none``; that default is only good for loopback. Binding
    another address needs ``PARTSBIN_AUTH=oidc`` or an explicit ``PARTSBIN_AUTH=none``.
    """
    if settings.auth != "none" or "auth" in settings.model_fields_set or is_loopback(host):
        return None
    return (
        f"refusing to serve on {host} without authentication: anyone who can reach it could "
        "change or delete everything. Set PARTSBIN_AUTH=oidc with PARTSBIN_OIDC_ISSUER, "
        "PARTSBIN_OIDC_CLIENT_ID and PARTSBIN_OIDC_CLIENT_SECRET (see docs/auth.md), or set "
        "PARTSBIN_AUTH=none explicitly to serve without authentication, or bind 127.0.0.1."
    )
