"""Content sniffing and the polyglot check run in linear time on hostile bytes (issue 16 item 2).

Each check runs in a child process that must use less than :data:`BOUND_SECONDS` of CPU for
1 MiB and is killed after :data:`KILL_AFTER_SECONDS`, so a regression to backtracking fails the
test instead of pinning a CPU for minutes. The bound is generous (the scans take milliseconds);
timing itself is measured in bench/, not here.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from typing import Any

import pytest

from core.cas.sniff import SNIFF_BYTES, detect_content_type, find_markup

BOUND_SECONDS = 2.0
KILL_AFTER_SECONDS = 15.0
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


def _sniff_every_prefix(data: bytes, cpu_seconds: Any) -> None:
    started = time.process_time()
    detect_content_type(data[:SNIFF_BYTES])
    detect_content_type(data)  # more than the server ever sniffs: still linear
    find_markup(data)
    cpu_seconds.value = time.process_time() - started


def _cpu_seconds_bounded(function: Callable[[bytes, Any], None], data: bytes) -> float:
    """Run ``function(data)`` in a child process; return the CPU seconds it took.

    The child is killed (and the test fails) after :data:`KILL_AFTER_SECONDS` of wall time, so a
    backtracking regression cannot pin a CPU; CPU time, not wall time, is compared with the
    bound, so a busy machine does not make the test flaky.
    """
    context = multiprocessing.get_context("fork")
    cpu_seconds = context.Value("d", -1.0)
    child = context.Process(target=function, args=(data, cpu_seconds), daemon=True)
    child.start()
    child.join(KILL_AFTER_SECONDS)
    if child.is_alive():
        child.kill()
        child.join()
        pytest.fail(f"sniffing {len(data)} hostile bytes ran for more than {KILL_AFTER_SECONDS} s")
    assert child.exitcode == 0
    return float(cpu_seconds.value)


@pytest.mark.parametrize("data", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_markup_is_sniffed_within_the_bound(data: bytes) -> None:
    assert 0 <= _cpu_seconds_bounded(_sniff_every_prefix, data) < BOUND_SECONDS


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
