"""Page metadata extraction (core.urlfetch.page): titles, preview candidates, charsets."""

from __future__ import annotations

from core.urlfetch.page import PRESCAN_BYTES, PageParser, extract_metadata

URL = "https://shop.example.test/parts/resistor.html?ref=1"


def test_the_title_element_gives_the_title_with_whitespace_collapsed() -> None:
    html = b"<html><head><title>\n  1k Resistor &amp;\n  friends </title></head></html>"
    assert extract_metadata(html, URL).title == "1k Resistor & friends"


def test_og_title_is_the_fallback_title() -> None:
    html = b'<html><head><title>  </title><meta property="og:title" content="OG name"></head>'
    assert extract_metadata(html, URL).title == "OG name"


def test_a_page_without_titles_has_none() -> None:
    assert extract_metadata(b"<html><head></head><body>x</body></html>", URL).title is None


def test_an_unclosed_title_is_still_read() -> None:
    assert extract_metadata(b"<html><head><title>Cut off", URL).title == "Cut off"


def test_candidates_are_ordered_og_twitter_icons_then_favicon() -> None:
    html = b"""<html><head>
      <link rel="apple-touch-icon" href="/touch.png">
      <link rel="shortcut icon" href="/shortcut.ico">
      <link rel="icon" href="/icon.png">
      <meta name="twitter:image" content="/tw.png">
      <meta name="twitter:image:src" content="/tw-src.png">
      <meta property="og:image:secure_url" content="https://cdn.example.test/og-secure.png">
      <meta property="og:image" content="/og.png">
      <meta property="og:image:url" content="/og-url.png">
    </head><body></body></html>"""
    assert extract_metadata(html, URL).image_candidates == [
        "https://shop.example.test/og.png",
        "https://shop.example.test/og-url.png",
        "https://cdn.example.test/og-secure.png",
        "https://shop.example.test/tw.png",
        "https://shop.example.test/tw-src.png",
        "https://shop.example.test/icon.png",
        "https://shop.example.test/shortcut.ico",
        "https://shop.example.test/touch.png",
        "https://shop.example.test/favicon.ico",
    ]


def test_relative_urls_resolve_against_the_page_url() -> None:
    html = b"""<head><meta property="og:image" content="img/a.png">
      <meta property="og:image" content="../b.png">
      <meta property="og:image" content="//cdn.test/c.png">
    </head>"""
    assert extract_metadata(html, URL).image_candidates[:3] == [
        "https://shop.example.test/parts/img/a.png",
        "https://shop.example.test/b.png",
        "https://cdn.test/c.png",
    ]


def test_relative_urls_resolve_against_the_base_element() -> None:
    html = b'<head><base href="/static/v2/"><link rel="icon" href="fav.png"></head>'
    metadata = extract_metadata(html, URL)
    assert metadata.base_url == "https://shop.example.test/static/v2/"
    assert metadata.image_candidates == [
        "https://shop.example.test/static/v2/fav.png",
        "https://shop.example.test/favicon.ico",  # the origin's, whatever the base
    ]


def test_non_http_candidates_and_duplicates_are_dropped() -> None:
    html = b"""<head><meta property="og:image" content="data:image/png;base64,AAAA">
      <meta property="og:image" content="javascript:alert(1)">
      <meta property="og:image" content="  ">
      <meta name="twitter:image" content="/favicon.ico">
      <link rel="icon" href="/favicon.ico#x"></head>"""
    assert extract_metadata(html, URL).image_candidates == ["https://shop.example.test/favicon.ico"]


def test_tags_after_the_head_are_ignored() -> None:
    html = b"""<head><title>Real</title></head><body>
      <svg><title>icon</title></svg><meta property="og:image" content="/late.png"></body>"""
    metadata = extract_metadata(html, URL)
    assert metadata.title == "Real"
    assert metadata.image_candidates == ["https://shop.example.test/favicon.ico"]


def test_the_parser_says_when_it_has_seen_the_head() -> None:
    parser = PageParser(URL)
    parser.feed(b"<html><head><title>T</title>" + b" " * PRESCAN_BYTES)
    assert not parser.done
    parser.feed(b"</head><body>")
    assert parser.done
    assert parser.result().title == "T"


def test_the_meta_charset_decodes_the_page() -> None:
    html = '<head><meta charset="windows-1251"><title>Резистор</title></head>'.encode("cp1251")
    assert extract_metadata(html, URL).title == "Резистор"


def test_the_http_equiv_charset_decodes_the_page() -> None:
    html = (
        '<head><meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-15">'
        "<title>Prix 10 €</title></head>"
    ).encode("iso-8859-15")
    assert extract_metadata(html, URL).title == "Prix 10 €"


def test_the_header_charset_wins_over_the_meta_charset() -> None:
    html = '<head><meta charset="utf-8"><title>Größe</title></head>'.encode("latin-1")
    assert extract_metadata(html, URL, header_charset="iso-8859-1").title == "Größe"


def test_utf8_is_the_default_and_bad_bytes_do_not_fail() -> None:
    html = "<head><title>Ω ".encode() + b"\xff</title></head>"
    assert extract_metadata(html, URL).title == "Ω \ufffd"


def test_an_unknown_charset_falls_back_to_utf8() -> None:
    html = '<head><meta charset="no-such-charset"><title>Ünï</title></head>'.encode()
    assert extract_metadata(html, URL, header_charset="bogus").title == "Ünï"


def test_a_utf16_page_with_a_bom_is_decoded() -> None:
    html = "\ufeff<head><title>Wide</title></head>".encode("utf-16-le")
    assert extract_metadata(html, URL).title == "Wide"
