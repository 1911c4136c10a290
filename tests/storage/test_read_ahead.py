"""``read_ahead``: listings fetched a few pages ahead, in order, bounded, stoppable."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from storage_drivers.s3 import parse_timestamp
from storage_drivers.streams import read_ahead


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
