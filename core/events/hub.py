"""One event hub per worker process: watches the ``events`` table and hands events to streams.

A daemon thread (started with the first subscriber) waits for new rows: on PostgreSQL it
``LISTEN``\\ s on :data:`core.events.store.CHANNEL` on a connection of its own (and reads anyway
every :data:`PG_FALLBACK_SECONDS`, in case a notification was missed while reconnecting); on
SQLite it reads every :data:`SQLITE_POLL_SECONDS` (one indexed query; every worker and every
instance sharing the file sees every event). Each new event is offered to the subscriptions it
is meant for (all, or those with its ``request_id``).

A :class:`Subscription` is a bounded inbox: a stream that does not keep up (more than
:data:`MAX_PENDING` events waiting) is marked ``overflowed`` and its stream ends it, so a slow
client can never make the hub hold an unbounded backlog.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import peewee

from core.db import open_database
from core.events import store
from core.events.store import Event

log = logging.getLogger("partsbin.events")

SQLITE_POLL_SECONDS = 0.2
PG_FALLBACK_SECONDS = 1.0
PRUNE_EVERY_SECONDS = 60.0
RECONNECT_SECONDS = 1.0
#: Events a subscription may have waiting before it is dropped as too slow.
MAX_PENDING = 64


class Subscription:
    """What one open stream receives. ``wake`` is called (from the hub's thread) whenever
    something arrived or the subscription was closed; the stream then calls :meth:`take`."""

    def __init__(self, request_id: str | None, wake: Callable[[], None]) -> None:
        self.request_id = request_id
        self._wake = wake
        self._lock = threading.Lock()
        self._pending: list[Event] = []
        self.overflowed = False
        self.closed = False

    def offer(self, event: Event) -> None:
        """Queue ``event`` (or mark the subscription overflowed) and wake the stream."""
        with self._lock:
            if self.closed or self.overflowed:
                return
            if len(self._pending) >= MAX_PENDING:
                self.overflowed = True
                self._pending.clear()
            else:
                self._pending.append(event)
        self._wake()

    def take(self) -> list[Event]:
        """Every queued event, oldest first; the queue is then empty."""
        with self._lock:
            events, self._pending = self._pending, []
        return events

    def close(self) -> None:
        """End the subscription (the stream sees ``closed`` and finishes)."""
        with self._lock:
            self.closed = True
            self._pending.clear()
        self._wake()


class EventHub:
    """The subscriptions of one process and the thread that feeds them.

    ``database_url`` is the app's database; the hub opens connections of its own.
    """

    def __init__(self, database_url: str, db_timeout: float = 5.0) -> None:
        self.database_url = database_url
        self.db_timeout = db_timeout
        #: Marks the internal "may I stream?" request (see :mod:`core.events.asgi`).
        self.preflight_token = secrets.token_hex(16)
        self._subscriptions: set[Subscription] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._ready = threading.Event()

    @property
    def subscriber_count(self) -> int:
        """How many streams are open in this process."""
        with self._lock:
            return len(self._subscriptions)

    def subscribe(self, request_id: str | None, wake: Callable[[], None]) -> Subscription:
        """Open a subscription (starting the watcher thread if needed). Events published from
        the moment this returns are delivered."""
        self.start()
        subscription = Subscription(request_id, wake)
        with self._lock:
            self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Forget a subscription (idempotent)."""
        with self._lock:
            self._subscriptions.discard(subscription)

    def close_all(self) -> None:
        """Close every subscription (server shutdown): every stream ends."""
        with self._lock:
            subscriptions = list(self._subscriptions)
        for subscription in subscriptions:
            subscription.close()

    def stop(self) -> None:
        """Close every subscription and stop the watcher thread."""
        self.close_all()
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def dispatch(self, event: Event) -> None:
        """Offer ``event`` to the subscriptions it is meant for."""
        with self._lock:
            targets = [
                s
                for s in self._subscriptions
                if event.request_id is None or s.request_id == event.request_id
            ]
        for subscription in targets:
            subscription.offer(event)

    # -- the watcher thread ---------------------------------------------------------------------

    def start(self) -> None:
        """Start the watcher thread (once); wait (bounded) until it has read where the table
        ends, so events published afterwards are delivered."""
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._run, name="partsbin-event-hub", daemon=True
            )
            self._thread.start()
        self._ready.wait(timeout=self.db_timeout + 1)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                if self.database_url.startswith(("postgresql", "postgres", "psycopg3")):
                    self._watch_postgres()
                else:
                    self._watch_sqlite()
            except Exception as exc:  # noqa: BLE001 - keep watching whatever the database does
                log.warning("event hub: %s; reconnecting", exc)
                self._stopping.wait(RECONNECT_SECONDS)

    def _deliver(self, db: peewee.Database, last_id: int) -> int:
        while True:
            events = store.events_after(db, last_id)
            for event in events:
                self.dispatch(event)
                last_id = event.id
            if len(events) < store.READ_BATCH:
                return last_id

    def _watch_sqlite(self) -> None:
        db = open_database(self.database_url, timeout=self.db_timeout)
        try:
            last_id = store.latest_id(db)
            self._ready.set()
            pruned_at = 0.0
            while not self._stopping.wait(SQLITE_POLL_SECONDS):
                last_id = self._deliver(db, last_id)
                pruned_at = self._maybe_prune(db, pruned_at)
        finally:
            db.close()

    def _watch_postgres(self) -> None:
        import psycopg

        url = self.database_url
        for prefix in ("psycopg3", "postgres"):
            if url.startswith(prefix + "://"):
                url = "postgresql://" + url[len(prefix) + 3 :]
        db = open_database(self.database_url, timeout=self.db_timeout)
        listener: Any = psycopg.connect(
            url, autocommit=True, connect_timeout=max(1, int(self.db_timeout))
        )
        try:
            listener.execute(f"LISTEN {store.CHANNEL}")
            last_id = store.latest_id(db)
            self._ready.set()
            pruned_at = 0.0
            while not self._stopping.is_set():
                for _notice in listener.notifies(timeout=PG_FALLBACK_SECONDS, stop_after=1):
                    pass
                last_id = self._deliver(db, last_id)
                pruned_at = self._maybe_prune(db, pruned_at)
        finally:
            listener.close()
            db.close()

    def _maybe_prune(self, db: peewee.Database, pruned_at: float) -> float:
        now = time.monotonic()
        if now - pruned_at < PRUNE_EVERY_SECONDS:
            return pruned_at
        try:
            store.prune(db)
        except peewee.OperationalError as exc:  # e.g. SQLite busy: try again next time
            log.info("event hub: pruning skipped: %s", exc)
        return now
