"""Which URLs the server may fetch: scheme, host syntax and the addresses a host resolves to.

The policy exists to stop server-side request forgery: a user-supplied URL must never make the
server talk to itself, to the private network it lives in or to a cloud metadata service
(``169.254.169.254``). Checks are done on the *resolved* addresses, so every spelling of an
address (``2130706433``, ``0177.0.0.1``, ``0x7f.1``, ``[::ffff:127.0.0.1]``) and every host name
pointing at a private address is caught. The fetcher then connects to exactly the addresses that
were checked here, so a second DNS answer (DNS rebinding) cannot slip in.

Addresses inside a network of ``Settings.url_fetch_allow`` are allowed whatever their class
(e.g. ``127.0.0.1/32`` for a local test server).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, quote, urlsplit

from core.config import Settings
from core.errors import ApiError, UnprocessableContent

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Schemes a URL attachment may use.
ALLOWED_SCHEMES = frozenset({"http", "https"})
#: Longest URL accepted, in characters.
MAX_URL_LENGTH = 8192

_PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(cidr)
    for cidr in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)  # RFC 1918 and RFC 4193 unique local addresses
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598 carrier-grade NAT
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 well-known NAT64 prefix
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215 local-use NAT64
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d
_PATH_SAFE = "/?#[]@!$&'()*+,;=%:-._~"


# --- errors -------------------------------------------------------------------------------------


class InvalidUrl(ApiError):
    """The URL is malformed, too long, has credentials or a scheme other than http/https."""

    status, code = 400, "INVALID_URL"


class UrlBlocked(ApiError):
    """The host is, or resolves to, an address the server must not connect to.

    ``details``: ``{"address": "10.0.0.1", "reason": "private"}``.
    """

    status, code = 400, "URL_BLOCKED"


class UrlUnresolvable(UnprocessableContent):
    """The host name does not resolve (``details``: ``{"host": ...}``)."""

    status, code = 422, "URL_UNRESOLVABLE"


# --- address classes ----------------------------------------------------------------------------


def _embedded_ipv4(
    address: ipaddress.IPv6Address,
) -> tuple[str, list[ipaddress.IPv4Address]] | None:
    """The IPv4 addresses an IPv6 address carries (mapped, compatible, 6to4, Teredo, NAT64)."""
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.ipv4_mapped is not None:
        return "IPv4-mapped", [address.ipv4_mapped]
    if address.sixtofour is not None:
        return "6to4", [address.sixtofour]
    if address.teredo is not None:
        server, client = address.teredo
        return "Teredo", [client, server]
    if address in _NAT64 or address in _NAT64_LOCAL:
        return "NAT64", [low32]
    if address in _IPV4_COMPATIBLE and int(address) > 1:
        return "IPv4-compatible", [low32]
    return None


def _plain_reason(address: IPAddress) -> str | None:
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED:
        return "shared (carrier-grade NAT)"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "site-local"
    if any(address in network for network in _PRIVATE_NETWORKS):
        return "private"
    if address.is_reserved:
        return "reserved"
    if address.is_private or not address.is_global:
        return "non-public"
    return None


def blocked_reason(address: IPAddress) -> str | None:
    """Return why ``address`` must not be fetched from, or ``None`` if it is a public address.

    The reason names the address class: ``"loopback"``, ``"private"``, ``"link-local"``,
    ``"multicast"``, ``"reserved"``, ``"unspecified"``, ``"shared (carrier-grade NAT)"``,
    ``"site-local"``, ``"non-public"`` (documentation, benchmarking and other special-purpose
    ranges), or for an IPv6 address embedding an IPv4 one, e.g. ``"IPv4-mapped loopback"``.
    The allow-list is not consulted here (see :meth:`AddressPolicy.check`).
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            address = ipaddress.IPv6Address(address.compressed.split("%", 1)[0])
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            form, inner_addresses = embedded
            for inner in inner_addresses:
                inner_reason = _plain_reason(inner)
                if inner_reason is not None:
                    return f"{form} {inner_reason}"
            # A public IPv4 address in an IPv6 form: judge the IPv6 prefix itself, except for
            # the transition prefixes, which Python reports as reserved/private as a whole.
            if form in {"IPv4-mapped", "6to4", "Teredo", "NAT64"}:
                return None
    return _plain_reason(address)


# --- the policy ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddressPolicy:
    """Decides whether an address may be connected to: public addresses, plus ``allow``."""

    allow: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> AddressPolicy:
        """Build the policy from ``Settings.url_fetch_allow``.

        Raises ``ValueError`` naming the setting if an entry is not a CIDR network.
        """
        return cls(parse_networks(settings.url_fetch_allow))

    def is_allowed(self, address: IPAddress) -> bool:
        """Whether ``address`` is inside an allow-listed network (by its literal value)."""
        return any(address in network for network in self.allow)

    def check(self, address: IPAddress, host: str | None = None) -> None:
        """Raise :class:`UrlBlocked` unless ``address`` is public or allow-listed."""
        if self.is_allowed(address):
            return
        reason = blocked_reason(address)
        if reason is None:
            return
        shown = str(address)
        via = f"host {host} resolves to " if host and host != shown else ""
        raise UrlBlocked(
            f"URL is not allowed: {via}{reason} address {shown}",
            {"address": shown, "reason": reason},
        )

    def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Resolve ``host`` and check every address it resolves to.

        Returns the addresses (deduplicated, in resolver order) the caller must connect to,
        and only to them. Raises :class:`UrlUnresolvable` (422) if the name does not resolve and
        :class:`UrlBlocked` (400) if ANY of its addresses is refused, so a name mixing a public
        and a private address is refused as a whole.
        """
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError, OSError) as exc:
            raise UrlUnresolvable(f"host {host} could not be resolved", {"host": host}) from exc
        addresses: list[IPAddress] = []
        for info in infos:
            try:
                address = ipaddress.ip_address(str(info[4][0]))
            except ValueError:
                continue
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise UrlUnresolvable(f"host {host} could not be resolved", {"host": host})
        for address in addresses:
            self.check(address, host)
        return addresses


def parse_networks(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Parse CIDR strings (``"127.0.0.1/32"``, ``"10.0.0.0/8"``, ``"::1/128"``).

    Host bits are ignored (``10.1.2.3/8`` means ``10.0.0.0/8``). Raises ``ValueError`` naming
    ``PARTSBIN_URL_FETCH_ALLOW`` and the bad entry.
    """
    networks: list[IPNetwork] = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(
                f"PARTSBIN_URL_FETCH_ALLOW: {entry!r} is not a CIDR network ({exc})"
            ) from None
    return tuple(networks)


# --- URLs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A checked URL: what to connect to and what to say in the request."""

    url: str
    scheme: str
    host: str  # ASCII (IDNA) host name or IP literal without brackets
    port: int
    path: str  # path and query, never empty: "/" at least

    @property
    def host_header(self) -> str:
        """The ``Host`` header: ``host`` or ``host:port`` for a non-default port."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def parse_target(url: str) -> Target:
    """Check the syntax of ``url`` and split it into what a request needs.

    Accepted: absolute ``http``/``https`` URLs with a host, no user name or password, at most
    :data:`MAX_URL_LENGTH` characters. Non-ASCII host names are IDNA-encoded; the fragment is
    dropped. Raises :class:`InvalidUrl` (400) otherwise. No network access.
    """
    if not isinstance(url, str) or not url.strip():
        raise InvalidUrl("URL is empty")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise InvalidUrl(f"URL is longer than {MAX_URL_LENGTH} characters")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in url):
        raise InvalidUrl("URL contains control characters")
    try:
        parts: SplitResult = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidUrl(f"URL is malformed: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        shown = f"{scheme}:" if scheme else "no scheme"
        raise InvalidUrl(
            f"URL scheme {shown} is not supported (use http or https)", {"scheme": scheme}
        )
    if parts.username is not None or parts.password is not None:
        raise InvalidUrl("URLs with a user name or password are not supported")
    host = parts.hostname
    if not host:
        raise InvalidUrl("URL has no host")
    host = host.rstrip(".") or host
    host = _ascii_host(host)
    if port is None:
        port = 443 if scheme == "https" else 80
    if port == 0:
        raise InvalidUrl("URL port 0 is not valid")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    # Spaces and non-ASCII characters are percent-encoded (UTF-8); existing escapes are kept.
    path = quote(path, safe=_PATH_SAFE)
    return Target(url=url.split("#", 1)[0], scheme=scheme, host=host, port=port, path=path)


def _ascii_host(host: str) -> str:
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    if host.isascii():
        return host.lower()
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidUrl(f"URL host {host!r} is not a valid host name") from None


def check_url(url: str, policy: AddressPolicy) -> tuple[Target, Sequence[IPAddress]]:
    """Parse ``url`` and resolve and check its host: everything short of connecting.

    Returns the target and the allowed addresses to connect to. Raises :class:`InvalidUrl`,
    :class:`UrlUnresolvable` or :class:`UrlBlocked`.
    """
    target = parse_target(url)
    return target, policy.resolve(target.host, target.port)
