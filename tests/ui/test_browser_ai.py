"""EI's AI features on Partsbin, which has no AI service, and every ordinary screen without an
error, driven in Chromium (issue 13's "Done when").

The same set-up as tests/ui/test_browser.py, whose fixtures this module reuses: one real
``partsbin serve`` for the module serving the UI build; every test fails on a console error, an
uncaught exception or a 4xx/5xx answer it did not cause on purpose. The AI tests cause exactly
one kind on purpose: ``/api/ai-parts/*`` answering 501 ``AI_NOT_AVAILABLE``, which the UI logs
to the console and shows in its AI dialog; they then check that the message is the server's
and that the app goes on working.
"""

# ruff: noqa: F811
from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Page, expect

from core.testing.servers.live_server import LiveServer
from tests.ui.browser import PageWatch

# The helpers and module fixtures of test_browser.py (imported fixtures are registered in this
# module: one server for this module, the same failure checks). Test arguments named after those
# fixtures are what pytest fills in, hence F401/F811 are expected for them.
from tests.ui.test_browser import Api, api, ui, watch  # noqa: F401
from tests.ui.test_browser import _open as open_page

ANALYSIS_UNAVAILABLE = "AI part analysis is not available on this server"
CLEANUP_UNAVAILABLE = "AI part cleanup is not available on this server"
#: Anything on a page that says something failed: the screens' error states and error toasts.
ERROR_MARKERS = '[data-testid*="error"], [data-toast-level="error"]'


def _expect_ai_refusal(watch: PageWatch, operation: str, submit: str, failed: str) -> None:
    """The 501 of ``/api/ai-parts/<operation>`` and the two console errors the UI logs for it
    (its ``catch`` and its ``onError``), each naming our error code, are caused on purpose."""
    watch.expect(501, rf"^/api/ai-parts/{operation}$")
    watch.expect_console(rf"{submit}:.*AI_NOT_AVAILABLE")
    watch.expect_console(rf"{failed}:.*AI_NOT_AVAILABLE")


def _no_error_shown(page: Page) -> None:
    expect(page.locator(ERROR_MARKERS)).to_have_count(0)


def test_add_part_with_ai_says_it_is_not_available_and_the_app_goes_on(
    page: Page, ui: LiveServer, api: Api, watch: PageWatch
) -> None:
    _expect_ai_refusal(watch, "analyze", "Failed to submit analysis request", "Analysis failed")
    api.part("Part listed before the AI dialog")
    open_page(page, ui, "/parts")
    page.get_by_test_id("parts.list.add-with-ai").click()
    dialog = page.get_by_test_id("parts.ai.dialog")
    expect(dialog).to_have_attribute("data-step", "input")
    page.get_by_test_id("parts.ai.input").fill("Arduino Uno R3")
    with page.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith("/api/ai-parts/analyze")
    ) as answer:
        page.get_by_test_id("parts.ai.input.submit").click()
    assert answer.value.status == 501
    assert answer.value.json()["code"] == "AI_NOT_AVAILABLE"

    progress = page.get_by_test_id("parts.ai.progress-step")
    expect(progress).to_have_attribute("data-state", "error")
    expect(page.get_by_test_id("parts.ai.progress-error-message")).to_contain_text(
        ANALYSIS_UNAVAILABLE
    )
    expect(page.locator(ERROR_MARKERS).first).to_be_visible()  # what _no_error_shown looks for
    # Retry leads back to the input (the text kept), Cancel closes the dialog.
    dialog.get_by_role("button", name="Retry Analysis").click()
    expect(dialog).to_have_attribute("data-step", "input")
    expect(page.get_by_test_id("parts.ai.input")).to_have_value("Arduino Uno R3")
    page.get_by_test_id("parts.ai.input.cancel").click()
    expect(dialog).to_have_count(0)

    # The page is intact: the list, its search, and adding a part by hand.
    cards = page.get_by_test_id("parts.list.card")
    expect(cards.filter(has_text="Part listed before the AI dialog")).to_have_count(1)
    _no_error_shown(page)
    page.get_by_test_id("parts.list.add").click()
    page.get_by_test_id("parts.form.description").fill("Arduino Uno R3 by hand")
    page.get_by_test_id("parts.form.submit").click()
    expect(page.get_by_test_id("detail-screen.title")).to_have_text("Arduino Uno R3 by hand")


def test_cleanup_part_says_it_is_not_available_and_the_part_stays_as_it_was(
    page: Page, ui: LiveServer, api: Api, watch: PageWatch
) -> None:
    _expect_ai_refusal(watch, "cleanup", "Failed to submit cleanup request", "Cleanup failed")
    part = api.part("Cleanup candidate 4k7", manufacturer_code="R4K7")
    open_page(page, ui, f"/parts/{part['key']}")
    expect(page.get_by_test_id("detail-screen.title")).to_have_text("Cleanup candidate 4k7")
    page.get_by_test_id("parts.detail.actions.menu").click()
    with page.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith("/api/ai-parts/cleanup")
    ) as answer:
        page.get_by_test_id("parts.detail.actions.cleanup").click()
    assert answer.value.status == 501
    assert answer.value.request.post_data_json == {"part_key": part["key"]}

    dialog = page.get_by_test_id("parts.cleanup.dialog")
    expect(page.get_by_test_id("parts.cleanup.progress")).to_have_attribute("data-state", "error")
    expect(page.get_by_test_id("parts.cleanup.progress.error.message")).to_contain_text(
        CLEANUP_UNAVAILABLE
    )
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)

    expect(page.get_by_test_id("detail-screen.title")).to_have_text("Cleanup candidate 4k7")
    expect(page.get_by_test_id("parts.detail.information")).to_contain_text("R4K7")
    _no_error_shown(page)
    page.get_by_test_id("parts.detail.actions.edit").click()
    expect(page.get_by_test_id("parts.form.description")).to_have_value("Cleanup candidate 4k7")


# --- every screen, no error -----------------------------------------------------------------


def _seed(api: Api) -> dict[str, Any]:
    """One of everything the screens list: a box with stock, a part in it with a seller link, a
    kit using it, a shopping list with a line, a pick list of the kit."""
    box = api.post("/api/boxes", json={"description": "Tour box", "capacity": 6})
    part = api.part("Tour resistor 220R", manufacturer_code="R220")
    api.post(
        f"/api/inventory/parts/{part['key']}/stock",
        json={"box_no": box["box_no"], "loc_no": 1, "qty": 8},
    )
    seller = api.post("/api/sellers", json={"name": "Tourshop", "website": "https://tour.example"})
    api.post(
        f"/api/parts/{part['key']}/seller-links",
        json={"seller_id": seller["id"], "link": "https://tour.example/r220"},
    )
    kit = api.kit("Tour kit", build_target=2)
    api.post(
        f"/api/kits/{kit['id']}/contents", json={"part_id": part["id"], "required_per_unit": 2}
    )
    shopping = api.post("/api/shopping-lists", json={"name": "Tour list"})
    api.post(
        f"/api/shopping-lists/{shopping['id']}/lines",
        json={"part_id": part["id"], "needed": 5, "seller_id": seller["id"]},
    )
    pick = api.post(f"/api/kits/{kit['id']}/pick-lists", json={"requested_units": 1})
    return {
        "box": box,
        "part": part,
        "seller": seller,
        "kit": kit,
        "shopping": shopping,
        "pick": pick,
    }


def test_every_screen_loads_without_an_error_or_a_failed_call(
    page: Page, ui: LiveServer, api: Api, watch: PageWatch
) -> None:
    seeded = _seed(api)
    part, kit = seeded["part"], seeded["kit"]
    screens: list[tuple[str, str, str | None]] = [
        ("/parts", "parts.list.card", "Tour resistor 220R"),
        (f"/parts/{part['key']}", "parts.detail.seller-links.row", "Tourshop"),
        ("/kits", f"kits.overview.card.{kit['id']}", "Tour kit"),
        (f"/kits/{kit['id']}", "kits.detail.table", "Tour resistor 220R"),
        ("/shopping-lists", "shopping-lists.overview.content", "Tour list"),
        (f"/shopping-lists/{seeded['shopping']['id']}", "shopping-lists.detail.header.name", None),
        (f"/pick-lists/{seeded['pick']['id']}", "pick-lists.detail.loaded", None),
        ("/boxes", "boxes.list.table", "Tour box"),
        (f"/boxes/{seeded['box']['box_no']}", "boxes.detail.locations.list", "Tour resistor"),
        ("/types", "types.list.container", None),
        ("/sellers", f"sellers.list.item.{seeded['seller']['id']}", "Tourshop"),
        ("/about", "about.page", None),
    ]
    for path, marker, text in screens:
        open_page(page, ui, path)
        shown = page.get_by_test_id(marker)
        if text is not None:
            shown = shown.filter(has_text=text)
        expect(shown.first).to_be_visible()
        expect(page.locator('[data-testid$=".loading"]')).to_have_count(0)
        _no_error_shown(page)
    assert re.search(r"/about$", page.url)
