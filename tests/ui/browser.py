"""Driving EI's UI in Debian's Chromium: installing it when missing, and watching the page for
console errors and failed calls.

Chromium is the Debian package (``/usr/bin/chromium``); Playwright drives it without downloading
a browser of its own. When it is missing and the tests run as root, it is installed once with
apt-get (as tests/servers/postgres.py does for PostgreSQL).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from core.testing.servers.process import apt_install, can_apt_install

CHROMIUM = Path("/usr/bin/chromium")

#: Calls of plugins that do not exist yet, answered by the test with what an empty installation
#: of that plugin answers (path -> JSON body). Remove an entry when its plugin lands.
NOT_YET_BUILT: dict[str, str] = {}


class ChromiumMissing(RuntimeError):
    """Chromium is not installed and cannot be installed here."""


def ensure_chromium() -> Path:
    """``/usr/bin/chromium``, installing the Debian package first when missing and root."""
    if CHROMIUM.exists():
        return CHROMIUM
    if not can_apt_install():
        raise ChromiumMissing(
            "Chromium is not installed: run `apt-get install -y chromium` as root"
        )
    try:
        apt_install("chromium")
    except RuntimeError as exc:
        raise ChromiumMissing(str(exc)) from None
    if not CHROMIUM.exists():
        raise ChromiumMissing("installed chromium but /usr/bin/chromium is still missing")
    return CHROMIUM


@dataclass
class PageWatch:
    """Everything that went wrong on a page: console errors, uncaught exceptions and 4xx/5xx
    answers. A test declares the failures it causes on purpose with :meth:`expect`."""

    problems: list[str] = field(default_factory=list)
    expected: list[tuple[int, re.Pattern[str]]] = field(default_factory=list)
    expected_console: list[re.Pattern[str]] = field(default_factory=list)

    def expect(self, status: int, path_pattern: str) -> None:
        """A ``status`` answer for a path matching ``path_pattern`` is caused on purpose."""
        self.expected.append((status, re.compile(path_pattern)))

    def expect_console(self, text_pattern: str) -> None:
        """Console errors whose text matches ``text_pattern`` (from its start) are the UI's own
        report of a failure the test causes on purpose."""
        self.expected_console.append(re.compile(text_pattern, re.S))

    def on_response(self, response: object) -> None:
        status = response.status  # type: ignore[attr-defined]
        if status < 400:
            return
        url = response.url  # type: ignore[attr-defined]
        path = urlsplit(url).path
        if any(status == want and pattern.search(path) for want, pattern in self.expected):
            return
        method = response.request.method  # type: ignore[attr-defined]
        self.problems.append(f"HTTP {status} for {method} {path}")

    def on_console(self, message: object) -> None:
        if message.type != "error":  # type: ignore[attr-defined]
            return
        text = message.text  # type: ignore[attr-defined]
        if text.startswith("Failed to load resource"):
            return  # the failed answer itself is judged by on_response
        if any(pattern.match(text) for pattern in self.expected_console):
            return
        self.problems.append(f"console error: {text[:500]}")

    def on_page_error(self, error: object) -> None:
        self.problems.append(f"uncaught exception: {str(error)[:500]}")
