"""What only the local driver promises: its disk layout, atomic writes, no way out of the root."""

from __future__ import annotations

import hashlib
import io
import os
import threading
from pathlib import Path

import pytest

from storage_drivers.base import BlobStat, InvalidKey, StorageMisconfigured
from storage_drivers.local import LocalDriver, fan_in, fan_out
from tests.storage.streams import MIB, FailingStream, StreamBroke

HASH = hashlib.sha256(b"resistor").hexdigest()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "blobs"


@pytest.fixture
def driver(root: Path) -> LocalDriver:
    return LocalDriver.from_url(f"file://{root}")


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder next to the root, holding a file the driver must never reach."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret").write_bytes(b"top secret")
    return folder


def files_under(folder: Path) -> list[str]:
    return sorted(
        str(Path(dirpath, name).relative_to(folder))
        for dirpath, _, names in os.walk(folder)
        for name in names
    )


# --- layout ------------------------------------------------------------------------------


def test_a_cas_key_is_stored_two_fan_out_folders_deep(driver: LocalDriver, root: Path) -> None:
    driver.put(f"cas/{HASH}", io.BytesIO(b"x"), 1)

    assert files_under(root) == [f"cas/{HASH[:2]}/{HASH[2:4]}/{HASH}"]
    assert list(driver.iter_keys()) == [BlobStat(f"cas/{HASH}", 1)]


@pytest.mark.parametrize(
    "key",
    [
        f"thumbs/{HASH}-200.jpg",
        f"thumbs/{HASH}/200.jpg",
        "cas/not-a-hash",
        f"CAS/{HASH}",
        f"cas/{HASH.upper()}",
    ],
)
def test_other_keys_are_stored_at_their_own_path(
    driver: LocalDriver, root: Path, key: str
) -> None:
    driver.put(key, io.BytesIO(b"x"), 1)

    assert files_under(root) == [key]


@pytest.mark.parametrize(
    "key",
    [f"cas/{HASH}", f"cas/sub/{HASH}", f"cas/{HASH[:2]}/{HASH[2:4]}/{HASH}", "cas/x", "a/b/c"],
)
def test_fan_in_inverts_fan_out(key: str) -> None:
    assert fan_in(fan_out(key)) == key


def test_iter_keys_skips_temp_files_and_files_no_key_maps_to(
    driver: LocalDriver, root: Path
) -> None:
    (root / "cas").mkdir()
    (root / "cas" / ".tmp-abandoned").write_bytes(b"partial")
    (root / "cas" / HASH).write_bytes(b"a hash outside its fan-out folders")
    (root / ".hidden").write_bytes(b"x")
    driver.put("kept", io.BytesIO(b"x"), 1)

    assert [stat.key for stat in driver.iter_keys()] == ["kept"]


# --- atomic writes -----------------------------------------------------------------------


def test_a_failed_put_leaves_no_object_and_no_temp_file(driver: LocalDriver, root: Path) -> None:
    with pytest.raises(StreamBroke):
        driver.put(f"cas/{HASH}", FailingStream(3 * MIB))  # type: ignore[arg-type]

    assert files_under(root) == []
    assert driver.stat(f"cas/{HASH}") is None


def test_readers_never_see_a_partial_object(driver: LocalDriver) -> None:
    versions = [bytes([letter]) * MIB for letter in b"ab"]
    driver.put("flip", io.BytesIO(versions[0]), MIB)
    done = threading.Event()

    def rewrite() -> None:
        for round_ in range(40):
            driver.put("flip", io.BytesIO(versions[round_ % 2]), MIB)
        done.set()

    writer = threading.Thread(target=rewrite)
    writer.start()
    seen = set()
    while not done.is_set():
        content = b"".join(driver.open("flip"))
        assert content in versions
        seen.add(content[:1])
    writer.join()

    assert seen  # the reader did read while the writer wrote


def test_a_key_below_an_existing_object_conflicts(driver: LocalDriver) -> None:
    driver.put("part", io.BytesIO(b"x"), 1)

    with pytest.raises(InvalidKey, match="conflicts"):
        driver.put("part/photo", io.BytesIO(b"y"), 1)


# --- no way out of the root --------------------------------------------------------------


def test_a_symlinked_folder_cannot_lead_out_of_the_root(
    driver: LocalDriver, root: Path, outside: Path
) -> None:
    (root / "escape").symlink_to(outside, target_is_directory=True)

    with pytest.raises(InvalidKey, match="outside the storage root"):
        driver.open("escape/secret")
    with pytest.raises(InvalidKey):
        driver.stat("escape/secret")
    with pytest.raises(InvalidKey):
        driver.delete("escape/secret")
    with pytest.raises(InvalidKey):
        driver.put("escape/planted", io.BytesIO(b"x"), 1)
    with pytest.raises(InvalidKey):
        list(driver.iter_keys("escape/"))

    assert files_under(outside) == ["secret"]


def test_a_symlinked_file_cannot_lead_out_of_the_root(
    driver: LocalDriver, root: Path, outside: Path
) -> None:
    (root / "evil").symlink_to(outside / "secret")

    with pytest.raises(InvalidKey, match="outside the storage root"):
        driver.open("evil")
    with pytest.raises(InvalidKey):
        driver.put("evil", io.BytesIO(b"overwritten"), 11)

    assert (outside / "secret").read_bytes() == b"top secret"


def test_a_blob_in_a_folder_already_checked_costs_one_lstat(
    driver: LocalDriver, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = (f"cas/{hashlib.sha256(b).hexdigest()}" for b in (b"1", b"2"))
    second = "cas/" + first[4:10] + second[10:]  # same fan-out folders as first
    driver.put(first, io.BytesIO(b"1"), 1)
    driver.put(second, io.BytesIO(b"2"), 1)
    calls: list[str] = []
    real_lstat = os.lstat
    monkeypatch.setattr(os, "lstat", lambda path: calls.append(str(path)) or real_lstat(path))

    stat = driver.stat(second)
    assert stat is not None and (stat.key, stat.size) == (second, 1)
    calls.clear()
    assert driver.local_path(first) is not None

    assert len(calls) == 1


def test_a_link_planted_as_a_blob_in_a_checked_folder_is_still_refused(
    driver: LocalDriver, root: Path, outside: Path
) -> None:
    key = f"cas/{hashlib.sha256(b'x').hexdigest()}"
    driver.put(key, io.BytesIO(b"x"), 1)
    assert driver.stat(key) is not None
    planted = f"cas/{key[4:8]}" + "0" * 60
    (root / Path(*fan_out(planted))).symlink_to(outside / "secret")

    with pytest.raises(InvalidKey, match="symbolic link"):
        driver.open(planted)
    with pytest.raises(InvalidKey):
        driver.stat(planted)


def test_iter_keys_does_not_follow_symlinks(
    driver: LocalDriver, root: Path, outside: Path
) -> None:
    (root / "escape").symlink_to(outside, target_is_directory=True)
    (root / "evil").symlink_to(outside / "secret")

    assert list(driver.iter_keys()) == []


# --- the root folder ---------------------------------------------------------------------


def test_a_missing_root_folder_is_created(tmp_path: Path) -> None:
    LocalDriver.from_url(f"file://{tmp_path}/deep/er/blobs")

    assert (tmp_path / "deep" / "er" / "blobs").is_dir()


def test_a_root_that_cannot_be_created_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_bytes(b"")

    with pytest.raises(StorageMisconfigured, match="cannot create local storage root"):
        LocalDriver.from_url(f"file://{tmp_path}/a-file/blobs")


@pytest.mark.parametrize("form", ["file://{root}", "file://localhost{root}", "{root}"])
def test_the_root_can_be_given_in_each_url_form(tmp_path: Path, form: str) -> None:
    driver = LocalDriver.from_url(form.format(root=tmp_path))

    assert driver.root == os.path.realpath(tmp_path)


def test_a_relative_root_is_a_configuration_error() -> None:
    with pytest.raises(StorageMisconfigured, match="not an absolute path"):
        LocalDriver("relative/blobs")
