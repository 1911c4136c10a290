"""Believe ``X-Forwarded-Proto`` / ``X-Forwarded-Host`` only from configured reverse proxies.

A request from an address in ``PARTSBIN_TRUSTED_PROXIES`` gets the scheme and host its proxy
saw, so cookies are ``Secure`` behind HTTPS, the OIDC callback URL is the public one and the
same-origin check compares against the public origin. From anyone else the headers are ignored.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Any

_HOST = re.compile(r"^[A-Za-z0-9.\-]{1,253}(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


class TrustedProxies:
    """WSGI middleware applying forwarded headers from trusted peers only."""

    def __init__(self, app: Any, networks: Iterable[str]) -> None:
        self.app = app
        self.networks = [ipaddress.ip_network(n, strict=False) for n in networks]

    def _trusted(self, address: str | None) -> bool:
        if not address:
            return False
        try:
            ip = ipaddress.ip_address(address.split("%")[0])
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if self._trusted(environ.get("REMOTE_ADDR")):
            proto = _nearest(environ.get("HTTP_X_FORWARDED_PROTO")).lower()
            if proto in ("http", "https"):
                environ["wsgi.url_scheme"] = proto
            host = _nearest(environ.get("HTTP_X_FORWARDED_HOST"))
            if host and _HOST.match(host):
                environ["HTTP_HOST"] = host
        return self.app(environ, start_response)


def _nearest(value: str | None) -> str:
    """The last entry of a comma-separated forwarded header: the one the trusted proxy added
    (entries before it came from further away, possibly from the client)."""
    return (value or "").split(",")[-1].strip()
