"""core.cas.thumbnails: rendering rules, limits, storage under thumbs/ and render-once."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest
from PIL import Image

from core.cas import thumbnails
from core.cas.ingest import StoredBlob, ingest
from core.cas.thumbnails import ensure_thumbnail, render_thumbnail, thumbnail_key
from core.errors import NotFound, UnprocessableContent, UnsupportedMediaType
from storage_drivers.local import LocalDriver
from tests.cas.conftest import (
    HTML,
    SVG,
    image_bytes,
    jpeg_with_orientation,
    pdf,
    png,
    png_header_claiming,
)
from tests.cas.key_locks import observed_key_lock

LIMIT = 50_000_000


def render(data: bytes, content_type: str, size: int, max_pixels: int = LIMIT) -> Image.Image:
    out = render_thumbnail(io.BytesIO(data), content_type, size, max_pixels=max_pixels)
    image = Image.open(io.BytesIO(out))
    assert image.format == "JPEG" and image.mode == "RGB"
    return image


# --- rendering --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height", "size", "expected"),
    [(400, 200, 100, (100, 50)), (200, 400, 100, (50, 100)), (300, 300, 1000, (300, 300)),
     (1000, 10, 10, (10, 1))],
)
def test_longest_side_is_the_size_and_images_are_never_upscaled(
    width: int, height: int, size: int, expected: tuple[int, int]
) -> None:
    assert render(png(width, height), "image/png", size).size == expected


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [("JPEG", "image/jpeg"), ("GIF", "image/gif"), ("WEBP", "image/webp"), ("BMP", "image/bmp"),
     ("TIFF", "image/tiff")],
)
def test_raster_formats(fmt: str, content_type: str) -> None:
    data = image_bytes(Image.new("RGB", (64, 32), "blue"), fmt)
    assert render(data, content_type, 32).size == (32, 16)


@pytest.mark.parametrize(("orientation", "expected"), [(1, (100, 50)), (6, (50, 100)),
                                                       (8, (50, 100)), (3, (100, 50))])
def test_exif_orientation(orientation: int, expected: tuple[int, int]) -> None:
    data = jpeg_with_orientation(200, 100, orientation)
    assert render(data, "image/jpeg", 100).size == expected


def test_large_jpegs_are_decoded_at_reduced_scale() -> None:
    data = image_bytes(Image.new("RGB", (4000, 2000), "blue"), "JPEG")
    assert render(data, "image/jpeg", 100).size == (100, 50)


@pytest.mark.parametrize(
    ("mode", "color"),
    [("RGBA", (0, 0, 0, 0)), ("LA", (0, 0))],
)
def test_transparency_becomes_white(mode: str, color: tuple[int, ...]) -> None:
    image = render(png(10, 10, color, mode=mode), "image/png", 10)
    assert all(channel > 245 for channel in image.getpixel((5, 5)))  # type: ignore[union-attr]


def test_palette_transparency_becomes_white() -> None:
    palette = Image.new("P", (10, 10), 0)
    palette.putpalette([0, 0, 0] * 256)
    data = image_bytes(palette, "GIF", transparency=0)
    image = render(data, "image/gif", 10)
    assert all(channel > 245 for channel in image.getpixel((5, 5)))  # type: ignore[union-attr]


def test_pdf_first_page_fits_the_size() -> None:
    image = render(pdf(200, 400, "blue"), "application/pdf", 100)
    assert image.size == (50, 100)
    r, _g, b = image.getpixel((25, 50))  # type: ignore[misc]
    assert b > 200 and r < 60


@pytest.mark.parametrize(
    ("data", "content_type"),
    [(SVG, "image/svg+xml"), (HTML, "text/html"), (b"hello", "text/plain"),
     (b"\x00\x01", "application/octet-stream")],
)
def test_content_without_thumbnails_is_415(data: bytes, content_type: str) -> None:
    with pytest.raises(UnsupportedMediaType) as raised:
        render(data, content_type, 10)
    assert raised.value.code == "THUMBNAIL_UNSUPPORTED"


def test_header_claiming_huge_dimensions_is_refused_before_decoding() -> None:
    with pytest.raises(UnprocessableContent) as raised:
        render(png_header_claiming(100_000, 100_000), "image/png", 10)
    assert raised.value.code == "IMAGE_TOO_LARGE"


def test_pixel_limit_is_a_parameter() -> None:
    with pytest.raises(UnprocessableContent, match="400-pixel limit"):
        render(png(20, 30), "image/png", 10, max_pixels=400)
    assert render(png(20, 20), "image/png", 10, max_pixels=400).size == (10, 10)


NOISY_JPEG = image_bytes(Image.effect_noise((300, 300), 64).convert("RGB"), "JPEG")


@pytest.mark.parametrize(
    ("data", "content_type"),
    [(png(200, 200)[:300], "image/png"),
     (b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "image/png"),
     (NOISY_JPEG[: len(NOISY_JPEG) // 2], "image/jpeg")],
    ids=["truncated-png", "garbage-after-magic", "truncated-jpeg"],
)
def test_truncated_or_corrupt_images_are_422(data: bytes, content_type: str) -> None:
    with pytest.raises(UnprocessableContent) as raised:
        render(data, content_type, 10)
    assert raised.value.code == "IMAGE_UNREADABLE"


@pytest.mark.parametrize(
    "data", [b"%PDF-1.4\ngarbage", pdf()[:200]], ids=["garbage", "truncated"]
)
def test_corrupt_pdf_is_422(data: bytes) -> None:
    with pytest.raises(UnprocessableContent):
        render(data, "application/pdf", 10)


def test_oversized_pdf_page_is_refused() -> None:
    with pytest.raises(UnprocessableContent) as raised:
        render(pdf(20_000, 100), "application/pdf", 10)
    assert raised.value.code == "IMAGE_TOO_LARGE"


def test_format_is_restricted_to_the_sniffed_type() -> None:
    gif = image_bytes(Image.new("RGB", (8, 8)), "GIF")
    with pytest.raises(UnprocessableContent):
        render(gif, "image/png", 8)


# --- storing ----------------------------------------------------------------------------------


@pytest.fixture
def storage(tmp_path: Path) -> LocalDriver:
    return LocalDriver(str(tmp_path / "blobs"))


def store(storage: LocalDriver, data: bytes) -> StoredBlob:
    return ingest(storage, io.BytesIO(data), lambda _type: 10**9)


def test_thumbnail_key_layout() -> None:
    assert thumbnail_key("a" * 64, 200) == f"thumbs/{'a' * 64}-200.jpg"
    with pytest.raises(ValueError):
        thumbnail_key("a" * 64, 0)
    with pytest.raises(ValueError):
        thumbnail_key("../x", 10)
    with pytest.raises(ValueError):
        thumbnail_key("a" * 64 + "\n", 10)


def test_ensure_thumbnail_stores_it_once(storage: LocalDriver, monkeypatch) -> None:
    blob = store(storage, png(100, 100))
    stat = ensure_thumbnail(storage, blob.sha256, 20, max_pixels=LIMIT, max_source_bytes=10**9)
    assert stat.key == thumbnail_key(blob.sha256, 20)
    stored = storage.stat(stat.key)
    assert stored is not None and stored.size == stat.size

    monkeypatch.setattr(thumbnails, "decode_source", _fail_render)
    again = ensure_thumbnail(storage, blob.sha256, 20, max_pixels=LIMIT, max_source_bytes=10**9)
    assert again.key == stat.key and again.size == stat.size


def _fail_render(*args: object, **kwargs: object) -> bytes:
    raise AssertionError("rendered again")


def test_missing_source_is_not_found(storage: LocalDriver) -> None:
    with pytest.raises(NotFound):
        ensure_thumbnail(storage, "9" * 64, 20, max_pixels=LIMIT, max_source_bytes=10**9)


def test_source_above_the_size_limit_is_refused_unread(storage: LocalDriver, monkeypatch) -> None:
    blob = store(storage, png(100, 100))
    monkeypatch.setattr(thumbnails, "decode_source", _fail_render)
    with pytest.raises(UnprocessableContent) as raised:
        ensure_thumbnail(storage, blob.sha256, 20, max_pixels=LIMIT, max_source_bytes=100)
    assert raised.value.code == "SOURCE_TOO_LARGE"
    assert not storage.exists(thumbnail_key(blob.sha256, 20))


def test_unsupported_source_stores_nothing(storage: LocalDriver) -> None:
    blob = store(storage, SVG)
    with pytest.raises(UnsupportedMediaType):
        ensure_thumbnail(storage, blob.sha256, 20, max_pixels=LIMIT, max_source_bytes=10**9)
    assert list(storage.iter_keys("thumbs/")) == []


def test_concurrent_requests_render_once(storage: LocalDriver, monkeypatch) -> None:
    blob = store(storage, png(200, 200))
    key = thumbnail_key(blob.sha256, 50)
    threads_count = 6
    renders: list[int] = []
    real_render = thumbnails.decode_source
    changed = threading.Condition()

    def render_when_everyone_waits(*args, **kwargs) -> bytes:
        renders.append(1)
        entry = thumbnails._key_locks[key]
        with changed:  # hold the render until every other thread is queued on the key lock
            assert changed.wait_for(lambda: entry.users == threads_count, timeout=10)
        return real_render(*args, **kwargs)

    monkeypatch.setattr(thumbnails, "_KeyLock", observed_key_lock(changed))
    monkeypatch.setattr(thumbnails, "decode_source", render_when_everyone_waits)
    barrier = threading.Barrier(threads_count)
    results: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            stat = ensure_thumbnail(
                storage, blob.sha256, 50, max_pixels=LIMIT, max_source_bytes=10**9
            )
            results.append(stat.size)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=worker) for _ in range(threads_count)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=30)
    assert errors == []
    assert renders == [1]
    assert len(set(results)) == 1 and len(results) == threads_count
    assert thumbnails._key_locks == {}
    image = Image.open(io.BytesIO(b"".join(storage.open(key))))
    assert image.size == (50, 50)


# --- issue 14 item 4: one render for concurrent cold requests, idempotent stores -------------


def test_concurrent_cold_requests_to_one_app_render_once(
    cas_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.cas.conftest import put_blob

    blob = put_blob(cas_app, jpeg_photo(1200, 900))
    key = thumbnail_key(blob.sha256, 300)
    requests_count = 8
    renders: list[int] = []
    real_render = thumbnails.decode_source
    queued = threading.Condition()

    def render_once_everyone_waits(*args, **kwargs) -> bytes:
        renders.append(1)
        entry = thumbnails._key_locks[key]
        with queued:  # every other request is waiting on this render before it goes on
            assert queued.wait_for(lambda: entry.users == requests_count, timeout=20)
        return real_render(*args, **kwargs)

    monkeypatch.setattr(thumbnails, "_KeyLock", observed_key_lock(queued))
    monkeypatch.setattr(thumbnails, "decode_source", render_once_everyone_waits)
    barrier = threading.Barrier(requests_count)
    bodies: list[bytes] = []

    def request() -> None:
        client = cas_app.test_client()
        barrier.wait()
        response = client.get(f"/api/cas/{blob.sha256}?thumbnail=300")
        assert response.status_code == 200
        bodies.append(response.data)

    threads = [threading.Thread(target=request) for _ in range(requests_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert renders == [1]
    assert len(bodies) == requests_count and len(set(bodies)) == 1
    assert Image.open(io.BytesIO(bodies[0])).size == (300, 225)


def test_rendering_is_deterministic_so_concurrent_stores_write_the_same_bytes() -> None:
    # Two instances rendering one cold thumbnail at once both put it; that is harmless only
    # because both puts carry identical bytes (and each put is atomic).
    data = jpeg_photo(1600, 1200)
    first = render_thumbnail(io.BytesIO(data), "image/jpeg", 300, max_pixels=LIMIT)
    second = render_thumbnail(io.BytesIO(data), "image/jpeg", 300, max_pixels=LIMIT)
    assert first == second


def test_a_large_jpeg_is_decoded_at_a_reduced_scale_with_good_quality() -> None:
    source = jpeg_photo(4000, 3000)
    thumb = render(source, "image/jpeg", 300)
    assert thumb.size == (300, 225)
    # Compared with a full decode + LANCZOS, the reduced decode stays visually identical.
    reference = Image.open(io.BytesIO(source)).convert("RGB")
    reference.thumbnail((300, 300), Image.Resampling.LANCZOS)
    difference = [abs(a - b) for a, b in zip(thumb.tobytes(), reference.tobytes(), strict=True)]
    assert sum(difference) / len(difference) < 4.0


def jpeg_photo(width: int, height: int) -> bytes:
    """A photo-like JPEG (gradients), as bench/thumbnails.py makes."""
    gradient = Image.linear_gradient("L").resize((width, height))
    mirrored = gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    radial = Image.radial_gradient("L").resize((width, height))
    return image_bytes(Image.merge("RGB", (gradient, radial, mirrored)), "JPEG", quality=90)
