"""Thumbnails pre-rendered after an upload, and the ladder of the on-demand path (issue 14).

Every test waits for the background runner with ``drain()`` (never a sleep). Uploads go through
the HTTP API of a real app, on the local driver and on S3 (the suite's SeaweedFS server, behind
the read-through cache as the app builds it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from PIL import Image
from werkzeug.test import TestResponse

from core.attachments.models import Attachment
from core.cas import background, thumbnails
from core.cas.gc import collect_garbage
from core.cas.ingest import ingest
from core.cas.thumbnails import PRERENDER_MIN_BYTES, decode_source, thumbnail_key
from core.cli import cli
from core.state import get_state
from tests.cas.key_locks import observed_key_lock
from tests.storage.targets import remote_url

LADDER = (150, 300, 500)
PDF_LADDER = (150, 300, 400, 500)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """One database is enough here: the subject is storage and the background runner."""
    return f"sqlite:///{tmp_path / 'partsbin.db'}"


@pytest.fixture
def prerender_setting() -> str | None:
    """``PARTSBIN_THUMBNAIL_PRERENDER`` of the app (``None``: the default); tests parametrize it."""
    return None


@pytest.fixture
def app_config(db_url: str, storage_url: str, prerender_setting: str | None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "database_url": db_url,
        "storage_url": storage_url,
        "log_level": "WARNING",
    }
    if prerender_setting is not None:
        config["thumbnail_prerender"] = prerender_setting
    return config


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "local":
        return f"file://{tmp_path / 'blobs'}"
    return remote_url(
        "s3",
        request.getfixturevalue("s3_server"),
        request.getfixturevalue("s3_bucket"),
        request.getfixturevalue("s3_prefix"),
    )


def photo(width: int = 1600, height: int = 1000) -> bytes:
    """A photo-like JPEG (gradient plus noise), distinct per call, larger than the threshold."""
    gradient = Image.linear_gradient("L").resize((width, height))
    noise = Image.effect_noise((width, height), 30)
    out = io.BytesIO()
    Image.merge("RGB", (gradient, noise, gradient.rotate(180))).save(out, "JPEG", quality=90)
    data = out.getvalue()
    assert len(data) >= PRERENDER_MIN_BYTES
    return data


def big_pdf() -> bytes:
    """A one-page PDF (an embedded noisy photo) larger than the pre-render threshold."""
    page = Image.effect_noise((1200, 900), 60).convert("RGB")
    out = io.BytesIO()
    page.save(out, "PDF", resolution=150.0)
    data = out.getvalue()
    assert len(data) >= PRERENDER_MIN_BYTES
    return data


def new_set(app: Flask) -> int:
    response = app.test_client().post("/api/parts", json={"description": "prerender"})
    assert response.status_code == 201, response.json
    return int(response.json["attachment_set_id"])


def get(app: Flask, path: str) -> TestResponse:
    """A GET through the app; when it returns, the request has ended, so what it left for the
    background runner (:func:`core.cas.background.submit_after_response`) is queued."""
    return app.test_client().get(path)


def upload(app: Flask, data: bytes, name: str = "photo.jpg", set_id: int | None = None) -> str:
    """Upload through the API; return the blob's hash."""
    set_id = new_set(app) if set_id is None else set_id
    response = app.test_client().post(
        f"/api/attachment-sets/{set_id}/attachments",
        data={"file": (io.BytesIO(data), name), "title": "t"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.json
    return str(response.json["attachment_url"]).split("?")[0].rsplit("/", 1)[-1]


def drain() -> None:
    assert background.runner().drain(timeout=60)


def stored_sizes(app: Flask, sha256: str) -> dict[int, tuple[int, int]]:
    """``{size: (width, height)}`` of the thumbnails of ``sha256`` in the store itself."""
    storage = get_state(app).storage
    found = {}
    for stat in storage.iter_keys(f"thumbs/{sha256}-"):
        name = stat.key.removeprefix(f"thumbs/{sha256}-")
        if name.endswith(".jpg"):
            image = Image.open(io.BytesIO(b"".join(storage.open(stat.key))))
            found[int(name.removesuffix(".jpg"))] = image.size
    return found


class DecodeCounter:
    """Wraps :func:`decode_source` and counts the decodes (``before`` runs first, if set)."""

    def __init__(self, before: Callable[[], None] | None = None) -> None:
        self.calls: list[str] = []
        self.before = before
        self.real = thumbnails.decode_source

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(threading.current_thread().name)
        if self.before is not None:
            self.before()
        return self.real(*args, **kwargs)


# --- after an upload ------------------------------------------------------------------------


def test_an_upload_prerenders_the_ui_sizes_from_one_decode(app: Flask, monkeypatch) -> None:
    decodes = DecodeCounter()
    monkeypatch.setattr(thumbnails, "decode_source", decodes)

    sha = upload(app, photo(1600, 1000))
    drain()

    assert stored_sizes(app, sha) == {150: (150, 94), 300: (300, 188), 500: (500, 313)}
    assert decodes.calls == ["partsbin-background"]


def test_prerendered_bytes_are_what_an_on_demand_render_gives(app: Flask) -> None:
    data = photo()
    sha = upload(app, data)
    drain()
    state = get_state(app)
    key = thumbnail_key(sha, 300)
    prerendered = b"".join(state.storage.open(key))
    state.read_storage.delete(key)  # the store's copy and any cached one

    response = get(app, f"/api/cas/{sha}?thumbnail=300")

    assert response.status_code == 200
    assert response.data == prerendered
    direct = decode_source(io.BytesIO(data), "image/jpeg", LADDER, max_pixels=10**9)
    assert direct.jpeg(300) == prerendered


def test_a_cold_request_during_the_prerender_waits_for_it_and_renders_nothing(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The request arrives while the background job holds the ladder's key locks: it queues on
    the lock of its size and is served what the job stored, with no second decode."""
    waiting = threading.Condition()
    target: dict[str, str] = {}

    rendering = threading.Event()

    def until_the_request_waits() -> None:
        if threading.current_thread().name != "partsbin-background":
            return
        entry = thumbnails._key_locks[target["key"]]
        rendering.set()
        with waiting:  # the job holds the lock (1 user); the request queues on it (2)
            assert waiting.wait_for(lambda: entry.users == 2, timeout=30)

    decodes = DecodeCounter(before=until_the_request_waits)
    monkeypatch.setattr(thumbnails, "_KeyLock", observed_key_lock(waiting))
    monkeypatch.setattr(thumbnails, "decode_source", decodes)
    data = photo()
    sha_hex = hashlib.sha256(data).hexdigest()
    target["key"] = thumbnail_key(sha_hex, 300)
    answers: list[Any] = []

    def request_thumbnail() -> None:
        answers.append(get(app, f"/api/cas/{sha_hex}?thumbnail=300"))

    assert upload(app, data) == sha_hex
    assert rendering.wait(30)  # the job holds the ladder's locks: now the request comes
    requester = threading.Thread(target=request_thumbnail)
    requester.start()
    requester.join(60)
    drain()

    assert decodes.calls == ["partsbin-background"]
    assert len(answers) == 1 and answers[0].status_code == 200
    stored = b"".join(get_state(app).storage.open(target["key"]))
    assert answers[0].data == stored
    assert set(stored_sizes(app, sha_hex)) == set(LADDER)
    assert thumbnails._key_locks == {}


@pytest.mark.parametrize("prerender_setting", [""])
def test_with_the_setting_empty_nothing_is_prerendered_and_one_size_is_rendered(
    app: Flask,
) -> None:
    sha = upload(app, photo())
    drain()
    assert stored_sizes(app, sha) == {}

    assert get(app, f"/api/cas/{sha}?thumbnail=300").status_code == 200
    drain()
    assert set(stored_sizes(app, sha)) == {300}


def test_a_failing_prerender_does_not_affect_the_upload(app: Flask, monkeypatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the decoder broke")

    monkeypatch.setattr(thumbnails, "decode_source", broken)
    set_id = new_set(app)
    sha = upload(app, photo(), set_id=set_id)
    drain()
    assert stored_sizes(app, sha) == {}
    listed = get(app, f"/api/attachment-sets/{set_id}/attachments")
    assert [item["attachment_url"].split("?")[0] for item in listed.json] == [f"/api/cas/{sha}"]

    monkeypatch.undo()  # the on-demand path still works
    assert get(app, f"/api/cas/{sha}?thumbnail=300").status_code == 200


def test_an_upload_succeeds_when_the_prerender_cannot_even_be_queued(
    app: Flask, monkeypatch
) -> None:
    def refuse(job: Any) -> bool:
        raise RuntimeError("the runner is broken")

    monkeypatch.setattr(background.runner(), "submit", refuse)
    sha = upload(app, photo())
    assert stored_sizes(app, sha) == {}


def test_a_full_queue_skips_the_prerender(app: Flask, monkeypatch) -> None:
    runner = background.BackgroundRunner(max_queued=1)
    monkeypatch.setattr(background, "_runner", runner)
    release = threading.Event()
    started = threading.Event()

    def blocking() -> None:
        started.set()
        assert release.wait(30)

    assert runner.submit(blocking)
    assert started.wait(30)
    assert runner.submit(lambda: None)  # the queue's one place is taken
    sha = upload(app, photo())
    release.set()
    assert runner.drain(30)

    assert runner.refused == 1
    assert stored_sizes(app, sha) == {}
    assert get(app, f"/api/cas/{sha}?thumbnail=150").status_code == 200


def test_a_dedup_upload_and_a_small_upload_queue_nothing(app: Flask, monkeypatch) -> None:
    data = photo()
    sha = upload(app, data)
    drain()
    submitted: list[object] = []
    real_submit = background.runner().submit
    monkeypatch.setattr(background.runner(), "submit", lambda job: submitted.append(job) or
                        real_submit(job))  # fmt: skip

    assert upload(app, data) == sha  # the bytes were there: their thumbnails too
    small = io.BytesIO()
    Image.new("RGB", (120, 80), "red").save(small, "PNG")
    small_sha = upload(app, small.getvalue(), "small.png")
    drain()

    assert submitted == []
    assert stored_sizes(app, small_sha) == {}


def test_a_pdf_upload_prerenders_the_ladder_and_its_preview_size_in_one_child(
    app: Flask, monkeypatch
) -> None:
    from core.cas import render_sandbox

    children: list[object] = []
    real_run_child = render_sandbox._run_child

    def counted(*args: Any) -> Any:
        children.append(args[0])
        return real_run_child(*args)

    monkeypatch.setattr(render_sandbox, "_run_child", counted)
    sha = upload(app, big_pdf(), "sheet.pdf")
    drain()

    assert children == ["check", "thumbnail"]  # the upload's check, then one render
    sizes = stored_sizes(app, sha)
    assert set(sizes) == set(PDF_LADDER)
    assert all(max(sizes[size]) == size for size in PDF_LADDER)


# --- on demand ------------------------------------------------------------------------------


def test_a_cold_request_stores_the_whole_ladder_from_one_decode(app: Flask, monkeypatch) -> None:
    """A blob stored without an upload (nothing pre-rendered): the first request for a ladder
    size answers its size, and the rest of the ladder follows from the same decode."""
    decodes = DecodeCounter()
    monkeypatch.setattr(thumbnails, "decode_source", decodes)
    blob = ingest(get_state(app).storage, io.BytesIO(photo()), lambda _type: 10**9)

    response = get(app, f"/api/cas/{blob.sha256}?thumbnail=300")
    drain()

    assert response.status_code == 200
    assert Image.open(io.BytesIO(response.data)).size == (300, 188)
    assert len(decodes.calls) == 1 and decodes.calls[0] != "partsbin-background"
    assert set(stored_sizes(app, blob.sha256)) == set(LADDER)


def test_a_size_off_the_ladder_is_rendered_alone(app: Flask) -> None:
    blob = ingest(get_state(app).storage, io.BytesIO(photo()), lambda _type: 10**9)
    assert get(app, f"/api/cas/{blob.sha256}?thumbnail=64").status_code == 200
    drain()
    assert stored_sizes(app, blob.sha256) == {64: (64, 40)}


# --- garbage collection and check -----------------------------------------------------------


def test_gc_removes_prerendered_thumbnails_with_their_blob_and_check_accepts_them(
    app: Flask,
) -> None:
    set_id = new_set(app)
    sha = upload(app, photo(), set_id=set_id)
    drain()
    assert set(stored_sizes(app, sha)) == set(LADDER)
    check = app.test_cli_runner().invoke(cli, ["check"])
    assert check.exit_code == 0, check.output

    state = get_state(app)
    with app.app_context():
        kept = collect_garbage(state, dt.timedelta(0))
        assert kept.removed == 0  # referenced: the blob and its thumbnails stay
        Attachment.delete().execute()
        later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
        report = collect_garbage(state, dt.timedelta(hours=24), now=later)

    assert sorted(report.removed_keys) == sorted(
        [f"cas/{sha}", *(thumbnail_key(sha, size) for size in LADDER)]
    )
    assert list(state.storage.iter_keys(f"thumbs/{sha}-")) == []


def test_without_the_upload_spool_the_job_reads_the_blob_from_the_store(app: Flask) -> None:
    state = get_state(app)
    blob = ingest(state.storage, io.BytesIO(photo()), lambda _type: 10**9)
    assert blob.stored

    assert thumbnails.schedule_prerender(state.read_storage, blob, state.settings)
    drain()

    assert set(stored_sizes(app, blob.sha256)) == set(LADDER)


@pytest.mark.parametrize("size", [1000, 3 * 1024 * 1024])  # in memory, and spilled to disk
def test_a_spool_reopened_reads_its_bytes_after_it_is_closed(size: int) -> None:
    from core.cas.spool import IngestSpool

    data = bytes(range(256)) * (size // 256)
    spool = IngestSpool(lambda _type: 10**9).fill_from(io.BytesIO(data))
    spool.seek(100)
    handle = spool.reopen()
    assert handle is not None
    assert spool.tell() == 100  # the spool's own position is left alone
    spool.close()
    with handle:
        assert handle.read() == data
