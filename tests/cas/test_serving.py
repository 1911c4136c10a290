"""core.cas.serving: conditional requests, ranges, RFC 6266 naming and the inline-safety rules."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from core.cas.serving import (
    PDF_INLINE_CSP,
    SANDBOX_CSP,
    ByteRange,
    UnsatisfiableRange,
    ascii_filename,
    content_disposition,
    decide_presentation,
    is_star,
    normalize_content_type,
    not_modified,
    open_body,
    sanitize_filename,
    select_range,
    sniff_blob,
)
from storage_drivers.local import LocalDriver

ETAG = "a" * 64

# --- If-None-Match ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [f'"{ETAG}"', f'W/"{ETAG}"', f'"other", "{ETAG}"', f'"x", W/"{ETAG}" , "y"', "*"],
)
def test_if_none_match_matches_strong_weak_lists_and_star(header: str) -> None:
    assert not_modified(header, ETAG)


@pytest.mark.parametrize("header", [None, "", '"other"', f'"{ETAG}-t100"', "garbage"])
def test_if_none_match_other_tags_do_not_match(header: str | None) -> None:
    assert not not_modified(header, ETAG)


def test_star_is_recognised() -> None:
    assert is_star(" * ") and not is_star(f'"{ETAG}"') and not is_star(None)


# --- Range ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-9", (0, 9)),
        ("bytes=10-", (10, 99)),
        ("bytes=-5", (95, 99)),
        ("bytes=-500", (0, 99)),  # a suffix longer than the blob is the whole blob
        ("bytes=90-1000", (90, 99)),  # an end past the blob is clamped
        ("bytes=99-99", (99, 99)),
        ("BYTES=0-0", (0, 0)),
    ],
)
def test_single_range_forms(header: str, expected: tuple[int, int]) -> None:
    assert select_range(header, 100, etag=ETAG) == ByteRange(*expected, 100)


def test_byte_range_headers() -> None:
    rng = ByteRange(10, 19, 100)
    assert rng.length == 10
    assert rng.content_range == "bytes 10-19/100"


@pytest.mark.parametrize(
    "header",
    [None, "", "bytes=5-2", "bytes=abc", "items=0-5", "bytes=0-1,5-6", "bytes=0-1, -3", "bytes"],
)
def test_missing_malformed_foreign_or_multiple_ranges_mean_whole_blob(header: str | None) -> None:
    assert select_range(header, 100, etag=ETAG) is None


@pytest.mark.parametrize(("header", "size"), [("bytes=100-", 100), ("bytes=500-600", 100),
                                              ("bytes=0-", 0), ("bytes=-1", 0)])
def test_range_outside_the_blob_is_unsatisfiable(header: str, size: int) -> None:
    with pytest.raises(UnsatisfiableRange) as raised:
        select_range(header, size, etag=ETAG)
    assert raised.value.content_range == f"bytes */{size}"


def test_if_range_with_our_etag_honours_the_range() -> None:
    assert select_range("bytes=0-1", 100, etag=ETAG, if_range=f'"{ETAG}"') == ByteRange(0, 1, 100)


@pytest.mark.parametrize(
    "if_range", ['"other"', f'W/"{ETAG}"', "Wed, 21 Oct 2015 07:28:00 GMT", ETAG]
)
def test_if_range_that_does_not_strongly_match_gives_whole_blob(if_range: str) -> None:
    assert select_range("bytes=0-1", 100, etag=ETAG, if_range=if_range) is None


# --- content type -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("image/PNG", "image/png"),
        ("text/plain; charset=ISO-8859-1", "text/plain; charset=iso-8859-1"),
        ("application/vnd.kicad+json", "application/vnd.kicad+json"),
    ],
)
def test_content_type_is_normalized(value: str, expected: str) -> None:
    assert normalize_content_type(value) == expected


@pytest.mark.parametrize(
    "value",
    ["text", "text/", "/html", "text/html\r\nX-Injected: 1", "text/html; boundary=x",
     "text/html;charset=", "te xt/html", "text/html\x00", "text/html\n; charset=utf-8"],
)
def test_malformed_content_type_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="media type"):
        normalize_content_type(value)


# --- file names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("datasheet.pdf", "datasheet.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\photo.jpg", "photo.jpg"),
        ("a\r\nSet-Cookie: x=1.txt", "aSet-Cookie: x=1.txt"),
        ("..", ""),
        (".bashrc", "bashrc"),
        ("evil\u202egpj.exe", "evilgpj.exe"),  # bidi override dropped
        ("  spaced  ", "spaced"),
        ("Widerstände 10kΩ.pdf", "Widerstände 10kΩ.pdf"),
    ],
)
def test_filenames_are_reduced_to_a_safe_last_segment(name: str, expected: str) -> None:
    assert sanitize_filename(name) == expected


def test_long_filenames_keep_their_extension() -> None:
    name = sanitize_filename("x" * 400 + ".pdf")
    assert len(name) == 255 and name.endswith(".pdf")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("café.pdf", "cafe.pdf"),
        ('say "hi".txt', "say _hi_.txt"),
        ("50%.txt", "50_.txt"),
        ("back\\slash", "back_slash"),
        ("日本語.pdf", "download.pdf"),
        ("日本語", "download"),
    ],
)
def test_ascii_fallback(name: str, expected: str) -> None:
    assert ascii_filename(name) == expected


def _disposition_parts(header: str) -> tuple[str, str, str]:
    kind, fallback, extended = header.split("; ")
    assert fallback.startswith('filename="') and fallback.endswith('"')
    assert extended.startswith("filename*=UTF-8''")
    return kind, fallback[len('filename="') : -1], unquote(extended[len("filename*=UTF-8''") :])


@pytest.mark.parametrize(
    ("name", "fallback", "decoded"),
    [
        ('quo"te.txt', "quo_te.txt", 'quo"te.txt'),
        ("line\r\nbreak.txt", "linebreak.txt", "linebreak.txt"),
        ("Ωhm.pdf", "hm.pdf", "Ωhm.pdf"),
        ("../../secret.txt", "secret.txt", "secret.txt"),
        ("a;b=c.txt", "a;b=c.txt", "a;b=c.txt"),
    ],
)
def test_content_disposition_cannot_be_broken(name: str, fallback: str, decoded: str) -> None:
    header = content_disposition("attachment", name)
    assert header.isascii() and "\r" not in header and "\n" not in header
    kind, got_fallback, got_decoded = _disposition_parts(header)
    assert (kind, got_fallback, got_decoded) == ("attachment", fallback, decoded)
    assert '"' not in got_fallback


def test_content_disposition_without_a_usable_name_is_just_the_type() -> None:
    assert content_disposition("inline", None) == "inline"
    assert content_disposition("attachment", "../..") == "attachment"


# --- presentation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "detected", ["image/png", "image/jpeg", "text/plain", "application/pdf"]
)
def test_safe_content_is_inline_by_default(detected: str) -> None:
    assert decide_presentation(detected).inline


@pytest.mark.parametrize(
    "detected",
    ["image/svg+xml", "text/html", "application/xml", "application/xhtml+xml",
     "application/octet-stream", "application/zip"],
)
def test_active_or_unknown_content_is_always_an_attachment_with_sandbox(detected: str) -> None:
    presentation = decide_presentation(detected, disposition="inline")
    assert presentation.content_disposition == "attachment"
    assert presentation.content_security_policy == SANDBOX_CSP


@pytest.mark.parametrize("requested", ["text/html", "image/svg+xml", "text/xml",
                                       "application/javascript", "text/html; charset=utf-8"])
def test_client_type_cannot_make_inline_active_content(requested: str) -> None:
    presentation = decide_presentation("text/plain", requested_type=requested)
    assert presentation.content_type == requested
    assert not presentation.inline
    assert presentation.content_security_policy == SANDBOX_CSP


def test_safe_client_type_cannot_make_active_bytes_inline() -> None:
    presentation = decide_presentation("text/html", requested_type="image/png")
    assert not presentation.inline


def test_detected_text_is_utf8() -> None:
    assert decide_presentation("text/plain").content_type == "text/plain; charset=utf-8"


def test_attachment_can_be_requested_for_safe_content() -> None:
    presentation = decide_presentation("image/png", disposition="attachment", filename="a.png")
    assert presentation.content_disposition.startswith("attachment; filename=")


def test_every_presentation_but_inline_pdf_is_sandboxed() -> None:
    assert decide_presentation("image/png").content_security_policy == SANDBOX_CSP
    assert decide_presentation("application/pdf").content_security_policy == PDF_INLINE_CSP
    attached = decide_presentation("application/pdf", disposition="attachment")
    assert attached.content_security_policy == SANDBOX_CSP
    claimed = decide_presentation("text/plain", requested_type="application/pdf")
    assert claimed.content_security_policy == SANDBOX_CSP


# --- reading ----------------------------------------------------------------------------------


@pytest.fixture
def driver(tmp_path) -> LocalDriver:
    return LocalDriver(str(tmp_path / "blobs"))


def _put(driver: LocalDriver, data: bytes) -> str:
    import io

    driver.put("cas/" + "b" * 64, io.BytesIO(data), len(data))
    return "cas/" + "b" * 64


def test_sniff_reads_only_the_head(driver: LocalDriver) -> None:
    key = _put(driver, b"%PDF-1.7\n" + b"x" * 100_000)
    assert sniff_blob(driver, key) == "application/pdf"
    assert sniff_blob(driver, key, 100_009) == "application/pdf"


@pytest.mark.parametrize(("start", "end"), [(0, 99_999), (0, 9), (50_000, 99_999), (0, 8191)])
def test_open_body_streams_the_range_and_sniffs_from_the_start(
    driver: LocalDriver, start: int, end: int
) -> None:
    data = b"plain text " * 10_000
    data = data[:100_000]
    key = _put(driver, data)
    body, detected = open_body(driver, key, start, end, size=len(data), sniff=True)
    assert b"".join(body) == data[start : end + 1]
    assert detected == "text/plain"


def test_open_body_of_an_empty_blob(driver: LocalDriver) -> None:
    key = _put(driver, b"")
    body, detected = open_body(driver, key, 0, -1, size=0, sniff=True)
    assert list(body) == [] and detected == "application/octet-stream"


def test_open_body_closes_the_driver_stream(driver: LocalDriver, monkeypatch) -> None:
    key = _put(driver, b"x" * 200_000)
    closed: list[bool] = []
    original = driver.open

    def tracking_open(k: str, start: int = 0, end: int | None = None):
        chunks = original(k, start, end)
        real_close = chunks.close  # type: ignore[attr-defined]
        chunks.close = lambda: (closed.append(True), real_close())  # type: ignore[attr-defined]
        return chunks

    monkeypatch.setattr(driver, "open", tracking_open)
    body, _ = open_body(driver, key, 0, 199_999, size=200_000, sniff=True)
    next(body)
    body.close()  # type: ignore[attr-defined]
    assert closed == [True]
