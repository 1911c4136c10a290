"""The safe fetch (core.urlfetch.client) against a local server on 127.0.0.1."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from core.config import Settings
from core.errors import ApiError
from core.urlfetch import ERROR_CLASSES
from core.urlfetch.client import (
    MAX_REDIRECTS,
    USER_AGENT,
    UrlBadResponse,
    UrlHttpError,
    UrlTimeout,
    UrlTlsError,
    UrlTooLarge,
    UrlTooManyRedirects,
    UrlUnreachable,
    fetch,
    fetch_bytes,
)
from core.urlfetch.policy import InvalidUrl, UrlBlocked, UrlUnresolvable
from tests.urlfetch.server import LocalHttpServer, free_port, gzip_bytes, pattern_body


def only_connected_to(connections: list[tuple[Any, ...]], port: int) -> bool:
    return bool(connections) and all(c[:2] == ("127.0.0.1", port) for c in connections)


def test_fetch_returns_the_body_and_sends_host_and_user_agent(
    server: LocalHttpServer, settings: Settings
) -> None:
    url = server.route("/hello?x=1", b"hello world", content_type="text/plain; charset=utf-8")
    with fetch(url, settings, max_bytes=1000) as response:
        assert response.status == 200
        assert response.declared_type == "text/plain"
        assert response.charset == "utf-8"
        assert response.read() == b"hello world"
        assert response.url == url
    request = server.requests_for("/hello?x=1")[0]
    assert request.headers["Host"] == f"127.0.0.1:{server.port}"
    assert request.headers["User-Agent"] == USER_AGENT


def test_a_body_of_exactly_the_limit_is_read(server: LocalHttpServer, settings: Settings) -> None:
    url = server.route("/exact", b"x" * 1000)
    assert fetch_bytes(url, settings, max_bytes=1000) == (url, b"x" * 1000)


def test_a_chunked_body_is_read(server: LocalHttpServer, settings: Settings) -> None:
    url = server.route("/chunked", pattern_body(300_000, chunk_size=7000), chunked=True)
    _, body = fetch_bytes(url, settings, max_bytes=300_000)
    assert len(body) == 300_000


def test_relative_redirects_are_followed(server: LocalHttpServer, settings: Settings) -> None:
    server.route("/final", b"done")
    server.redirect("/b", "final", status=301)
    url = server.redirect("/a", f"{server.base_url}/b", status=307)
    final_url, body = fetch_bytes(url, settings, max_bytes=100)
    assert (final_url, body) == (server.url("/final"), b"done")


def test_five_redirects_are_followed(server: LocalHttpServer, settings: Settings) -> None:
    server.route("/r5", b"end")
    for i in range(MAX_REDIRECTS):
        server.redirect(f"/r{i}", f"/r{i + 1}")
    assert fetch_bytes(server.url("/r0"), settings, max_bytes=100)[1] == b"end"


def test_more_than_five_redirects_are_refused(server: LocalHttpServer, settings: Settings) -> None:
    for i in range(MAX_REDIRECTS + 1):
        server.redirect(f"/r{i}", f"/r{i + 1}")
    server.route(f"/r{MAX_REDIRECTS + 1}", b"never reached")
    with pytest.raises(UrlTooManyRedirects) as caught:
        fetch(server.url("/r0"), settings, max_bytes=100)
    assert (caught.value.status, caught.value.code) == (422, "URL_TOO_MANY_REDIRECTS")
    assert len(server.requests) == MAX_REDIRECTS + 1
    assert not server.requests_for(f"/r{MAX_REDIRECTS + 1}")


def test_a_redirect_loop_is_refused(server: LocalHttpServer, settings: Settings) -> None:
    url = server.redirect("/loop", "/loop")
    with pytest.raises(UrlTooManyRedirects):
        fetch(url, settings, max_bytes=100)


@pytest.mark.parametrize(
    "location",
    [
        "http://10.0.0.1/",
        "http://[::1]:{port}/",
        "http://127.0.0.2:{port}/",
        "http://169.254.169.254/latest/meta-data/",
        "http://0177.0.0.2:{port}/",
    ],
)
def test_a_redirect_to_a_blocked_address_is_refused_before_connecting(
    server: LocalHttpServer,
    settings: Settings,
    connections: list[tuple[Any, ...]],
    location: str,
) -> None:
    url = server.redirect("/go", location.format(port=server.port))
    with pytest.raises(UrlBlocked) as caught:
        fetch(url, settings, max_bytes=100)
    assert caught.value.status == 400
    assert "redirects to a refused URL" in caught.value.message
    assert caught.value.details["redirect_to"] == location.format(port=server.port)
    assert only_connected_to(connections, server.port)


def test_a_redirect_to_a_host_resolving_to_a_private_address_is_refused(
    server: LocalHttpServer,
    settings: Settings,
    connections: list[tuple[Any, ...]],
    fake_dns: dict[str, list[str]],
) -> None:
    fake_dns["internal.example.test"] = ["10.0.0.1"]
    url = server.redirect("/go", "http://internal.example.test/admin")
    with pytest.raises(UrlBlocked) as caught:
        fetch(url, settings, max_bytes=100)
    assert caught.value.details["address"] == "10.0.0.1"
    assert only_connected_to(connections, server.port)


@pytest.mark.parametrize("location", ["file:///etc/passwd", "gopher://127.0.0.1:70/", "ftp://x/"])
def test_a_redirect_to_another_scheme_is_refused(
    server: LocalHttpServer, settings: Settings, location: str
) -> None:
    url = server.redirect("/go", location)
    with pytest.raises(InvalidUrl, match="redirects to a refused URL"):
        fetch(url, settings, max_bytes=100)


def test_a_redirect_without_location_is_a_bad_response(
    server: LocalHttpServer, settings: Settings
) -> None:
    url = server.route("/nowhere", b"", status=302)
    with pytest.raises(UrlBadResponse, match="without a Location"):
        fetch(url, settings, max_bytes=100)


@pytest.mark.parametrize("status", [404, 403, 500, 503])
def test_an_http_error_status_is_a_422_with_the_status(
    server: LocalHttpServer, settings: Settings, status: int
) -> None:
    url = server.route("/missing", b"nope", status=status)
    with pytest.raises(UrlHttpError) as caught:
        fetch(url, settings, max_bytes=100)
    assert (caught.value.status, caught.value.code) == (422, "URL_HTTP_ERROR")
    assert caught.value.details["status"] == status
    assert f"HTTP {status}" in caught.value.message


def test_a_declared_oversized_body_is_refused_before_reading(
    server: LocalHttpServer, settings: Settings
) -> None:
    url = server.route("/big", b"x" * 200_000)
    with pytest.raises(UrlTooLarge) as caught:
        fetch(url, settings, max_bytes=10_000)
    assert (caught.value.status, caught.value.code) == (413, "URL_TOO_LARGE")
    assert caught.value.details["limit_bytes"] == 10_000


def test_an_oversized_streamed_body_stops_the_download_early(
    server: LocalHttpServer, settings: Settings
) -> None:
    total = 64 * 1024 * 1024
    url = server.route("/huge", pattern_body(total), chunked=True)
    with pytest.raises(UrlTooLarge), fetch(url, settings, max_bytes=256 * 1024) as response:
        response.read()
    record = server.wait_done("/huge")
    # The client hung up after its limit: the server could send only what the socket buffers
    # held on top of it, a small part of the body.
    assert record.bytes_sent < total // 4
    assert record.error is not None


def test_the_limit_applies_to_the_decoded_size_of_a_gzip_body(
    server: LocalHttpServer, settings: Settings
) -> None:
    bomb = gzip_bytes(b"\0" * (50 * 1024 * 1024))
    url = server.route("/bomb", bomb, headers={"Content-Encoding": "gzip"})
    started = time.monotonic()
    with pytest.raises(UrlTooLarge), fetch(url, settings, max_bytes=1024 * 1024) as response:
        response.read()
    assert time.monotonic() - started < 2


def test_a_gzip_body_is_decoded(server: LocalHttpServer, settings: Settings) -> None:
    url = server.route("/gz", gzip_bytes(b"hello " * 1000), headers={"Content-Encoding": "gzip"})
    assert fetch_bytes(url, settings, max_bytes=6000)[1] == b"hello " * 1000


def test_a_broken_gzip_body_is_a_bad_response(server: LocalHttpServer, settings: Settings) -> None:
    url = server.route("/badgz", b"this is not gzip", headers={"Content-Encoding": "gzip"})
    with pytest.raises(UrlBadResponse, match="Content-Encoding"):
        fetch_bytes(url, settings, max_bytes=6000)


def test_a_server_that_does_not_answer_times_out_quickly(
    server: LocalHttpServer, settings: Settings
) -> None:
    url = server.route("/slow", b"late", delay=5)
    started = time.monotonic()
    with pytest.raises(UrlTimeout) as caught:
        fetch(url, settings, max_bytes=100)
    assert time.monotonic() - started < 2
    assert (caught.value.status, caught.value.code) == (422, "URL_TIMEOUT")


def test_a_body_that_stalls_times_out(server: LocalHttpServer, settings: Settings) -> None:
    url = server.route("/stall", lambda: [b"a" * 100, b"b" * 100], chunk_delay=3)
    started = time.monotonic()
    with pytest.raises(UrlTimeout), fetch(url, settings, max_bytes=1000) as response:
        response.read()
    assert time.monotonic() - started < 2


def test_a_trickling_body_hits_the_total_deadline(
    server: LocalHttpServer, settings: Settings
) -> None:
    # Each chunk arrives within the 0.5 s read timeout, but the whole never ends in time.
    url = server.route("/trickle", lambda: [b"x" * 10] * 40, chunk_delay=0.2, chunked=True)
    started = time.monotonic()
    with pytest.raises(UrlTimeout), fetch(url, settings, max_bytes=10_000) as response:
        response.read()
    elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 2.5  # deadline: 3 x url_fetch_timeout = 1.5 s


def test_a_closed_port_is_unreachable(settings: Settings) -> None:
    with pytest.raises(UrlUnreachable) as caught:
        fetch(f"http://127.0.0.1:{free_port()}/", settings, max_bytes=100)
    assert (caught.value.status, caught.value.code) == (422, "URL_UNREACHABLE")
    assert "connection refused" in caught.value.message


def test_a_server_hanging_up_without_answering_is_unreachable(settings: Settings) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    import threading

    def hang_up() -> None:
        conn, _ = listener.accept()
        conn.recv(1000)
        conn.close()

    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    try:
        with pytest.raises(UrlUnreachable, match="closed the connection"):
            fetch(f"http://127.0.0.1:{port}/", settings, max_bytes=100)
    finally:
        thread.join(timeout=5)
        listener.close()


def test_an_unresolvable_host_is_a_422(settings: Settings) -> None:
    with pytest.raises(UrlUnresolvable) as caught:
        fetch("http://does-not-exist.example.test/", settings, max_bytes=100)
    assert (caught.value.status, caught.value.code) == (422, "URL_UNRESOLVABLE")


@pytest.mark.parametrize("url", ["http://10.0.0.1/", "http://[::1]/", "http://0x7f.0.0.2/"])
def test_a_blocked_address_is_never_connected_to(
    settings: Settings, connections: list[tuple[Any, ...]], url: str
) -> None:
    with pytest.raises(UrlBlocked):
        fetch(url, settings, max_bytes=100)
    assert connections == []


def test_the_checked_address_is_the_one_connected_to(
    server: LocalHttpServer,
    settings: Settings,
    fake_dns: dict[str, list[str]],
    connections: list[tuple[Any, ...]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DNS rebinding: a second lookup would answer 10.0.0.1; there must be no second lookup."""
    answers = iter([["127.0.0.1"]])
    lookups: list[str] = []
    guarded = socket.getaddrinfo

    def rebinding(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.example.test":
            lookups.append(host)
            fake_dns[host] = next(answers, ["10.0.0.1"])
        return guarded(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    server.route("/", b"pinned")
    url = f"http://rebind.example.test:{server.port}/"
    assert fetch_bytes(url, settings, max_bytes=100)[1] == b"pinned"
    assert lookups == ["rebind.example.test"]
    assert only_connected_to(connections, server.port)
    assert server.requests[0].headers["Host"] == f"rebind.example.test:{server.port}"


def test_an_allow_listed_ipv6_address_is_fetched_with_a_bracketed_host(
    make_settings: Any, connectable: set[str]
) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    connectable.add("::1")
    try:
        server = LocalHttpServer(host="::1").start()
    except OSError:
        pytest.skip("cannot bind ::1")
    try:
        url = server.route("/six", b"v6")
        settings = make_settings(url_fetch_allow=("::1/128",))
        assert fetch_bytes(url, settings, max_bytes=10) == (url, b"v6")
        assert server.requests[0].headers["Host"] == f"[::1]:{server.port}"
    finally:
        server.stop()


def test_https_checks_the_certificate_against_the_host_name_not_the_ip(
    tls_server: LocalHttpServer,
    tls_files: tuple[str, str],
    settings: Settings,
    fake_dns: dict[str, list[str]],
) -> None:
    fake_dns["shop.example.test"] = ["127.0.0.1"]
    tls_server.route("/item", b"secure")
    url = f"https://shop.example.test:{tls_server.port}/item"
    with fetch(url, settings, max_bytes=100, tls_ca_file=tls_files[0]) as response:
        assert response.read() == b"secure"
    assert tls_server.sni_names == ["shop.example.test"]
    assert tls_server.requests[0].headers["Host"] == f"shop.example.test:{tls_server.port}"


def test_https_refuses_a_certificate_for_another_name(
    tls_server: LocalHttpServer,
    tls_files: tuple[str, str],
    settings: Settings,
    fake_dns: dict[str, list[str]],
) -> None:
    fake_dns["other.example.test"] = ["127.0.0.1"]
    url = f"https://other.example.test:{tls_server.port}/item"
    with pytest.raises(UrlTlsError) as caught:
        fetch(url, settings, max_bytes=100, tls_ca_file=tls_files[0])
    assert (caught.value.status, caught.value.code) == (422, "URL_TLS_ERROR")


def test_https_refuses_an_untrusted_certificate(
    tls_server: LocalHttpServer, settings: Settings, fake_dns: dict[str, list[str]]
) -> None:
    fake_dns["shop.example.test"] = ["127.0.0.1"]
    with pytest.raises(UrlTlsError, match="certificate verify failed"):
        fetch(f"https://shop.example.test:{tls_server.port}/", settings, max_bytes=100)


def test_every_fetch_error_is_a_4xx_api_error_with_a_code() -> None:
    codes = set()
    for cls in ERROR_CLASSES:
        assert issubclass(cls, ApiError)
        assert 400 <= cls.status < 500
        codes.add(cls.code)
    assert len(codes) == len(ERROR_CLASSES)
