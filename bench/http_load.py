"""A small closed-loop HTTP load generator: N processes, one keep-alive connection each.

Standard library only, so client processes start fast. Used by ``bench.serve``; other benchmarks
may reuse :func:`run_load`.
"""

from __future__ import annotations

import http.client
import multiprocessing
import multiprocessing.pool
import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Scenario:
    """``GET path`` with ``headers``; answers with another status count as errors."""

    name: str
    path: str
    headers: dict[str, str]
    expected_status: int


@dataclass
class LoadResult:
    """What all clients did during the measured window."""

    duration: float
    requests: int = 0
    errors: int = 0
    bytes: int = 0
    latencies: list[float] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.requests / self.duration

    @property
    def megabytes_per_second(self) -> float:
        return self.bytes / 1_000_000 / self.duration


def _ready() -> bool:
    return True


def _client(port: int, scenario: Scenario, start_at: float, end_at: float) -> LoadResult:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    result = LoadResult(end_at - start_at)
    while time.time() < start_at:
        time.sleep(0.0005)
    while time.time() < end_at:
        began = time.perf_counter()
        try:
            connection.request("GET", scenario.path, headers=scenario.headers)
            response = connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            result.errors += 1
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        result.latencies.append(time.perf_counter() - began)
        if response.status == scenario.expected_status:
            result.requests += 1
            result.bytes += len(body)
        else:
            result.errors += 1
    connection.close()
    return result


def client_pool(clients: int) -> multiprocessing.pool.Pool:
    """A pool of ``clients`` started (and proven alive) client processes."""
    pool = multiprocessing.get_context("spawn").Pool(clients)
    pool.starmap(_ready, [() for _ in range(clients)])
    return pool


def run_load(
    pool: multiprocessing.pool.Pool, clients: int, port: int, scenario: Scenario, duration: float
) -> LoadResult:
    """Run ``clients`` closed-loop clients of ``scenario`` for ``duration`` seconds."""
    start_at = time.time() + 0.3
    end_at = start_at + duration
    results = pool.starmap(_client, [(port, scenario, start_at, end_at)] * clients)
    total = LoadResult(duration)
    for result in results:
        total.requests += result.requests
        total.errors += result.errors
        total.bytes += result.bytes
        total.latencies.extend(result.latencies)
    return total
