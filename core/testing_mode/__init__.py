"""``PARTSBIN_TESTING=1``: the contract's ``/api/testing/*`` helpers for browser test suites.

Deterministic generated content (an HTML page, a PNG, a PDF) to attach by URL, SSE task events
sent to one client, a "new deployment" version event, sign-in sessions for any subject and
roles without an OpenID provider, and a single-shot error for the next ``GET /api/auth/self``
(:mod:`core.testing_mode.forced_errors`). Never for production: the routes
exist only when the setting is on, and ``partsbin serve`` refuses to start with it on an address
other than loopback (:func:`check_binding`).
"""

from __future__ import annotations

from core.auth.bind import is_loopback


class TestingModeError(ValueError):
    """Testing mode was asked for on an address other than loopback."""


def check_binding(testing: bool, host: str) -> None:
    """Raise :class:`TestingModeError` if ``testing`` is on and ``host`` is not loopback."""
    if testing and not is_loopback(host):
        raise TestingModeError(
            f"PARTSBIN_TESTING=1 is refused on {host}: testing mode serves /api/testing/* "
            "helpers and may only be bound to a loopback address (127.0.0.1, ::1, localhost)"
        )
