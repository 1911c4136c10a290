"""Content sniffing and the polyglot check run in linear time on hostile bytes (issue 16 item 2).

Each check runs in a child process killed after :data:`BOUND_SECONDS`, so a regression to
backtracking fails the test instead of pinning a CPU for minutes. The bound is generous (a
linear scan of 1 MiB takes milliseconds); timing itself is measured in bench/, not here.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable

import pytest

from core.cas.sniff import SNIFF_BYTES, detect_content_type, find_markup

BOUND_SECONDS = 2.0
MIB = 1024 * 1024

#: Inputs that made the old regular expressions backtrack, and friends, each 1 MiB or more.
HOSTILE = {
    "empty comments then one byte": b"<!---->" * 40 + b"x",
    "empty comments to 1 MiB": b"<!---->" * (MIB // 7) + b"x",
    "comment ends without a start": b"<!--" + b"-->" * (MIB // 3) + b"x",
    "unclosed comments": b"<!--" * (MIB // 4),
    "whitespace between comments": (b"<!-- -->" + b" " * 64) * (MIB // 72) + b"!",
    "doctype with endless whitespace": b"<!doctype" + b" " * MIB,
    "xml declaration never closed": b"<?xml" + b"a" * MIB,
    "svg doctype never closed": b"<?xml?><!DOCTYPE svg" + b" " * MIB,
    "many tag starts": b"<scrip" * (MIB // 6),
    "many doctypes": (b"<!doctype" + b"\t" * 100) * (MIB // 109),
}


def _sniff_every_prefix(data: bytes) -> None:
    detect_content_type(data[:SNIFF_BYTES])
    detect_content_type(data)  # more than the server ever sniffs: still linear
    find_markup(data)


def _run_bounded(function: Callable[[bytes], None], data: bytes) -> float:
    """Run ``function(data)`` in a child process; return its duration, or fail past the bound."""
    context = multiprocessing.get_context("fork")
    child = context.Process(target=function, args=(data,), daemon=True)
    started = time.monotonic()
    child.start()
    child.join(BOUND_SECONDS)
    elapsed = time.monotonic() - started
    if child.is_alive():
        child.kill()
        child.join()
        pytest.fail(f"sniffing {len(data)} hostile bytes took more than {BOUND_SECONDS} s")
    assert child.exitcode == 0
    return elapsed


@pytest.mark.parametrize("data", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_markup_is_sniffed_within_the_bound(data: bytes) -> None:
    assert _run_bounded(_sniff_every_prefix, data) < BOUND_SECONDS


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"<!---->" * 40 + b"<html>", "text/html"),
        (b"  <!-- a --> b --> <html lang=en>", "text/html"),  # a comment may end at any -->
        (b"<!-- a --><!-- b -->\n<BODY>", "text/html"),
        (b"<!DOCTYPE html>", "text/html"),
        (b"<htmlx>", "text/plain"),
        (b"<?xml version='1.0'?>\n<!-- c -->\n<!DOCTYPE svg PUBLIC 'x'>\n<svg>", "image/svg+xml"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml"),
        (b"<svgfoo>", "text/plain"),
        (b"<?xml version='1.0'?><feed/>", "application/xml"),
        (b"<!-- unclosed <html>", "text/plain"),
    ],
)
def test_markup_is_still_recognised(head: bytes, expected: str) -> None:
    assert detect_content_type(head) == expected


@pytest.mark.parametrize(
    ("data", "found"),
    [
        (b"\x89PNG....<script>alert(1)</script>", True),
        (b"....<!DOCTYPE   HTML>", True),
        (b"....<svg\nonload=x>", True),
        (b"....<scripts>", False),
        (b"....<!doctype>", False),
        (b"<" * 1000, False),
    ],
)
def test_the_polyglot_check_finds_markup_anywhere(data: bytes, found: bool) -> None:
    assert find_markup(data) is found
