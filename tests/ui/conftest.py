"""The built UI the tests serve: ../shared/ei-ui/dist next to the repository (never copied in)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
#: Where the build is beside a clone; ``PARTSBIN_TEST_UI_DIST`` names another place (a worktree).
UI_DIST = Path(
    os.environ.get("PARTSBIN_TEST_UI_DIST") or REPO_ROOT.parent / "shared" / "ei-ui" / "dist"
)


@pytest.fixture(scope="session")
def ui_dist() -> Path:
    """The EI UI build; the test is skipped (saying where it looked) when it is absent."""
    if not (UI_DIST / "index.html").is_file():
        pytest.skip(f"the EI UI build is not at {UI_DIST} (see ../shared/ei-ui/README.md)")
    return UI_DIST


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """Debian's Chromium, installed first when missing (and root)."""
    from tests.ui.browser import ChromiumMissing, ensure_chromium

    try:
        return str(ensure_chromium())
    except ChromiumMissing as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def browser_type_launch_args(chromium_executable: str) -> dict[str, object]:
    """pytest-playwright: launch the system Chromium (never a downloaded browser)."""
    return {"executable_path": chromium_executable, "args": ["--disable-dev-shm-usage"]}
