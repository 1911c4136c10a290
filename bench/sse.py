"""API latency with 200 open event streams vs none, and event fan-out time to 200 streams.

``partsbin serve`` runs as a subprocess with its default worker settings (2 workers, 4 request
threads each), a temp SQLite database with 50 parts and ``PARTSBIN_TESTING=1`` (to publish test
events over HTTP). The API load is ``GET /api/parts?limit=50`` from 4 closed-loop clients (one
keep-alive connection each, separate processes), measured idle and again while 200 streams are
open (all held by one selector thread in this process, reading everything they are sent). Fan-out
is the time from publishing an event (``POST /api/testing/sse/task-event``) until every one of the
200 streams has received it, for 20 events. Client and server share the machine's CPUs.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from bench.common import free_port, median, percentile, print_table, wait_for_http
from bench.http_load import Scenario, client_pool, run_load

STREAMS = 200
CLIENTS = 4
PARTS = 50
EVENTS = 20
DURATION = 10.0
QUICK_DURATION = 4.0
REQUEST_ID = "bench"


class StreamHolder:
    """``count`` open ``/api/sse/stream`` connections, read by one selector thread."""

    def __init__(self, port: int, count: int) -> None:
        self.selector = selectors.DefaultSelector()
        self.received: dict[int, bytearray] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.closed = 0
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(
                f"GET /api/sse/stream?request_id={REQUEST_ID} HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n\r\n".encode()
            )
            sock.setblocking(False)
            self.received[sock.fileno()] = bytearray()
            self.selector.register(sock, selectors.EVENT_READ)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while not self.stopping.is_set():
            for key, _ in self.selector.select(timeout=0.1):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(65536)
                except BlockingIOError:
                    continue
                if not data:
                    self.selector.unregister(sock)
                    self.closed += 1
                    continue
                with self.lock:
                    buffer = self.received[sock.fileno()]
                    buffer += data
                    del buffer[:-8192]  # keep the tail: markers are searched in recent data

    def all_have(self, marker: bytes) -> bool:
        with self.lock:
            return all(marker in buffer for buffer in self.received.values())

    def wait_for(self, marker: bytes, timeout: float = 30.0) -> float:
        """Seconds until every stream has received ``marker``."""
        started = time.perf_counter()
        while not self.all_have(marker):
            if time.perf_counter() - started > timeout:
                raise TimeoutError(f"not every stream received {marker!r} in {timeout} s")
            time.sleep(0.001)
        return time.perf_counter() - started

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        self.selector.close()


def _post(port: int, path: str, body: dict[str, object]) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def _start_server(folder: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PARTSBIN_DATABASE_URL": f"sqlite:///{folder / 'partsbin.db'}",
        "PARTSBIN_STORAGE_URL": f"file://{folder / 'blobs'}",
        "PARTSBIN_HOST": "127.0.0.1",
        "PARTSBIN_PORT": str(port),
        "PARTSBIN_LOG_LEVEL": "WARNING",
        "PARTSBIN_TESTING": "1",
    }
    partsbin = Path(sys.executable).parent / "partsbin"
    with open(folder / "server.log", "wb") as log:
        return subprocess.Popen(
            [str(partsbin), "serve", "--migrate"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def run(args: argparse.Namespace) -> None:
    duration = QUICK_DURATION if args.quick else DURATION
    with tempfile.TemporaryDirectory(prefix="partsbin-bench-sse-") as tmp:
        folder = Path(tmp)
        port = free_port()
        process = _start_server(folder, port)
        try:
            wait_for_http(f"http://127.0.0.1:{port}/health/readyz", timeout=60)
            for number in range(PARTS):
                _post(port, "/api/parts", {"description": f"bench part {number}"})
            scenario = Scenario("GET /api/parts?limit=50", "/api/parts?limit=50", {}, 200)
            rows = []
            with client_pool(CLIENTS) as pool:
                run_load(pool, CLIENTS, port, scenario, 2.0)  # warm-up
                idle = run_load(pool, CLIENTS, port, scenario, duration)
                holder = StreamHolder(port, STREAMS)
                try:
                    opened = holder.wait_for(b'"type":"version"')
                    busy = run_load(pool, CLIENTS, port, scenario, duration)
                    fan_out = []
                    for number in range(EVENTS):
                        task_id = f"fan-{number}"
                        started = time.perf_counter()
                        _post(
                            port,
                            "/api/testing/sse/task-event",
                            {"request_id": REQUEST_ID, "task_id": task_id,
                             "event_type": "progress_update"},
                        )
                        holder.wait_for(f'"task_id":"{task_id}"'.encode())
                        fan_out.append(time.perf_counter() - started)
                    dropped = holder.closed
                finally:
                    holder.close()
            for name, result in (("idle (no streams)", idle), (f"{STREAMS} streams open", busy)):
                rows.append(
                    [
                        name,
                        result.per_second,
                        median(result.latencies) * 1000,
                        percentile(result.latencies, 99) * 1000,
                        result.errors,
                    ]
                )
            print_table(
                f"API latency, {CLIENTS} clients, {duration:.0f} s each",
                ["case", "req/s", "median ms", "p99 ms", "errors"],
                rows,
            )
            ratio = median(busy.latencies) / median(idle.latencies)
            print(f"\nmedian latency with {STREAMS} streams / idle: {ratio:.2f}x")
            print(f"all {STREAMS} streams open and sent their version event in {opened:.2f} s")
            print_table(
                f"Fan-out of one event to {STREAMS} streams ({EVENTS} events)",
                ["median ms", "p99 ms", "max ms", "streams closed by the server"],
                [[median(fan_out) * 1000, percentile(fan_out, 99) * 1000,
                  max(fan_out) * 1000, dropped]],
            )
        finally:
            _stop_server(process)
