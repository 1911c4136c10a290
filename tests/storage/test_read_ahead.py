"""``read_ahead``: listings fetched a few pages ahead, in order, bounded, stoppable."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from storage_drivers.s3 import parse_timestamp
from storage_drivers.streams import read_ahead, split_listing


def test_items_come_in_order_across_pages() -> None:
    pages = [[1, 2, 3], [], [4], [5, 6]]
    assert list(read_ahead(lambda: iter(pages))) == [1, 2, 3, 4, 5, 6]


def test_an_error_comes_after_the_items_before_it() -> None:
    def pages() -> Iterator[list[int]]:
        yield [1, 2]
        raise OSError("listing broke")

    seen: list[int] = []
    with pytest.raises(OSError, match="listing broke"):
        for item in read_ahead(pages):
            seen.append(item)
    assert seen == [1, 2]


def test_the_producer_runs_at_most_depth_pages_ahead_and_stops_when_closed() -> None:
    produced: list[int] = []
    finished = threading.Event()
    depth = 2

    def pages() -> Iterator[list[int]]:
        try:
            for number in range(1000):
                produced.append(number)
                yield [number]
        finally:
            finished.set()

    items = read_ahead(pages, depth=depth)
    assert next(items) == 0
    # One page taken, `depth` waiting in the hand-off, at most one more being delivered.
    time.sleep(0.3)  # time for an unbounded producer to run far ahead
    assert len(produced) <= 1 + depth + 1
    items.close()  # type: ignore[attr-defined]
    assert finished.wait(5), "the producer thread did not stop after the consumer closed"
    assert len(produced) <= 1 + depth + 2


def test_pages_are_fetched_in_another_thread() -> None:
    threads: list[str] = []

    def pages() -> Iterator[list[str]]:
        threads.append(threading.current_thread().name)
        yield ["a"]

    assert list(read_ahead(pages)) == ["a"]
    assert threads and threads[0] != threading.current_thread().name


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-02T16:40:00.000Z", "2026-12-02T16:40:00+00:00"),
        ("2026-12-02T16:40:00.250+01:00", "2026-12-02T16:40:00.250000+01:00"),
        ("2026-12-02T16:40:00", "2026-12-02T16:40:00+00:00"),
        ("Wed, 02 Dec 2026 16:40:00 GMT", "2026-12-02T16:40:00+00:00"),
    ],
)
def test_s3_timestamps_parse_to_aware_datetimes(text: str, expected: str) -> None:
    parsed = parse_timestamp(text)
    assert parsed.tzinfo is not None
    assert parsed.isoformat() == expected


def _pages_under(listed: dict[str, list[list[str]]], started: list[str],
                 gate: threading.Event | None = None):
    def pages(prefix: str) -> Iterator[list[str]]:
        started.append(prefix)
        for page in listed.get(prefix, []):
            if gate is not None:
                gate.wait(5)
            yield page
    return pages


def test_a_split_listing_yields_each_sub_listing_in_turn_in_character_order() -> None:
    listed = {"p/a": [["p/a1", "p/a2"], ["p/a3"]], "p/b": [], "p/c": [["p/c1"]]}
    started: list[str] = []
    items = split_listing(_pages_under(listed, started), "p/", "cba", streams=2, depth=1)
    assert list(items) == ["p/a1", "p/a2", "p/a3", "p/c1"]
    assert sorted(started) == ["p/a", "p/b", "p/c"]


def test_a_split_listing_runs_the_next_listings_while_the_first_is_read() -> None:
    started: list[str] = []
    gate = threading.Event()
    listed = {f"k/{c}": [[f"k/{c}1"]] for c in "0123"}
    items = split_listing(_pages_under(listed, started, gate), "k/", "0123", streams=3, depth=1)
    first = threading.Thread(target=lambda: next(items), daemon=True)
    first.start()
    deadline = time.monotonic() + 5
    while len(started) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(started) == ["k/0", "k/1", "k/2"]  # three at once, not the fourth yet
    gate.set()
    first.join(5)
    assert list(items) == ["k/11", "k/21", "k/31"]
    assert sorted(started) == ["k/0", "k/1", "k/2", "k/3"]


def test_a_failing_sub_listing_fails_the_split_listing_after_the_items_before_it() -> None:
    def pages(prefix: str) -> Iterator[list[str]]:
        if prefix == "x/1":
            raise OSError("listing broke")
        yield [prefix]

    seen: list[str] = []
    with pytest.raises(OSError, match="listing broke"):
        for item in split_listing(pages, "x/", "012", streams=3):
            seen.append(item)
    assert seen == ["x/0"]


def test_closing_a_split_listing_stops_every_sub_listing() -> None:
    stopped: list[str] = []

    def pages(prefix: str) -> Iterator[list[int]]:
        try:
            for number in range(10_000):
                yield [number]
        finally:
            stopped.append(prefix)

    items = split_listing(pages, "n/", "01234567", streams=4, depth=2)
    assert next(items) == 0
    items.close()  # type: ignore[attr-defined]
    deadline = time.monotonic() + 5
    while len(stopped) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sorted(stopped) == ["n/0", "n/1", "n/2", "n/3"]
