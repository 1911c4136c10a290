"""core.cas.spool: where an upload's bytes wait, in memory within a budget or in a temp file."""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.cas import spool as spool_module
from core.cas.spool import MEMORY_BUDGET, SPOOL_MEMORY_BYTES, IngestSpool, MemoryBudget

MIB = 1024 * 1024


@pytest.fixture
def temp_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Python's temp folder for the test, to see whether a spool made a temp file."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


@pytest.fixture
def budget(monkeypatch: pytest.MonkeyPatch) -> Iterator[MemoryBudget]:
    """A fresh 12 MiB budget shared by the test's spools."""
    fresh = MemoryBudget(12 * MIB)
    monkeypatch.setattr(spool_module, "MEMORY_BUDGET", fresh)
    yield fresh
    assert fresh.used == 0, "a spool did not give its memory back"


def open_temp_files() -> int:
    """Temp files this process holds open (unlinked at creation, so only /proc sees them)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        count += target.startswith(tempfile.gettempdir()) and target.endswith("(deleted)")
    return count


def filled(size: int) -> IngestSpool:
    return IngestSpool(lambda _type: 10**9).fill_from(io.BytesIO(os.urandom(size)))


def test_an_upload_within_the_limits_never_touches_the_disk(
    temp_folder: Path, budget: MemoryBudget
) -> None:
    with filled(5 * MIB) as spool:
        assert open_temp_files() == 0
        assert budget.used == 5 * MIB
        assert spool.size == 5 * MIB and spool.sha256 is not None


def test_past_the_per_spool_limit_the_bytes_move_to_a_temp_file(
    temp_folder: Path, budget: MemoryBudget
) -> None:
    data = os.urandom(SPOOL_MEMORY_BYTES + 1)
    with IngestSpool(lambda _type: 10**9).fill_from(io.BytesIO(data)) as spool:
        assert open_temp_files() == 1
        assert budget.used == 0  # the memory it held was given back when it moved
        spool.seek(0)
        assert spool.read() == data


def test_spools_that_would_pass_the_budget_together_go_to_disk(
    temp_folder: Path, budget: MemoryBudget
) -> None:
    first, second = filled(7 * MIB), filled(7 * MIB)  # 14 MiB > the 12 MiB budget
    try:
        assert open_temp_files() == 1
        assert budget.used == 7 * MIB
    finally:
        first.close()
        second.close()
    with filled(7 * MIB):  # the first one's memory is free again
        assert budget.used == 7 * MIB


def test_a_failed_upload_gives_its_memory_back(budget: MemoryBudget) -> None:
    spool = IngestSpool(lambda _type: 2 * MIB)
    with pytest.raises(Exception, match="limit"):
        spool.fill_from(io.BytesIO(b"%PDF-1.7\n" + os.urandom(3 * MIB)))
    spool.close()
    spool.close()  # idempotent


def test_reopening_a_large_spool_in_memory_moves_it_to_disk_first(
    temp_folder: Path, budget: MemoryBudget
) -> None:
    data = os.urandom(3 * MIB)
    spool = IngestSpool(lambda _type: 10**9).fill_from(io.BytesIO(data))
    spool.seek(7)
    handle = spool.reopen()
    assert handle is not None
    assert budget.used == 0 and open_temp_files() == 2  # the spool's file and the handle
    assert spool.read(3) == data[7:10]
    spool.close()
    with handle:
        assert handle.read() == data


def test_the_process_budget_defaults_to_a_few_uploads() -> None:
    assert MEMORY_BUDGET.limit >= 4 * SPOOL_MEMORY_BYTES
