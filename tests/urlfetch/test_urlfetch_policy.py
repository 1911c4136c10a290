"""Which URLs and addresses may be fetched (core.urlfetch.policy). No request is ever sent."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from core.urlfetch.policy import (
    SPECIAL_PURPOSE_BLOCKS,
    AddressPolicy,
    InvalidUrl,
    SpecialBlock,
    UrlBlocked,
    UrlUnresolvable,
    blocked_reason,
    check_url,
    parse_networks,
    parse_target,
)

NO_ALLOW = AddressPolicy()
ALLOW_LOCAL_SERVER = AddressPolicy(parse_networks(["127.0.0.1/32"]))


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.0.0.2", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("10.0.0.1", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.254", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("100.64.0.1", "shared (carrier-grade NAT)"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "broadcast"),
        ("192.0.2.1", "documentation"),
        ("198.51.100.7", "documentation"),
        ("203.0.113.9", "documentation"),
        ("198.18.0.1", "benchmarking"),
        ("198.19.255.254", "benchmarking"),
        ("0.1.2.3", "this network"),
        ("192.0.0.192", "IETF protocol assignments"),  # found fetched by the hostile probe
        ("192.0.0.8", "IETF protocol assignments"),  # IPv4 dummy address
        ("192.0.0.170", "IETF protocol assignments"),  # NAT64 discovery
        ("192.88.99.1", "deprecated 6to4 relay anycast"),
        ("2001:db8::1", "documentation"),
        ("3fff::1", "documentation"),
        ("100::1", "discard-only"),
        ("2001:2::1", "IETF protocol assignments"),  # IPv6 benchmarking
        ("2001:10::1", "IETF protocol assignments"),  # ORCHID
        ("5f00::1", "segment routing (SRv6) SIDs"),
        ("fec0::1", "site-local"),
        ("4000::1", "reserved"),  # outside 2000::/3 global unicast
        ("::ffff:192.0.0.192", "IPv4-mapped IETF protocol assignments"),
        ("64:ff9b:1::808:808", "local-use IPv4/IPv6 translation"),
        ("64:ff9b:1::a00:1", "NAT64 private"),
        ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
        ("::ffff:10.0.0.1", "IPv4-mapped private"),
        ("::ffff:169.254.169.254", "IPv4-mapped link-local"),
        ("::127.0.0.1", "IPv4-compatible loopback"),
        ("2002:7f00:1::", "6to4 loopback"),
        ("2002:c0a8:101::", "6to4 private"),
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "Teredo private"),  # client 10.0.0.1
        ("64:ff9b::7f00:1", "NAT64 loopback"),
    ],
)
def test_non_public_addresses_are_blocked_with_their_class(address: str, reason: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize(
    "address",
    [
        "93.184.215.14",
        "8.8.8.8",
        "2606:4700::6810:85e5",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",  # well-known NAT64 of a public address
        "2002:808:808::1",  # 6to4 of a public address
        "192.31.196.1",  # AS112-v4: globally reachable in the registry
        "192.52.193.1",  # AMT: globally reachable
        "192.175.48.1",  # AS112 direct delegation: globally reachable
        "2620:4f:8000::1",  # AS112 direct delegation (IPv6): globally reachable
    ],
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is None
    NO_ALLOW.check(ipaddress.ip_address(address))


@pytest.mark.parametrize("block", SPECIAL_PURPOSE_BLOCKS, ids=lambda b: str(b.network))
def test_every_address_of_every_block_in_the_table_is_refused(block: SpecialBlock) -> None:
    network = block.network
    middle = network[network.num_addresses // 2]
    for address in (network.network_address, middle, network.broadcast_address):
        assert blocked_reason(address) is not None, address


def test_the_decision_does_not_depend_on_pythons_address_classes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    samples = ["192.0.0.192", "10.0.0.1", "8.8.8.8", "2001:db8::1", "2606:4700::1", "fe80::1"]
    expected = {sample: blocked_reason(ipaddress.ip_address(sample)) for sample in samples}
    for cls in (ipaddress.IPv4Address, ipaddress.IPv6Address):
        for name in ("is_private", "is_global", "is_reserved", "is_loopback", "is_link_local"):
            monkeypatch.setattr(cls, name, property(lambda self: False))
    assert {s: blocked_reason(ipaddress.ip_address(s)) for s in samples} == expected


def test_blocked_error_names_the_address_and_its_class() -> None:
    with pytest.raises(UrlBlocked) as caught:
        NO_ALLOW.check(ipaddress.ip_address("169.254.169.254"))
    assert caught.value.status == 400
    assert caught.value.code == "URL_BLOCKED"
    assert caught.value.details == {"address": "169.254.169.254", "reason": "link-local"}
    assert "link-local address 169.254.169.254" in caught.value.message


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://127.0.0.1/", "127.0.0.1"),
        ("http://[::1]/", "::1"),
        ("http://0.0.0.0/", "0.0.0.0"),
        ("http://10.1.2.3/", "10.1.2.3"),
        ("http://172.16.5.4/", "172.16.5.4"),
        ("http://192.168.0.10/", "192.168.0.10"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1"),
        ("http://2130706433/", "127.0.0.1"),  # decimal
        ("http://0177.0.0.1/", "127.0.0.1"),  # octal
        ("http://0x7f.1/", "127.0.0.1"),  # hex, short form
        ("http://127.1/", "127.0.0.1"),
        ("http://0/", "0.0.0.0"),
        ("http://[::ffff:a9fe:a9fe]/", "::ffff:a9fe:a9fe"),
        ("http://192.0.0.192/", "192.0.0.192"),
        ("http://3221225664/", "192.0.0.192"),  # decimal spelling
    ],
)
def test_every_spelling_of_an_internal_address_is_blocked(url: str, address: str) -> None:
    with pytest.raises(UrlBlocked) as caught:
        check_url(url, NO_ALLOW)
    assert ipaddress.ip_address(caught.value.details["address"]) == ipaddress.ip_address(address)


def test_a_host_name_resolving_to_a_private_address_is_blocked(
    fake_dns: dict[str, list[str]],
) -> None:
    fake_dns["intranet.example.test"] = ["10.0.0.1"]
    with pytest.raises(UrlBlocked) as caught:
        check_url("https://intranet.example.test/wiki", NO_ALLOW)
    assert caught.value.details["address"] == "10.0.0.1"
    assert "intranet.example.test resolves to private address 10.0.0.1" in caught.value.message


def test_localhost_is_blocked(fake_dns: dict[str, list[str]]) -> None:
    fake_dns["localhost"] = ["::1", "127.0.0.1"]
    with pytest.raises(UrlBlocked, match="loopback"):
        check_url("http://localhost:5000/api/admin", NO_ALLOW)


def test_a_host_name_with_any_private_address_is_blocked(fake_dns: dict[str, list[str]]) -> None:
    fake_dns["mixed.example.test"] = ["93.184.215.14", "192.168.1.1"]
    with pytest.raises(UrlBlocked):
        check_url("http://mixed.example.test/", NO_ALLOW)


def test_a_public_host_name_resolves_to_its_addresses(fake_dns: dict[str, list[str]]) -> None:
    fake_dns["shop.example.test"] = ["93.184.215.14", "93.184.215.14", "2606:4700::6810:85e5"]
    target, addresses = check_url("https://shop.example.test/item?id=1#top", NO_ALLOW)
    assert [str(a) for a in addresses] == ["93.184.215.14", "2606:4700::6810:85e5"]
    assert (target.scheme, target.host, target.port, target.path) == (
        "https",
        "shop.example.test",
        443,
        "/item?id=1",
    )


def test_an_unknown_host_name_is_unresolvable() -> None:
    with pytest.raises(UrlUnresolvable) as caught:
        check_url("http://no-such-host.example.test/", NO_ALLOW)
    assert caught.value.status == 422
    assert caught.value.code == "URL_UNRESOLVABLE"


def test_the_allow_list_lets_its_network_through() -> None:
    _, addresses = check_url("http://127.0.0.1:8080/", ALLOW_LOCAL_SERVER)
    assert [str(a) for a in addresses] == ["127.0.0.1"]
    _, addresses = check_url("http://2130706433:8080/", ALLOW_LOCAL_SERVER)
    assert [str(a) for a in addresses] == ["127.0.0.1"]


def test_the_allow_list_lets_nothing_else_through() -> None:
    for url in ("http://127.0.0.2/", "http://[::1]/", "http://10.0.0.1/"):
        with pytest.raises(UrlBlocked):
            check_url(url, ALLOW_LOCAL_SERVER)


def test_the_allow_list_comes_from_settings() -> None:
    from core.config import Settings

    policy = AddressPolicy.from_settings(Settings(url_fetch_allow=("10.1.2.3/8", "::1/128")))
    assert policy.is_allowed(ipaddress.ip_address("10.200.0.1"))
    assert policy.is_allowed(ipaddress.ip_address("::1"))
    assert not policy.is_allowed(ipaddress.ip_address("127.0.0.1"))


def test_a_bad_allow_list_entry_names_the_setting() -> None:
    with pytest.raises(ValueError, match="PARTSBIN_URL_FETCH_ALLOW: 'nonsense'"):
        parse_networks(["127.0.0.1/32", "nonsense"])


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_INFO",
        "ftp://ftp.example.test/file",
        "data:text/html,<script>alert(1)</script>",
        "javascript:alert(1)",
        "dict://127.0.0.1:11211/stat",
        "//example.test/no-scheme",
        "example.test/no-scheme",
    ],
)
def test_schemes_other_than_http_and_https_are_refused(url: str) -> None:
    with pytest.raises(InvalidUrl) as caught:
        parse_target(url)
    assert caught.value.status == 400
    assert caught.value.code == "INVALID_URL"
    assert "not supported" in caught.value.message


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "empty"),
        ("http://", "no host"),
        ("http:///path", "no host"),
        ("http://user:secret@example.test/", "user name or password"),
        ("http://example.test:99999/", "malformed"),
        ("http://example.test:0/", "port 0"),
        ("http://[::1/", "malformed"),
        ("http://exa\nmple.test/", "control characters"),
        ("http://example.test/" + "a" * 9000, "longer than"),
    ],
)
def test_malformed_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(InvalidUrl, match=message):
        parse_target(url)


def test_a_target_encodes_its_path_and_host_for_the_request() -> None:
    target = parse_target("  http://Bücher.Example.test:8080/a b/ü?q=x y&r=%20#frag ")
    assert target.host == "xn--bcher-kva.example.test"
    assert target.path == "/a%20b/%C3%BC?q=x%20y&r=%20"
    assert target.host_header == "xn--bcher-kva.example.test:8080"
    assert target.url == "http://Bücher.Example.test:8080/a b/ü?q=x y&r=%20"


def test_the_host_header_omits_default_ports_and_brackets_ipv6() -> None:
    assert parse_target("https://example.test:443/").host_header == "example.test"
    assert parse_target("http://[2606:4700::1]:8080/").host_header == "[2606:4700::1]:8080"


def test_resolution_happens_once_per_check(
    fake_dns: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    calls: list[Any] = []
    real = socket.getaddrinfo

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[0])
        return real(*args, **kwargs)

    fake_dns["shop.example.test"] = ["93.184.215.14"]
    monkeypatch.setattr(socket, "getaddrinfo", counting)
    check_url("http://shop.example.test/", NO_ALLOW)
    assert calls == ["shop.example.test"]
