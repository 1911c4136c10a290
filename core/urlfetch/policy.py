"""Which URLs the server may fetch: scheme, host syntax and the addresses a host resolves to.

The policy exists to stop server-side request forgery: a user-supplied URL must never make the
server talk to itself, to the private network it lives in or to a cloud metadata service
(``169.254.169.254``). Checks are done on the *resolved* addresses, so every spelling of an
address (``2130706433``, ``0177.0.0.1``, ``0x7f.1``, ``[::ffff:127.0.0.1]``) and every host name
pointing at a private address is caught. The fetcher then connects to exactly the addresses that
were checked here, so a second DNS answer (DNS rebinding) cannot slip in.

Which addresses are refused is decided by one table, :data:`SPECIAL_PURPOSE_BLOCKS` (the IANA
special-purpose registries), never by Python's ``is_private`` / ``is_global``, which differ
between Python versions.

Addresses inside a network of ``Settings.url_fetch_allow`` are allowed whatever their class
(e.g. ``127.0.0.1/32`` for a local test server).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, quote, urlsplit

from core.config import Settings
from core.errors import ApiError, UnprocessableContent

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Schemes a URL attachment may use.
ALLOWED_SCHEMES = frozenset({"http", "https"})
#: Longest URL accepted, in characters.
MAX_URL_LENGTH = 8192

_PATH_SAFE = "/?#[]@!$&'()*+,;=%:-._~"


# --- the table of refused address blocks --------------------------------------------------------


@dataclass(frozen=True)
class SpecialBlock:
    """One refused address block: the network and the short reason shown in errors."""

    network: IPNetwork
    reason: str


def _blocks(*rows: tuple[str, str]) -> tuple[SpecialBlock, ...]:
    return tuple(SpecialBlock(ipaddress.ip_network(cidr), reason) for cidr, reason in rows)


#: THE table of refused addresses: every block of the IANA IPv4 and IPv6 Special-Purpose Address
#: Registries (RFC 6890) whose "Globally Reachable" is False or not applicable, plus multicast
#: and the IPv6 space IANA has not allocated for global unicast. An address in any of these
#: networks is refused (:func:`blocked_reason`), whatever Python's ``is_private`` says (that
#: differs between Python versions). Comments give the registry's name and RFC. When a smaller
#: block inside a refused one is marked globally reachable (anycast services such as
#: 192.0.0.9/32), it is refused all the same: no web page is served there.
#:
#: Not refused (globally reachable in the registry): 192.31.196.0/24 AS112-v4 (RFC 7535),
#: 192.52.193.0/24 AMT (RFC 7450), 192.175.48.0/24 AS112 direct delegation (RFC 7534),
#: 64:ff9b::/96 IPv4-IPv6 translation (RFC 6052; its embedded IPv4 address is judged instead),
#: 2620:4f:8000::/48 AS112 direct delegation (RFC 7534).
SPECIAL_PURPOSE_BLOCKS: tuple[SpecialBlock, ...] = _blocks(
    # --- IPv4 -----------------------------------------------------------------------------------
    ("0.0.0.0/32", "unspecified"),  # "This host on this network", RFC 1122
    ("0.0.0.0/8", "this network"),  # "This network", RFC 791
    ("10.0.0.0/8", "private"),  # Private-Use, RFC 1918
    ("100.64.0.0/10", "shared (carrier-grade NAT)"),  # Shared Address Space, RFC 6598
    ("127.0.0.0/8", "loopback"),  # Loopback, RFC 1122
    ("169.254.0.0/16", "link-local"),  # Link Local, RFC 3927 (cloud metadata lives here)
    ("172.16.0.0/12", "private"),  # Private-Use, RFC 1918
    # IETF Protocol Assignments, RFC 6890; includes IPv4 Service Continuity Prefix
    # 192.0.0.0/29 (RFC 7335), IPv4 dummy address 192.0.0.8/32 (RFC 7600), PCP and TURN anycast
    # 192.0.0.9-10/32 (RFC 7723, RFC 8155), NAT64/DNS64 discovery 192.0.0.170-171/32 (RFC 8880)
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation"),  # Documentation (TEST-NET-1), RFC 5737
    ("192.88.99.0/24", "deprecated 6to4 relay anycast"),  # RFC 7526; 6a44 relay RFC 6751
    ("192.168.0.0/16", "private"),  # Private-Use, RFC 1918
    ("198.18.0.0/15", "benchmarking"),  # Benchmarking, RFC 2544
    ("198.51.100.0/24", "documentation"),  # Documentation (TEST-NET-2), RFC 5737
    ("203.0.113.0/24", "documentation"),  # Documentation (TEST-NET-3), RFC 5737
    ("224.0.0.0/4", "multicast"),  # IPv4 Multicast Address Space Registry, RFC 5771
    ("255.255.255.255/32", "broadcast"),  # Limited Broadcast, RFC 8190 / RFC 919
    ("240.0.0.0/4", "reserved"),  # Reserved, RFC 1112
    # --- IPv6 -----------------------------------------------------------------------------------
    ("::/128", "unspecified"),  # Unspecified Address, RFC 4291
    ("::1/128", "loopback"),  # Loopback Address, RFC 4291
    # IPv4-mapped ::ffff:0:0/96 (RFC 4291) and IPv4-compatible ::/96 (deprecated, RFC 4291)
    # carry an IPv4 address, which is judged instead (see _embedded_ipv4); what is left of
    # ::/8 is "Reserved by IETF" in the IANA IPv6 Address Space registry.
    ("64:ff9b:1::/48", "local-use IPv4/IPv6 translation"),  # RFC 8215
    ("::/8", "reserved"),
    ("100::/64", "discard-only"),  # Discard-Only Address Block, RFC 6666
    ("100:0:0:1::/64", "dummy IPv6 prefix"),  # Dummy IPv6 Prefix, RFC 9780
    # IETF Protocol Assignments, RFC 2928; includes TEREDO 2001::/32 (RFC 4380), benchmarking
    # 2001:2::/48 (RFC 5180), ORCHID 2001:10::/28 (RFC 4843) and the anycast services inside
    ("2001::/23", "IETF protocol assignments"),
    ("2001:db8::/32", "documentation"),  # Documentation, RFC 3849
    ("3fff::/20", "documentation"),  # Documentation, RFC 9637
    ("5f00::/16", "segment routing (SRv6) SIDs"),  # RFC 9602
    ("fc00::/7", "private"),  # Unique-Local, RFC 4193 / RFC 8190
    ("fe80::/10", "link-local"),  # Link-Local Unicast, RFC 4291
    ("fec0::/10", "site-local"),  # deprecated site-local, RFC 3879
    ("ff00::/8", "multicast"),  # IPv6 Multicast Address Space Registry, RFC 4291
)

#: IPv6 global unicast (IANA IPv6 Address Space registry, RFC 4291): every other IPv6 address
#: outside the blocks above is "Reserved by IETF" and refused.
_IPV6_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
_IPV4_MAPPED = ipaddress.ip_network("::ffff:0:0/96")  # RFC 4291
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d, RFC 4291
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # IPv4-IPv6 Translat., RFC 6052
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # local-use NAT64, RFC 8215
_SIXTOFOUR = ipaddress.ip_network("2002::/16")  # 6to4, RFC 3056
_TEREDO = ipaddress.ip_network("2001::/32")  # TEREDO, RFC 4380


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
    value = int(address)
    low32 = ipaddress.IPv4Address(value & 0xFFFFFFFF)
    if address in _IPV4_MAPPED:
        return "IPv4-mapped", [low32]
    if address in _SIXTOFOUR:
        return "6to4", [ipaddress.IPv4Address((value >> 80) & 0xFFFFFFFF)]
    if address in _TEREDO:
        server = ipaddress.IPv4Address((value >> 64) & 0xFFFFFFFF)
        client = ipaddress.IPv4Address(~value & 0xFFFFFFFF)
        return "Teredo", [client, server]
    if address in _NAT64 or address in _NAT64_LOCAL:
        return "NAT64", [low32]
    if address in _IPV4_COMPATIBLE and value > 1:
        return "IPv4-compatible", [low32]
    return None


def _table_reason(address: IPAddress) -> str | None:
    """The reason of the first block of :data:`SPECIAL_PURPOSE_BLOCKS` holding ``address``."""
    for block in SPECIAL_PURPOSE_BLOCKS:
        if address.version == block.network.version and address in block.network:
            return block.reason
    if isinstance(address, ipaddress.IPv6Address) and address not in _IPV6_GLOBAL_UNICAST:
        return "reserved"
    return None


def blocked_reason(address: IPAddress) -> str | None:
    """Return why ``address`` must not be fetched from, or ``None`` if it is a public address.

    The decision comes from one table, :data:`SPECIAL_PURPOSE_BLOCKS` (the IANA special-purpose
    registries); the reason is the short name of the block (``"loopback"``, ``"private"``,
    ``"link-local"``, ``"documentation"``, ``"IETF protocol assignments"``...). An IPv6 address
    embedding an IPv4 one (IPv4-mapped, IPv4-compatible, 6to4, Teredo, NAT64) is refused when
    the embedded address is, e.g. ``"IPv4-mapped loopback"``; IPv4-mapped, 6to4 and well-known
    NAT64 forms of a public IPv4 address are allowed. The allow-list is not consulted here (see
    :meth:`AddressPolicy.check`). No network access.
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            address = ipaddress.IPv6Address(address.compressed.split("%", 1)[0])
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            form, inner_addresses = embedded
            for inner in inner_addresses:
                inner_reason = _table_reason(inner)
                if inner_reason is not None:
                    return f"{form} {inner_reason}"
            # A public IPv4 address in a transition form that reaches it: judge the IPv4 one.
            if form in {"IPv4-mapped", "6to4", "NAT64"} and address not in _NAT64_LOCAL:
                return None
    return _table_reason(address)


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

    def resolve(self, host: str, port: int, timeout: float | None = None) -> list[IPAddress]:
        """Resolve ``host`` and check every address it resolves to.

        Returns the addresses (deduplicated, in resolver order) the caller must connect to,
        and only to them. Raises :class:`UrlUnresolvable` (422) if the name does not resolve and
        :class:`UrlBlocked` (400) if ANY of its addresses is refused, so a name mixing a public
        and a private address is refused as a whole. With ``timeout``, raises
        :class:`ResolveTimeout` when the resolver has not answered within that many seconds.
        """
        try:
            infos = _getaddrinfo(host, port, timeout)
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


class ResolveTimeout(Exception):
    """The resolver did not answer in time (the fetcher reports it as its own timeout)."""


def _getaddrinfo(host: str, port: int, timeout: float | None) -> list[Any]:
    """``socket.getaddrinfo`` for TCP; with ``timeout``, waited for at most that long.

    The C resolver cannot be interrupted, so it runs in a daemon thread that is left to finish
    on its own (bounded by the system resolver's timeouts) when the caller gives up.
    """
    if timeout is None:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    outcome: list[Any] = []

    def resolve() -> None:
        try:
            outcome.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            outcome.append(exc)

    worker = threading.Thread(target=resolve, name=f"resolve {host}", daemon=True)
    worker.start()
    worker.join(max(0.0, timeout))
    if not outcome:
        raise ResolveTimeout(f"resolving {host} took longer than {timeout:g} s")
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return list(outcome[0])


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


def check_url(
    url: str, policy: AddressPolicy, timeout: float | None = None
) -> tuple[Target, Sequence[IPAddress]]:
    """Parse ``url`` and resolve and check its host: everything short of connecting.

    Returns the target and the allowed addresses to connect to. Raises :class:`InvalidUrl`,
    :class:`UrlUnresolvable`, :class:`UrlBlocked`, or with ``timeout`` :class:`ResolveTimeout`.
    """
    target = parse_target(url)
    return target, policy.resolve(target.host, target.port, timeout)
