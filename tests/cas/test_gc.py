"""core.cas.gc: what garbage collection keeps and removes (SQLite and PostgreSQL).

Blobs are made "old" by moving the GC's clock forward (``now=``), never by sleeping.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from core.attachments.models import Attachment, AttachmentSet
from core.cas import gc as gc_module
from core.cas.gc import GcReport, collect_garbage, parse_grace
from core.cas.ingest import StoredBlob
from core.cas.thumbnails import thumbnail_key
from core.db import is_sqlite
from core.plugins import PluginError, hookimpl
from core.state import get_state
from storage_drivers.base import BlobStat, StorageDriver, StorageUnavailable
from storage_drivers.local import LocalDriver
from tests.cas.conftest import AgelessLocalDriver, png, put_blob, use_timed_storage

GRACE = dt.timedelta(hours=24)
LATER = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)  # every blob made by a test is "old"


class ReferencingPlugin:
    """A plugin whose ``referenced_blobs`` answer the test controls."""

    def __init__(self) -> None:
        self.hashes: list[str] | None = None

    @hookimpl
    def referenced_blobs(self) -> list[str] | None:
        return self.hashes


@pytest.fixture
def plugin() -> ReferencingPlugin:
    return ReferencingPlugin()


@pytest.fixture
def app_plugins(plugin: ReferencingPlugin) -> list[object]:
    return [plugin]


@pytest.fixture
def storage(app: Flask, tmp_path: Path) -> StorageDriver:
    return use_timed_storage(app, tmp_path / "gc-blobs")


def blob(app: Flask, data: bytes) -> StoredBlob:
    return put_blob(app, data)


def thumb(storage: StorageDriver, sha256: str, size: int = 100) -> str:
    key = thumbnail_key(sha256, size)
    storage.put(key, io.BytesIO(b"jpeg"), 4)
    return key


def attach(app: Flask, **keys: str | None) -> Attachment:
    with app.app_context():
        attachment_set = AttachmentSet.create()
        return Attachment.create(
            attachment_set=attachment_set, attachment_type="image", title="t", **keys
        )


def keys(storage: StorageDriver) -> set[str]:
    return {stat.key for stat in storage.iter_keys("")}


def gc(app: Flask, **kwargs: Any):
    kwargs.setdefault("now", LATER)
    with app.app_context():
        return collect_garbage(get_state(app), kwargs.pop("grace", GRACE), **kwargs)


# --- grace parsing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0),
        ("30s", 30),
        ("15m", 900),
        ("24h", 86400),
        ("7d", 604800),
        ("45", 45),
        (" 2H ", 7200),
    ],
)
def test_grace_forms(text: str, seconds: int) -> None:
    assert parse_grace(text) == dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "-1h", "1.5h", "1w", "h", "24 hours", "99999999999d"])
def test_bad_grace_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="grace period"):
        parse_grace(text)


# --- what is kept and removed -----------------------------------------------------------------


def test_removes_old_orphans_and_their_thumbnails(app: Flask, storage: StorageDriver) -> None:
    orphan = blob(app, b"orphan")
    thumb_key = thumb(storage, orphan.sha256)
    report = gc(app)
    assert keys(storage) == set()
    assert report.removed == 2
    assert report.bytes_freed == len(b"orphan") + 4
    assert set(report.removed_keys) == {orphan.key, thumb_key}


def test_keeps_blobs_referenced_by_attachments(app: Flask, storage: StorageDriver) -> None:
    photo = blob(app, png())
    preview = blob(app, b"preview image")
    attach(app, blob_key=photo.key)
    attach(app, blob_key=None, preview_blob_key=preview.key)
    photo_thumb = thumb(storage, photo.sha256)
    report = gc(app)
    assert keys(storage) == {photo.key, preview.key, photo_thumb}
    assert report.removed == 0 and report.kept == 3


def test_keeps_young_orphans(app: Flask, storage: StorageDriver) -> None:
    young = blob(app, b"uploading")
    young_thumb = thumb(storage, young.sha256)
    report = gc(app, now=dt.datetime.now(dt.UTC))
    assert keys(storage) == {young.key, young_thumb}
    assert report.removed == 0


def test_zero_grace_removes_orphans_in_one_run(app: Flask, storage: StorageDriver) -> None:
    orphan = blob(app, b"orphan")
    gc(app, grace=dt.timedelta(0), now=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))
    assert orphan.key not in keys(storage)


def test_blobs_of_unknown_age_are_kept(app: Flask, tmp_path: Path) -> None:
    state = get_state(app)
    state.storage = state.read_storage = AgelessLocalDriver(str(tmp_path / "ageless"))
    orphan = blob(app, b"no mtime")
    report = gc(app)
    assert report.removed == 0
    assert get_state(app).storage.exists(orphan.key)


def test_removes_thumbnails_whose_blob_is_gone(app: Flask, storage: StorageDriver) -> None:
    kept = blob(app, b"kept")
    attach(app, blob_key=kept.key)
    stray = thumb(storage, "7" * 64, 50)
    report = gc(app)
    assert keys(storage) == {kept.key}
    assert report.removed_keys == [stray]


def test_keeps_thumbnails_of_young_blobs(app: Flask, storage: StorageDriver) -> None:
    young = blob(app, b"young")
    key = thumb(storage, young.sha256)
    gc(app, now=dt.datetime.now(dt.UTC))
    assert key in keys(storage)


def legacy_thumb(storage: StorageDriver, sha256: str, name: str = "100.jpg") -> str:
    """A thumbnail key of the earlier layout, ``thumbs/<sha256>/<name>``."""
    key = f"thumbs/{sha256}/{name}"
    storage.put(key, io.BytesIO(b"old jpeg"), 8)
    return key


def test_removes_the_earlier_thumbnail_layout_and_keeps_the_flat_one(
    app: Flask, storage: StorageDriver
) -> None:
    live = blob(app, b"live photo")
    attach(app, blob_key=live.key)
    young = blob(app, b"young photo")
    assert isinstance(storage, LocalDriver)
    os.utime(storage.path_for(young.key), (LATER.timestamp(), LATER.timestamp()))
    orphan = blob(app, b"orphan photo")
    current = thumb(storage, live.sha256, 300)
    superseded = {
        legacy_thumb(storage, live.sha256, "300.jpg"),
        legacy_thumb(storage, live.sha256, "unrenderable"),
        legacy_thumb(storage, young.sha256),
        legacy_thumb(storage, orphan.sha256),
        legacy_thumb(storage, "7" * 64),
    }
    orphan_thumb = thumb(storage, orphan.sha256)

    dry = gc(app, dry_run=True, now=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    assert set(dry.removed_keys) == superseded  # every blob is young at this clock
    assert keys(storage) >= superseded
    report = gc(app)

    assert set(report.removed_keys) == superseded | {orphan.key, orphan_thumb}
    assert report.kept == 3 and report.removed == 7
    assert keys(storage) == {live.key, young.key, current}


def test_never_touches_foreign_keys(app: Flask, storage: StorageDriver) -> None:
    for key in ("cas/not-a-hash", "thumbs/readme.txt", "other/thing"):
        storage.put(key, io.BytesIO(b"x"), 1)
    gc(app)
    assert keys(storage) == {"cas/not-a-hash", "thumbs/readme.txt", "other/thing"}


def test_dry_run_removes_nothing_but_reports(app: Flask, storage: StorageDriver) -> None:
    orphan = blob(app, b"orphan")
    thumb(storage, orphan.sha256)
    before = keys(storage)
    report = gc(app, dry_run=True)
    assert keys(storage) == before
    assert report.dry_run and report.removed == 2
    assert "would remove 2" in report.summary()


def test_respects_the_referenced_blobs_hook(
    app: Flask, storage: StorageDriver, plugin: ReferencingPlugin
) -> None:
    by_hash = blob(app, b"kit photo")
    by_key = blob(app, b"kit manual")
    orphan = blob(app, b"nobody")
    plugin.hashes = [by_hash.sha256, by_key.key, "not a hash", orphan.sha256 + "\n"]
    gc(app)
    assert keys(storage) == {by_hash.key, by_key.key}
    assert orphan.key not in keys(storage)


def test_rechecks_references_right_before_deleting(app: Flask, storage: StorageDriver) -> None:
    late = blob(app, b"referenced during the run")

    def row_after_listing(iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            yield item
            attach(app, blob_key=late.key)  # an upload commits its row after the listing saw it

    @contextmanager
    def insert_row_before_removal(
        iterable: Iterable[Any], *, label: str, length: int | None
    ) -> Any:
        yield row_after_listing(iterable)

    report = gc(app, progress=insert_row_before_removal)
    assert late.key in keys(storage)
    assert report.removed == 0


def test_is_idempotent(app: Flask, storage: StorageDriver) -> None:
    blob(app, b"orphan")
    attach(app, blob_key=blob(app, b"kept").key)
    first = gc(app)
    second = gc(app)
    assert first.removed == 1
    assert second.removed == 0 and second.kept == first.kept


def test_summary_counts_objects_and_bytes(app: Flask, storage: StorageDriver) -> None:
    attach(app, blob_key=blob(app, b"k" * 1500).key)
    blob(app, b"r" * 200)
    report = gc(app)
    assert (report.scanned, report.kept, report.removed) == (2, 1, 1)
    assert (report.bytes_kept, report.bytes_freed) == (1500, 200)
    assert report.summary() == "scanned 2 objects: kept 1 (1.5 KB), removed 1 (200 B)"


def test_progress_sees_every_phase(app: Flask, storage: StorageDriver) -> None:
    blob(app, b"orphan")
    seen: list[tuple[str, int | None]] = []

    def record(
        iterable: Iterable[Any], *, label: str, length: int | None
    ) -> AbstractContextManager[Iterable[Any]]:
        seen.append((label, length))
        return contextmanager(lambda: (yield iterable))()

    gc(app, progress=record)
    assert seen == [("scanning", None)]


def test_an_attaching_transaction_holds_off_the_delete(
    app: Flask, storage: StorageDriver, db_url: str
) -> None:
    """An upload that checked the blob exists holds its lock until its row is committed.

    The GC run started meanwhile must wait for that commit, then see the row and keep the blob.
    (Deterministic on PostgreSQL, where a waiting advisory lock is visible in ``pg_locks``.)
    """
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite excludes the two transactions with BEGIN IMMEDIATE; nothing to observe")
    import threading
    import time

    from core.attachments import service

    target = blob(app, b"being attached right now")
    state = get_state(app)
    locked, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def attaching() -> None:
        try:
            with app.app_context():
                set_id = AttachmentSet.create().id
                with service.locked_set(set_id):
                    service._check_blobs(state, [target.key])  # takes the blob's lock
                    locked.set()
                    assert release.wait(30)
                    Attachment.create(
                        attachment_set=set_id,
                        attachment_type="image",
                        title="t",
                        blob_key=target.key,
                    )
        except BaseException as exc:
            errors.append(exc)
            locked.set()

    def gc_waiting() -> bool:
        rows = state.database.execute_sql(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        ).fetchone()
        return bool(rows and rows[0])

    upload = threading.Thread(target=attaching)
    upload.start()
    assert locked.wait(30) and not errors
    result: list[Any] = []
    collector = threading.Thread(target=lambda: result.append(gc(app, grace=dt.timedelta(0))))
    collector.start()
    deadline = time.monotonic() + 30
    with app.app_context():
        while not gc_waiting():
            assert time.monotonic() < deadline, "GC never reached the blob's lock"
            assert collector.is_alive(), "GC finished without waiting for the lock"
            time.sleep(0.01)
    release.set()
    upload.join(30)
    collector.join(30)
    assert not errors
    assert target.key in keys(storage)
    assert result and result[0].removed == 0


class PausingDriver(LocalDriver):
    """The local driver, stopping right after its first ``operation`` of ``key`` (``"put"`` or
    ``"stat"``) once ``armed``, until the test lets it go on."""

    def __init__(self, root: str, operation: str, key: str) -> None:
        super().__init__(root)
        self.operation, self.key = operation, key
        self.reached, self.release = threading.Event(), threading.Event()
        self.armed = False

    def _pause(self, operation: str, key: str) -> None:
        if not self.armed or (operation, key) != (self.operation, self.key):
            return
        if not self.reached.is_set():
            self.reached.set()
            assert self.release.wait(30)

    def put(self, key: str, stream: Any, size: int | None = None) -> None:
        super().put(key, stream, size)
        self._pause("put", key)

    def stat(self, key: str) -> Any:
        found = super().stat(key)
        self._pause("stat", key)
        return found


def _gc_waits_for_a_blob_lock(app: Flask) -> bool:
    with app.app_context():
        rows = (
            get_state(app)
            .database.execute_sql(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            )
            .fetchone()
        )
    return bool(rows and rows[0])


def _race_upload_against_gc(
    app: Flask, driver: PausingDriver, data: bytes, grace: dt.timedelta
) -> tuple[Any, Any]:
    """Upload ``data`` in a thread; once the driver paused it, run GC in another thread, wait
    until GC queues on a blob lock (the upload holds it), then let the upload finish."""
    set_id = _new_set(app)
    answers: list[Any] = []
    uploader = threading.Thread(
        target=lambda: answers.append(
            app.test_client().post(
                f"/api/attachment-sets/{set_id}/attachments",
                data={"file": (io.BytesIO(data), "p.png"), "title": "t"},
                content_type="multipart/form-data",
            )
        )
    )
    uploader.start()
    assert driver.reached.wait(30), "the upload never reached the pause"
    reports: list[Any] = []
    collector = threading.Thread(target=lambda: reports.append(gc(app, grace=grace)))
    collector.start()
    deadline = time.monotonic() + 30
    while not _gc_waits_for_a_blob_lock(app):
        assert time.monotonic() < deadline, "GC never queued on the blob's lock"
        assert collector.is_alive(), "GC finished without waiting for the upload's lock"
        time.sleep(0.01)
    driver.release.set()
    uploader.join(30)
    collector.join(30)
    assert answers and reports
    return answers[0], reports[0]


def _new_set(app: Flask) -> int:
    with app.app_context():
        return int(AttachmentSet.create().id)


def _pausing_storage(
    app: Flask, tmp_path: Path, operation: str, data: bytes
) -> tuple[PausingDriver, str]:
    """The app's storage replaced by a :class:`PausingDriver` pausing at ``operation`` of the
    blob of ``data`` (not armed yet); returns it and the blob's hash."""
    sha = hashlib.sha256(data).hexdigest()
    driver = PausingDriver(str(tmp_path / "paused"), operation, f"cas/{sha}")
    state = get_state(app)
    state.storage = state.read_storage = driver
    return driver, sha


def test_new_bytes_cannot_be_collected_between_their_put_and_their_row_even_with_grace_0(
    app: Flask, tmp_path: Path, db_url: str
) -> None:
    """The upload holds the blob's lock from before its ``stat`` to its commit (PostgreSQL), so
    a GC run that lists the freshly put blob as an old orphan waits, then sees the row."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite stores the bytes before its one write lock is taken")
    data = png(33, 17)
    driver, sha = _pausing_storage(app, tmp_path, "put", data)
    driver.armed = True

    answer, report = _race_upload_against_gc(app, driver, data, dt.timedelta(0))

    assert answer.status_code == 201, answer.json
    assert driver.exists(f"cas/{sha}")
    assert report.removed == 0


def test_a_dedup_hit_cannot_lose_its_blob_between_its_stat_and_its_row(
    app: Flask, tmp_path: Path, db_url: str
) -> None:
    """The one ``stat`` of a dedup hit happens under the blob's lock, which the upload keeps until
    its row is committed: GC, finding the old unreferenced blob, waits and then keeps it."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite checks again under its one write lock; nothing to observe")
    data = png(35, 19)
    driver, sha = _pausing_storage(app, tmp_path, "stat", data)
    put_blob(app, data)  # an old orphan (the clock of the GC run is two days ahead)
    driver.armed = True

    answer, report = _race_upload_against_gc(app, driver, data, GRACE)

    assert answer.status_code == 201, answer.json
    assert driver.exists(f"cas/{sha}")
    assert report.removed == 0


# --- batches, resumption, reference streams -------------------------------------------------


class RecordingDriver(LocalDriver):
    """The local driver, recording each ``delete_many`` call; fails the call ``fail_at``."""

    def __init__(self, root: str, fail_at: int | None = None) -> None:
        super().__init__(root)
        self.calls: list[list[str]] = []
        self.fail_at = fail_at

    def delete_many(self, keys: Sequence[str]) -> None:
        self.calls.append(list(keys))
        if len(self.calls) == self.fail_at:
            super().delete_many(keys[: len(keys) // 2])  # the crash hits mid-call
            raise StorageUnavailable("connection lost")
        super().delete_many(keys)


def test_deletes_in_batches(app: Flask, tmp_path: Path, monkeypatch) -> None:
    driver = RecordingDriver(str(tmp_path / "batched"))
    get_state(app).storage = driver
    monkeypatch.setattr(gc_module, "DELETE_BATCH", 2)
    orphans = {blob(app, f"orphan {i}".encode()).key for i in range(5)}
    report = gc(app)
    assert sorted(len(call) for call in driver.calls) == [1, 2, 2]  # two batches at once
    assert {key for call in driver.calls for key in call} == orphans
    assert report.removed == 5 and report.batches == 3
    assert keys(driver) == set()


def _six_orphans_in_batches_of_two(app: Flask, driver: LocalDriver, monkeypatch) -> GcReport:
    """Run gc on ``driver`` holding six orphans, in batches of two (three batches)."""
    get_state(app).storage = driver
    monkeypatch.setattr(gc_module, "DELETE_BATCH", 2)
    for i in range(6):
        blob(app, f"orphan {i}".encode())
    return gc(app)


class PairingDriver(LocalDriver):
    """The local driver whose first two ``delete_many`` calls each wait for the other."""

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.pair = threading.Barrier(2, timeout=10)
        self.calls = 0

    def delete_many(self, keys: Sequence[str]) -> None:
        self.calls += 1
        if self.calls <= 2:
            self.pair.wait()  # broken (and gc failing) if the second call never comes meanwhile
        super().delete_many(keys)


def test_two_batches_are_deleted_at_once(app: Flask, tmp_path: Path, monkeypatch) -> None:
    if is_sqlite(get_state(app).database):
        pytest.skip("SQLite: a batch holds the only write lock, so batches go one at a time")
    driver = PairingDriver(str(tmp_path / "paired"))
    report = _six_orphans_in_batches_of_two(app, driver, monkeypatch)
    assert report.removed == 6 and report.batches == 3
    assert keys(driver) == set()


class OverlapDriver(LocalDriver):
    """The local driver whose first ``delete_many`` waits until the listing has moved on."""

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.listing_moved_on = threading.Event()
        self.overlapped: list[bool] = []

    def iter_sorted_keys(self, prefix: str = "") -> Iterator[BlobStat]:
        for index, stat in enumerate(super().iter_sorted_keys(prefix)):
            if prefix == "cas/" and index == 3:  # past the first batch of two
                self.listing_moved_on.set()
            yield stat

    def delete_many(self, keys: Sequence[str]) -> None:
        if not self.overlapped:
            self.overlapped.append(self.listing_moved_on.wait(10))
        super().delete_many(keys)


def test_a_batch_is_deleted_while_the_scan_goes_on(
    app: Flask, tmp_path: Path, monkeypatch
) -> None:
    driver = OverlapDriver(str(tmp_path / "overlap"))
    report = _six_orphans_in_batches_of_two(app, driver, monkeypatch)
    assert driver.overlapped == [True]  # run in turn, the first delete would wait in vain
    assert report.removed == 6 and report.batches == 3
    assert keys(driver) == set()


def test_a_run_that_fails_mid_way_is_finished_by_the_next(
    app: Flask, tmp_path: Path, monkeypatch
) -> None:
    root = str(tmp_path / "resumed")
    get_state(app).storage = RecordingDriver(root, fail_at=2)
    monkeypatch.setattr(gc_module, "DELETE_BATCH", 2)
    kept = blob(app, b"referenced")
    attach(app, blob_key=kept.key)
    for i in range(6):
        sha = blob(app, f"orphan {i}".encode()).sha256
        thumb(get_state(app).storage, sha)
    with pytest.raises(StorageUnavailable):
        gc(app)
    get_state(app).storage = RecordingDriver(root)
    gc(app)
    assert keys(get_state(app).storage) == {kept.key}
    assert gc(app).removed == 0


def test_a_lazy_plugin_stream_in_ascending_order_is_merged(
    app: Flask, storage: StorageDriver, plugin: ReferencingPlugin
) -> None:
    kept = sorted([blob(app, b"one").sha256, blob(app, b"two").sha256])
    orphan = blob(app, b"three")
    plugin.hashes = iter(kept)  # type: ignore[assignment]
    gc(app)
    assert keys(storage) == {f"cas/{sha}" for sha in kept}
    assert orphan.key not in keys(storage)


def test_a_lazy_plugin_stream_out_of_order_stops_gc_before_any_delete(
    app: Flask, storage: StorageDriver, plugin: ReferencingPlugin
) -> None:
    referenced = sorted([blob(app, b"one").sha256, blob(app, b"two").sha256], reverse=True)
    blob(app, b"orphan")
    before = keys(storage)
    plugin.hashes = iter(referenced)  # type: ignore[assignment]
    with pytest.raises(PluginError, match="ascending"):
        gc(app)
    assert keys(storage) == before
