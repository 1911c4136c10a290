"""EI's web UI on shopping lists and pick lists (issue 13), driven in Chromium against a real
``partsbin serve``: order a kit's shortfall, group it by seller, order and receive it into stock;
build a pick list from a kit, pick and undo a line, open its PDF.

The server, the page watch (console errors, uncaught exceptions and unexpected 4xx/5xx fail the
test), the `Api` seeder and `_open` are test_browser.py's, reused as they are. Each test seeds
parts, a box, stock, sellers and a kit through the API and drives the flow itself in the UI.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Locator, Page, Response, expect

from core.testing.servers.live_server import LiveServer
from tests.ui.browser import PageWatch
from tests.ui.test_browser import Api, _open, api, ui, watch

__all__ = ["api", "ui", "watch"]  # the module's server and page watch, as fixtures

#: A kanban card (a shopping-list line) as a whole, not one of its fields.
CARD = re.compile(r"^shopping-lists\.kanban\.card\.\d+$")


def _box(api: Api, description: str) -> int:
    return int(api.post("/api/boxes", json={"description": description, "capacity": 10})["box_no"])


def _stock(api: Api, part: dict[str, Any], box_no: int, loc_no: int, qty: int) -> None:
    api.post(
        f"/api/inventory/parts/{part['key']}/stock",
        json={"box_no": box_no, "loc_no": loc_no, "qty": qty},
    )


def _kit(api: Api, name: str, build_target: int, contents: list[tuple[dict[str, Any], int]]) -> int:
    kit = api.kit(name, build_target=build_target)
    for part, per_unit in contents:
        api.post(
            f"/api/kits/{kit['id']}/contents",
            json={"part_id": part["id"], "required_per_unit": per_unit},
        )
    return int(kit["id"])


def _drag(page: Page, source: Locator, target: Locator) -> None:
    """Drag ``source`` onto ``target`` with the mouse in small steps (the kanban board's
    drag-and-drop starts only after the pointer has moved a few pixels)."""
    start = source.bounding_box()
    end = target.bounding_box()
    assert start is not None and end is not None
    x, y = start["x"] + start["width"] / 2, start["y"] + 20
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 20, y + 10, steps=5)
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + end["height"] / 2, steps=10)
    page.mouse.up()


def _line_card(column: Locator, description: str) -> Locator:
    return column.get_by_test_id(CARD).filter(has_text=description)


def _line_saved(line_id: str) -> Callable[[Response], bool]:
    """The answer to the UI's save of shopping-list line ``line_id``."""
    return lambda r: (
        r.request.method == "PUT" and r.url.endswith(f"/api/shopping-list-lines/{line_id}")
    )


# --- shopping lists -------------------------------------------------------------------------


def test_order_stock_from_a_kit_group_by_seller_order_and_receive_into_stock(
    page: Page, ui: LiveServer, api: Api, watch: PageWatch
) -> None:
    box_no = _box(api, "Order box")
    resistor = api.part("Order resistor 10k")
    capacitor = api.part("Order capacitor 1uF")
    _stock(api, resistor, box_no, 1, 5)
    seller = api.post("/api/sellers", json={"name": "Orderhouse", "website": "https://oh.example"})
    kit_id = _kit(api, "Order kit", 2, [(resistor, 4), (capacitor, 3)])
    shopping = api.post("/api/shopping-lists", json={"name": "Order kit restock"})

    # Order Stock on the kit: the kit's shortfall goes to the chosen list
    _open(page, ui, f"/kits/{kit_id}")
    page.get_by_test_id("kits.detail.actions.order-stock").click()
    dialog = page.get_by_test_id("kits.detail.shopping-list.dialog")
    expect(page.get_by_test_id("kits.detail.shopping-list.units")).to_have_value("2")
    dialog.get_by_test_id("shopping-lists.selector").locator("input").fill("Order kit restock")
    page.get_by_role("option", name="Order kit restock").first.click()
    page.get_by_test_id("kits.detail.shopping-list.submit").click()
    link = page.get_by_test_id(f"kits.detail.links.shopping.{shopping['id']}")
    expect(link).to_contain_text("Order kit restock")

    # the list shows one line per short part, for the shortfall: 8 - 5 resistors, 6 capacitors
    link.click()
    expect(page.get_by_test_id("shopping-lists.detail.header.name")).to_have_text(
        "Order kit restock"
    )
    unassigned = page.get_by_test_id("shopping-lists.kanban.column.ungrouped")
    resistor_card = _line_card(unassigned, "Order resistor 10k")
    capacitor_card = _line_card(unassigned, "Order capacitor 1uF")
    expect(resistor_card.locator('[data-testid$=".field.needed"]')).to_have_text("3")
    expect(capacitor_card.locator('[data-testid$=".field.needed"]')).to_have_text("6")
    line_id = resistor_card.get_attribute("data-testid").rsplit(".", 1)[-1]  # type: ignore[union-attr]

    # group by seller: a column for the seller, the resistor's line dragged into it
    page.get_by_test_id("shopping-lists.kanban.skeleton-column.trigger").click()
    page.get_by_test_id("shopping-lists.kanban.skeleton-column.select").fill("Orderhouse")
    page.get_by_role("option", name="Orderhouse").first.click()
    column = page.get_by_test_id(f"shopping-lists.kanban.column.{seller['id']}")
    expect(
        column.get_by_test_id(f"shopping-lists.kanban.column.{seller['id']}.header")
    ).to_contain_text("Orderhouse")
    card = page.get_by_test_id(f"shopping-lists.kanban.card.{line_id}")
    with page.expect_response(_line_saved(line_id)):
        _drag(page, card, column)
    expect(column.get_by_test_id(f"shopping-lists.kanban.card.{line_id}")).to_be_visible()
    expect(unassigned.get_by_test_id(CARD)).to_have_count(1)

    # mark ordered: the ordered quantity, then the seller group's order button
    card.get_by_test_id(f"shopping-lists.kanban.card.{line_id}.field.ordered").click()
    card.locator("input").fill("3")
    with page.expect_response(_line_saved(line_id)):
        card.locator("input").press("Enter")
    ordered = card.get_by_test_id(f"shopping-lists.kanban.card.{line_id}.field.ordered")
    expect(ordered).to_have_text("3")
    complete = column.locator(
        f'button[data-testid="shopping-lists.kanban.column.{seller["id"]}.complete"]'
    )
    expect(complete).to_be_enabled()
    complete.click()
    expect(page.get_by_test_id("shopping-lists.detail.header.badges")).to_contain_text("Ordered: 1")
    received = card.get_by_test_id(f"shopping-lists.kanban.card.{line_id}.field.received")
    expect(received).to_have_text("0")

    # receive the 3 into a new location, box #box_no location 2
    receive = card.get_by_test_id(f"shopping-lists.kanban.card.{line_id}.receive")
    expect(receive).to_be_visible()
    # an ordered card's drag handle is aria-disabled, which Playwright's click reads as disabling
    # the button inside it (the button itself is enabled): press it from the keyboard instead
    receive.press("Enter")
    form = page.get_by_test_id("shopping-lists.ready.update-stock.form")
    expect(
        form.get_by_test_id("shopping-lists.ready.update-stock.line.metric.ordered")
    ).to_have_text("3")
    new_row = form.locator('tr[data-allocation-type="new"]')
    new_row.locator("select").select_option(str(box_no))
    new_row.locator('input[data-testid$=".location"]').fill("2")
    new_row.locator('input[data-testid$=".receive"]').fill("3")
    page.get_by_test_id("shopping-lists.ready.update-stock.submit").click()
    expect(form).to_have_count(0)
    expect(received).to_have_text("3")

    # the part now holds 5 + 3, the new 3 in location 2 of the box
    _open(page, ui, f"/parts/{resistor['key']}")
    expect(page.get_by_test_id("parts.locations.total")).to_contain_text("8")
    rows = page.get_by_test_id("parts.locations.row")
    expect(rows).to_have_count(2)
    new_location = rows.and_(page.locator(f'[data-box="{box_no}"][data-location="2"]'))
    expect(new_location.get_by_test_id("parts.locations.quantity")).to_have_text("3")
    locations = api.get(f"/api/parts/{resistor['key']}")
    assert locations["total_quantity"] == 8, locations


def test_shopping_lists_screen_and_membership_badges_load_without_errors(
    page: Page, ui: LiveServer, api: Api, watch: PageWatch
) -> None:
    part = api.part("Badge relay 5V")
    loose = api.part("Badge fuse, on no list")
    kit_id = _kit(api, "Badge kit", 1, [(part, 2)])
    loose_kit_id = _kit(api, "Badge kit, on no list", 1, [(loose, 1)])
    shopping = api.post(
        f"/api/kits/{kit_id}/shopping-lists",
        json={
            "units": 1,
            "honor_reserved": False,
            "new_list_name": "Badge restock",
        },
    )
    list_id = shopping["shopping_list"]["id"]

    _open(page, ui, "/shopping-lists")
    expect(page.get_by_test_id("shopping-lists.overview.heading")).to_be_visible()
    card = page.get_by_test_id(f"shopping-lists.overview.card.{list_id}")
    expect(card.get_by_test_id(f"shopping-lists.overview.card.{list_id}.name")).to_have_text(
        "Badge restock"
    )
    expect(
        card.get_by_test_id(f"shopping-lists.overview.card.{list_id}.lines-new")
    ).to_contain_text("1")

    _open(page, ui, f"/parts/{part['key']}")
    badges = page.get_by_test_id("parts.detail.link.badges")
    expect(badges).to_contain_text("Badge restock")
    expect(page.get_by_test_id("parts.detail.link.badges.loading")).to_have_count(0)

    _open(page, ui, f"/kits/{kit_id}")
    expect(page.get_by_test_id("kits.detail.body.links")).to_contain_text("Badge restock")
    expect(page.get_by_test_id("kits.detail.header.badges")).to_be_visible()

    # the lists' membership indicators: a kit card and a part card on a shopping list
    _open(page, ui, "/kits")
    expect(page.get_by_test_id(f"kits.overview.card.{kit_id}.shopping-indicator")).to_be_visible()
    expect(page.get_by_test_id(f"kits.overview.card.{loose_kit_id}")).to_be_visible()
    expect(
        page.get_by_test_id(f"kits.overview.card.{loose_kit_id}.shopping-indicator")
    ).to_have_count(0)
    _open(page, ui, "/parts")
    part_card = page.get_by_test_id("parts.list.card").and_(
        page.locator(f'[data-part-key="{part["key"]}"]')
    )
    expect(part_card.get_by_test_id("parts.list.card.shopping-list-indicator")).to_be_visible()
    loose_card = page.get_by_test_id("parts.list.card").and_(
        page.locator(f'[data-part-key="{loose["key"]}"]')
    )
    expect(loose_card).to_be_visible()
    expect(loose_card.get_by_test_id("parts.list.card.shopping-list-indicator")).to_have_count(0)


# --- pick lists -----------------------------------------------------------------------------


def test_pick_list_from_a_kit_pick_and_undo_a_line_and_open_its_pdf(
    page: Page, ui: LiveServer, api: Api, watch: PageWatch
) -> None:
    box_no = _box(api, "Pick box")
    diode = api.part("Pick diode 1N4148")
    _stock(api, diode, box_no, 3, 10)
    kit_id = _kit(api, "Pick kit", 1, [(diode, 2)])

    _open(page, ui, f"/kits/{kit_id}")
    page.get_by_test_id("kits.detail.pick-lists.add").click()
    page.get_by_test_id("kits.detail.pick-list.create.field.requested-units").fill("1")
    page.get_by_test_id("kits.detail.pick-list.create.continue").click()
    item = page.get_by_test_id("kits.detail.pick-lists.open").get_by_test_id(
        re.compile(r"^kits\.detail\.pick-lists\.open\.item\.\d+$")
    )
    expect(item).to_have_count(1)
    item.click()

    expect(page.get_by_test_id("pick-lists.detail.loaded")).to_be_visible()
    expect(page.get_by_test_id("pick-lists.detail.breadcrumbs.kit")).to_have_text("Pick kit")
    line = (
        page.get_by_test_id("pick-lists.detail.lines")
        .get_by_test_id(re.compile(r"^pick-lists\.detail\.line\.\d+$"))
        .filter(has_text="Pick diode 1N4148")
    )
    line_id = re.sub(r"\D", "", line.get_attribute("data-testid") or "")
    prefix = f"pick-lists.detail.line.{line_id}"
    expect(page.get_by_test_id(f"{prefix}.location")).to_have_text(f"{box_no}-3")
    expect(page.get_by_test_id(f"{prefix}.quantity")).to_have_text("2")
    expect(page.get_by_test_id(f"{prefix}.status")).to_have_text("Open")

    # pick: the line is completed and 2 leave the location (the UI shows it before the server
    # answers, so the API is read after the UI's own request)
    with page.expect_response(re.compile(rf"/api/pick-lists/\d+/lines/{line_id}/pick$")):
        page.get_by_test_id(f"{prefix}.action.pick").click()
    expect(page.get_by_test_id(f"{prefix}.status")).to_have_text("Completed")
    expect(page.get_by_test_id("pick-lists.detail.status")).to_have_text("Completed")
    expect(page.get_by_test_id(f"{prefix}.availability")).to_contain_text("8")
    assert api.get(f"/api/parts/{diode['key']}")["total_quantity"] == 8

    # undo: the line is open again and the 2 are back
    with page.expect_response(re.compile(rf"/api/pick-lists/\d+/lines/{line_id}/undo$")):
        page.get_by_test_id(f"{prefix}.action.undo").click()
    expect(page.get_by_test_id(f"{prefix}.status")).to_have_text("Open")
    expect(page.get_by_test_id(f"{prefix}.action.pick")).to_be_visible()
    expect(page.get_by_test_id(f"{prefix}.availability")).to_contain_text("10")
    assert api.get(f"/api/parts/{diode['key']}")["total_quantity"] == 10

    # the PDF opens in the viewer and is a real PDF
    with page.expect_response(re.compile(r"/api/pick-lists/\d+/pdf")) as answer:
        page.get_by_test_id("pick-lists.detail.actions.view-pdf").click()
    assert answer.value.status == 200
    assert answer.value.headers["content-type"].startswith("application/pdf")
    # Chromium's PDF viewer takes the body over: fetch the same URL in the page's context
    fetched = page.request.get(answer.value.url)
    assert fetched.status == 200
    assert fetched.headers["content-type"].startswith("application/pdf")
    assert fetched.body().startswith(b"%PDF-")
