"""EI's web UI signing in through a real OpenID provider, driven in Chromium.

One ``partsbin serve`` for the module with ``PARTSBIN_AUTH=oidc`` against the test provider
(tests/servers/oidc_provider.py: the users ``editor`` and ``reader``), two workers (a sign-in
started on one may finish on the other), the UI build, and ``PARTSBIN_TESTING=1`` for seeding
and for the forced errors of ``/api/testing/auth/force-error``. Each test has a fresh browser
context (no cookies). The provider's pages import a web font from the internet; requests to
anything but 127.0.0.1 are aborted, so nothing waits for a network that is not there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from playwright.sync_api import Page, Request, expect

from core.testing.servers.live_server import LiveServer
from tests.servers.oidc_provider import OidcProvider
from tests.ui.browser import PageWatch

#: Page and ``expect`` timeout: a sign-in is several round trips through two servers, on a
#: machine whose two cores other work shares.
TIMEOUT_MS = 30_000
NOT_LOOPBACK = re.compile(r"^https?://(?!127\.0\.0\.1[:/])")
NAME = "app-shell.topbar.user.name"


class AuthUi:
    """The live server and the provider it signs in through."""

    def __init__(self, server: LiveServer, provider: OidcProvider) -> None:
        self.server = server
        self.provider = provider

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="module")
def auth_ui(ui_dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthUi]:
    folder = tmp_path_factory.mktemp("ui-auth-server")
    server = LiveServer(
        {
            "PARTSBIN_DATABASE_URL": f"sqlite:///{folder}/partsbin.db",
            "PARTSBIN_STORAGE_URL": f"file://{folder}/blobs",
            "PARTSBIN_UI_DIR": str(ui_dist),
            "PARTSBIN_TESTING": "1",
            "PARTSBIN_AUTH": "oidc",
        },
        workers=2,
        threads=4,
    )
    provider = OidcProvider(
        redirect_uris=[f"{server.url}/api/auth/callback"], logout_uris=[f"{server.url}/"]
    )
    with provider:
        server.settings.update(
            {
                "PARTSBIN_OIDC_ISSUER": provider.issuer,
                "PARTSBIN_OIDC_CLIENT_ID": provider.client_id,
                "PARTSBIN_OIDC_CLIENT_SECRET": provider.client_secret,
            }
        )
        with server:
            yield AuthUi(server, provider)


@pytest.fixture(scope="module")
def seeded_part(auth_ui: AuthUi) -> dict[str, object]:
    """A part made through an editor's testing session (so the parts list is not empty)."""
    editor = requests.Session()
    made = editor.post(
        f"{auth_ui.url}/api/testing/auth/session",
        json={"subject": "seeder", "roles": ["editor"]},
        timeout=30,
    )
    assert made.status_code == 201, made.text
    part = editor.post(
        f"{auth_ui.url}/api/parts", json={"description": "Signed-in 555 timer"}, timeout=30
    )
    assert part.status_code == 201, part.text
    return dict(part.json())


@pytest.fixture
def watch(page: Page) -> Iterator[PageWatch]:
    """Fails the test on console errors, page exceptions and unexpected 4xx/5xx answers; the
    UI's 401 before signing in is expected, and so is the provider's missing favicon."""
    watched = PageWatch()
    watched.expect(401, r"^/api/auth/self$")
    watched.expect(404, r"^/favicon\.ico$")
    page.on("console", watched.on_console)
    page.on("pageerror", watched.on_page_error)
    page.on("response", watched.on_response)
    page.set_default_timeout(TIMEOUT_MS)
    page.route(NOT_LOOPBACK, lambda route: route.abort())
    expect.set_options(timeout=TIMEOUT_MS)
    try:
        yield watched
    finally:
        expect.set_options(timeout=None)
    assert watched.problems == [], "\n".join(watched.problems)


def _at_provider_login(page: Page, auth_ui: AuthUi) -> None:
    """Wait until the browser shows the provider's login form."""
    page.wait_for_url(re.compile(rf"^{re.escape(auth_ui.provider.issuer)}/interaction/"))
    expect(page.locator('input[name="login"]')).to_be_visible()


def _log_in_at_provider(page: Page, auth_ui: AuthUi, user: str) -> None:
    """Submit the provider's login form as ``user`` (any password is accepted)."""
    _at_provider_login(page, auth_ui)
    page.locator('input[name="login"]').fill(user)
    page.locator('input[name="password"]').fill("any password")
    page.get_by_role("button", name="Sign-in").click()


def _back_in_the_ui(page: Page, auth_ui: AuthUi) -> None:
    """Wait until the provider has sent the browser back to the UI (which shows / as /parts)."""
    page.wait_for_url(re.compile(rf"^{re.escape(auth_ui.url)}/(parts)?$"))


def _open_parts(page: Page, part: dict[str, object]) -> None:
    """Go to the parts list through the sidebar and wait until it shows ``part``."""
    page.get_by_test_id("app-shell.sidebar.link.parts").click()
    card = page.get_by_test_id("parts.list.card").filter(has_text=str(part["description"]))
    expect(card).to_have_count(1)


def test_editor_signs_in_sees_write_buttons_signs_out_and_reader_sees_none(
    page: Page, auth_ui: AuthUi, seeded_part: dict[str, object], watch: PageWatch
) -> None:
    # "commit": the UI navigates on to the provider by itself, maybe before its own load event.
    page.goto(auth_ui.url + "/", wait_until="commit")
    _log_in_at_provider(page, auth_ui, "editor")
    _back_in_the_ui(page, auth_ui)
    expect(page.get_by_test_id(NAME)).to_have_text("Erin Editor")
    _open_parts(page, seeded_part)
    expect(page.get_by_test_id("parts.list.add")).to_have_text("Add Part")
    page.get_by_test_id("parts.list.card").filter(has_text=str(seeded_part["description"])).click()
    expect(page.get_by_test_id("detail-screen.title")).to_have_text("Signed-in 555 timer")
    expect(page.get_by_test_id("parts.detail.actions.edit")).to_be_visible()

    # The UI's logout: Partsbin ends the session and sends the browser to the provider's
    # sign-out page, which comes back to / (and from there to the provider's login form).
    page.get_by_test_id("app-shell.topbar.user").click()
    page.get_by_test_id("app-shell.topbar.user.logout").click()
    page.wait_for_url(re.compile(rf"^{re.escape(auth_ui.provider.issuer)}/session/end"))
    page.get_by_role("button", name="Yes, sign me out").click()
    _at_provider_login(page, auth_ui)
    assert page.context.request.get(f"{auth_ui.url}/api/auth/self").status == 401

    _log_in_at_provider(page, auth_ui, "reader")
    _back_in_the_ui(page, auth_ui)
    expect(page.get_by_test_id(NAME)).to_have_text("Rex Reader")
    _open_parts(page, seeded_part)
    expect(page.get_by_test_id("parts.list.search.input")).to_be_visible()
    expect(page.get_by_test_id("parts.list.add")).to_have_count(0)
    page.get_by_test_id("parts.list.card").filter(has_text=str(seeded_part["description"])).click()
    expect(page.get_by_test_id("detail-screen.title")).to_have_text("Signed-in 555 timer")
    expect(page.get_by_test_id("parts.detail.actions.edit")).to_have_count(0)


def test_an_unsigned_visit_signs_in_and_returns_to_the_page_asked_for(
    page: Page, auth_ui: AuthUi, watch: PageWatch
) -> None:
    logins: list[str] = []

    def record_login(request: Request) -> None:
        if urlsplit(request.url).path == "/api/auth/login":
            logins.append(request.url)

    page.on("request", record_login)
    with page.expect_response(
        lambda r: urlsplit(r.url).path == "/api/auth/self" and r.status == 401
    ):
        page.goto(auth_ui.url + "/types?search=resistor", wait_until="commit")
    _log_in_at_provider(page, auth_ui, "editor")
    page.wait_for_url(re.compile(rf"^{re.escape(auth_ui.url)}/types\?search=resistor$"))
    expect(page.get_by_test_id(NAME)).to_have_text("Erin Editor")
    expect(page.get_by_test_id("types.create.button")).to_be_visible()
    assert len(logins) == 1, logins
    assert parse_qs(urlsplit(logins[0]).query) == {"redirect": ["/types?search=resistor"]}


def test_forced_auth_errors_show_no_access_and_the_error_screen_once(
    page: Page, auth_ui: AuthUi, watch: PageWatch
) -> None:
    watch.expect(403, r"^/api/auth/self$")
    watch.expect(500, r"^/api/auth/self$")
    watch.expect(418, r"^/api/auth/self$")
    browser = page.context.request  # shares the page's cookies
    signed_in = browser.post(
        f"{auth_ui.url}/api/testing/auth/session",
        data={"subject": "tess", "name": "Tess Tester", "roles": ["reader"]},
    )
    assert signed_in.status == 201, signed_in.text()

    def force(status: int) -> None:
        forced = browser.post(f"{auth_ui.url}/api/testing/auth/force-error?status={status}")
        assert forced.status == 204, forced.text()

    force(403)
    page.goto(auth_ui.url + "/")
    expect(page.get_by_test_id("auth.gate.forbidden")).to_contain_text("No Access")

    force(500)
    page.reload()
    error = page.get_by_test_id("auth.gate.error")
    expect(error).to_contain_text("Server Error")

    # Single-shot: the error screen's Retry asks again and gets the user.
    page.get_by_test_id("auth.gate.error.retry").click()
    expect(page.get_by_test_id(NAME)).to_have_text("Tess Tester")

    force(418)
    page.reload()
    expect(error).to_contain_text("Connection Error")
