"""EI's web UI on the inventory and sellers plugins (issue 12), driven in Chromium.

The same set-up as tests/ui/test_browser.py, whose fixtures this module reuses: one real
``partsbin serve`` for the module serving the UI build, and every test failing on a console
error, an uncaught exception or a 4xx/5xx answer it did not cause on purpose. Each test seeds what
it needs through the API (every test makes its own boxes, parts and sellers, so none depends on
another's data) and asserts on what the pages show: Storage and box detail, stock added, moved
and removed from part detail, kit availability from real stock, sellers with a logo, seller
links, and the part form with its seller and stock sections.
"""

# ruff: noqa: F811
from __future__ import annotations

import re
from typing import Any

import requests
from playwright.sync_api import Locator, Page, expect

from core.testing.servers.live_server import LiveServer
from tests.ui.browser import PageWatch

# The helpers and module fixtures of test_browser.py (imported fixtures are registered in this
# module: one server for this module, the same failure checks). Test arguments named after those
# fixtures are what pytest fills in, hence F401/F811 are expected for them.
from tests.ui.test_browser import Api, api, png, ui, watch  # noqa: F401
from tests.ui.test_browser import _open as open_page

ANY = re.compile(".*")


def _box(api: Api, description: str, capacity: int) -> dict[str, Any]:
    return api.post("/api/boxes", json={"description": description, "capacity": capacity})


def _stock(api: Api, key: str, box_no: int, loc_no: int, qty: int) -> None:
    api.post(
        f"/api/inventory/parts/{key}/stock", json={"box_no": box_no, "loc_no": loc_no, "qty": qty}
    )


def _seller(api: Api, name: str) -> dict[str, Any]:
    return api.post(
        "/api/sellers", json={"name": name, "website": f"https://{name.lower()}.example"}
    )


def _rows(page: Page) -> Locator:
    return page.get_by_test_id("parts.locations").get_by_test_id("parts.locations.row")


def _row(page: Page, box_no: int, loc_no: int) -> Locator:
    return page.locator(
        f'[data-testid="parts.locations.row"][data-box="{box_no}"][data-location="{loc_no}"]'
    )


def _total(page: Page) -> Locator:
    return page.get_by_test_id("parts.locations.total")


# --- storage --------------------------------------------------------------------------------


def test_create_a_box_and_see_it_in_the_storage_list(
    page: Page, ui: LiveServer, api: Api, watch: PageWatch
) -> None:
    open_page(page, ui, "/boxes")
    page.get_by_test_id("boxes.list.add").click()
    page.get_by_test_id("boxes.create.field.description").fill("Resistor drawer")
    page.get_by_test_id("boxes.create.field.capacity").fill("12")
    page.get_by_test_id("boxes.create.submit").click()
    # the card appears once the box is stored (reading the API before would race the POST)
    cards = page.get_by_test_id(re.compile(r"^boxes\.list\.item\.\d+$"))
    expect(cards.filter(has_text="Resistor drawer")).to_have_count(1)
    stored = next(b for b in api.get("/api/boxes") if b["description"] == "Resistor drawer")
    assert stored["capacity"] == 12
    card = page.get_by_test_id(f"boxes.list.item.{stored['box_no']}")
    expect(card).to_contain_text(f"#{stored['box_no']} Resistor drawer")
    expect(card).to_contain_text("12 locations")


def test_box_detail_shows_its_locations_and_what_they_hold(
    page: Page, ui: LiveServer, api: Api, watch: PageWatch
) -> None:
    box = _box(api, "Capacitor case", 8)
    first = api.part("Electrolytic 47uF box detail")
    second = api.part("Film capacitor 1uF box detail")
    _stock(api, first["key"], box["box_no"], 2, 25)
    _stock(api, second["key"], box["box_no"], 5, 7)
    open_page(page, ui, "/boxes")
    card = page.get_by_test_id(f"boxes.list.item.{box['box_no']}")
    expect(card).to_contain_text("Capacitor case")
    card.click()
    expect(page.get_by_test_id("boxes.detail")).to_be_visible()
    expect(page.get_by_test_id("boxes.detail.metadata.capacity")).to_contain_text("8")
    two = page.get_by_test_id(f"boxes.detail.location-container.{box['box_no']}-2")
    five = page.get_by_test_id(f"boxes.detail.location-container.{box['box_no']}-5")
    expect(two).to_contain_text("Location 2")
    expect(two.get_by_test_id(f"boxes.detail.part-card.{first['key']}")).to_contain_text(
        "Electrolytic 47uF box detail"
    )
    expect(two.get_by_test_id(f"boxes.detail.part-card.quantity-{first['key']}")).to_contain_text(
        "25"
    )
    expect(five.get_by_test_id(f"boxes.detail.part-card.{second['key']}")).to_contain_text(
        "Film capacitor 1uF box detail"
    )
    expect(five.get_by_test_id(f"boxes.detail.part-card.quantity-{second['key']}")).to_contain_text(
        "7"
    )
    # only occupied locations are drawn as containers
    expect(page.get_by_test_id(re.compile(r"^boxes\.detail\.location-container\."))).to_have_count(
        2
    )


# --- stock from part detail -----------------------------------------------------------------


def test_add_move_and_remove_stock_from_part_detail(
    page: Page, ui: LiveServer, api: Api, watch: PageWatch
) -> None:
    box = _box(api, "Transistor tray", 10)
    no = box["box_no"]
    part = api.part("BC547 stock flow")
    key = part["key"]
    open_page(page, ui, f"/parts/{key}")
    expect(page.get_by_test_id("parts.locations.empty")).to_be_visible()

    # add 30 at location 1 (from the empty state's own button)
    page.get_by_test_id("parts.locations.empty-state").get_by_role(
        "button", name="Add Stock"
    ).click()
    page.get_by_test_id("parts.locations.box-selector").select_option(str(no))
    page.get_by_test_id("parts.locations.location-input").fill("1")
    page.get_by_test_id("parts.locations.quantity-add").fill("30")
    page.get_by_test_id("parts.locations.add-save").click()
    expect(_row(page, no, 1).get_by_test_id("parts.locations.quantity")).to_have_text("30")
    expect(_total(page)).to_have_text("Total: 30")

    # add 12 more at location 2 (the add row stays open after a save)
    expect(page.get_by_test_id("parts.locations.add-row")).to_be_visible()
    page.get_by_test_id("parts.locations.box-selector").select_option(str(no))
    page.get_by_test_id("parts.locations.location-input").fill("2")
    page.get_by_test_id("parts.locations.quantity-add").fill("12")
    page.get_by_test_id("parts.locations.add-save").click()
    expect(_row(page, no, 2).get_by_test_id("parts.locations.quantity")).to_have_text("12")
    expect(_total(page)).to_have_text("Total: 42")

    # move the 12 from location 2 to location 7
    _row(page, no, 2).get_by_test_id("parts.locations.edit").click()
    page.get_by_test_id("parts.locations.edit-location-input").fill("7")
    page.get_by_test_id("parts.locations.edit-save").click()
    expect(_row(page, no, 7).get_by_test_id("parts.locations.quantity")).to_have_text("12")
    expect(_row(page, no, 2)).to_have_count(0)
    expect(_total(page)).to_have_text("Total: 42")

    # take 5 out of location 1
    _row(page, no, 1).get_by_test_id("parts.locations.adjust-stock").click()
    dialog = page.get_by_test_id("parts.locations.adjust-stock-dialog")
    expect(dialog.get_by_test_id("parts.locations.adjust-stock-dialog.current")).to_contain_text(
        "30"
    )
    dialog.get_by_test_id("parts.locations.adjust-stock-dialog.input").fill("-5")
    dialog.get_by_test_id("parts.locations.adjust-stock-dialog.submit").click()
    expect(_row(page, no, 1).get_by_test_id("parts.locations.quantity")).to_have_text("25")
    expect(_total(page)).to_have_text("Total: 37")

    # empty location 7
    _row(page, no, 7).get_by_test_id("parts.locations.remove").click()
    expect(_row(page, no, 7)).to_have_count(0)
    expect(_rows(page)).to_have_count(1)
    expect(_total(page)).to_have_text("Total: 25")

    stored = api.get(f"/api/parts/{key}/locations")
    assert [(loc["box_no"], loc["loc_no"], loc["qty"]) for loc in stored] == [(no, 1, 25)]

    open_page(page, ui, "/parts")
    expect(page.get_by_test_id(f"parts.list.card.quantity-{key}")).to_contain_text("25")


# --- kits -----------------------------------------------------------------------------------


def test_kit_availability_reflects_stock(
    page: Page, ui: LiveServer, api: Api, watch: PageWatch
) -> None:
    box = _box(api, "Kit stock box", 4)
    part = api.part("Trimmer 10k kit stock")
    _stock(api, part["key"], box["box_no"], 1, 5)
    _stock(api, part["key"], box["box_no"], 3, 2)
    kit = api.kit("Tone generator", build_target=3)
    content = api.post(
        f"/api/kits/{kit['id']}/contents", json={"part_id": part["id"], "required_per_unit": 4}
    )
    open_page(page, ui, f"/kits/{kit['id']}")
    expect(page.get_by_test_id("kits.detail.header.name")).to_have_text("Tone generator")
    cells = page.get_by_test_id(f"kits.detail.table.row.{content['id']}").locator("td")
    # part, required per unit, total (4 x 3), in stock (5 + 2), reserved, available, shortfall,
    # then the note and the row's actions
    expect(cells).to_have_text(
        [re.compile("Trimmer 10k kit stock"), "4", "12", "7", "0", "7", "5", ANY, ANY]
    )
    expect(page.get_by_test_id("kits.detail.table.summary.shortfall")).to_have_text(
        re.compile(r"Shortfall:\s*5$")
    )


# --- sellers --------------------------------------------------------------------------------


def test_sellers_create_edit_and_delete(
    page: Page, ui: LiveServer, api: Api, watch: PageWatch
) -> None:
    open_page(page, ui, "/sellers")
    page.get_by_test_id("sellers.list.add").click()
    page.get_by_test_id("sellers.create.field.name").fill("Farnell")
    page.get_by_test_id("sellers.create.field.website").fill("https://farnell.example")
    page.get_by_test_id("sellers.create.submit").click()
    # the card appears once the seller is stored (reading the API before would race the POST)
    cards = page.get_by_test_id(re.compile(r"^sellers\.list\.item\.\d+$"))
    expect(cards.filter(has_text="Farnell")).to_have_count(1)
    stored = next(s for s in api.get("/api/sellers") if s["name"] == "Farnell")
    card = page.get_by_test_id(f"sellers.list.item.{stored['id']}")
    expect(card).to_contain_text("Farnell")
    expect(page.get_by_test_id(f"sellers.list.item.{stored['id']}.link")).to_have_attribute(
        "href", "https://farnell.example"
    )

    card.get_by_role("button", name="Edit").click()
    name = page.get_by_test_id(f"sellers.edit.{stored['id']}.field.name")
    expect(name).to_have_value("Farnell")
    name.fill("Farnell UK")
    page.get_by_test_id(f"sellers.edit.{stored['id']}.field.website").fill(
        "https://uk.farnell.example"
    )
    page.get_by_test_id(f"sellers.edit.{stored['id']}.submit").click()
    expect(card).to_contain_text("Farnell UK")
    expect(page.get_by_test_id(f"sellers.list.item.{stored['id']}.link")).to_have_attribute(
        "href", "https://uk.farnell.example"
    )
    edited = api.get(f"/api/sellers/{stored['id']}")
    assert (edited["name"], edited["website"]) == ("Farnell UK", "https://uk.farnell.example")

    card.get_by_role("button", name="Delete").click()
    page.get_by_role("button", name=re.compile("^Delete")).last.click()
    expect(card).to_have_count(0)
    assert "Farnell UK" not in [s["name"] for s in api.get("/api/sellers")]


def test_seller_logo_shows_on_the_parts_seller_links(
    page: Page, ui: LiveServer, api: Api, watch: PageWatch
) -> None:
    seller = _seller(api, "Reichelt")
    response = requests.put(
        f"{ui.url}/api/sellers/{seller['id']}/logo",
        files={"file": ("reichelt.png", png("red", (32, 32)), "image/png")},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    logo_url = response.json()["logo_url"]
    assert logo_url
    part = api.part("Crystal 16MHz seller logo")
    api.post(
        f"/api/parts/{part['key']}/seller-links",
        json={"seller_id": seller["id"], "link": "https://reichelt.example/xtal16"},
    )
    open_page(page, ui, "/parts")
    chip = (
        page.get_by_test_id("parts.list.card")
        .filter(has_text="Crystal 16MHz seller logo")
        .get_by_test_id("parts.list.card.seller-chip")
    )
    expect(chip.locator("img")).to_have_attribute("src", logo_url)
    expect(chip.locator("img")).to_have_attribute("alt", "Reichelt")
    page.wait_for_function(
        "sel => { const i = document.querySelector(sel);"
        " return i !== null && i.complete && i.naturalWidth === 32; }",
        arg=f'[data-part-key="{part["key"]}"] [data-testid="parts.list.card.seller-chip"] img',
    )


def test_add_a_seller_link_to_a_part(
    page: Page, ui: LiveServer, api: Api, watch: PageWatch
) -> None:
    seller = _seller(api, "Tme")
    part = api.part("Optocoupler PC817 seller link")
    open_page(page, ui, f"/parts/{part['key']}")
    links = page.get_by_test_id("parts.detail.seller-links")
    expect(links.get_by_test_id("parts.detail.seller-links.empty")).to_be_visible()
    links.get_by_test_id("parts.detail.seller-links.add-button").click()
    form = links.get_by_test_id("parts.detail.seller-links.form")
    form.get_by_test_id("sellers.selector.input").fill("Tme")
    page.get_by_role("option", name=re.compile("Tme")).first.click()
    form.get_by_test_id("parts.detail.seller-links.form.link").fill("https://tme.example/pc817")
    form.get_by_test_id("parts.detail.seller-links.form.submit").click()
    row = links.get_by_test_id("parts.detail.seller-links.row")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Tme")
    expect(row.get_by_role("link")).to_have_attribute("href", "https://tme.example/pc817")
    stored = api.get(f"/api/parts/{part['key']}")["seller_links"]
    assert [(s["seller_id"], s["link"]) for s in stored] == [
        (seller["id"], "https://tme.example/pc817")
    ]


# --- the part form with the seller and stock sections ----------------------------------------


def test_part_create_and_edit_with_sellers_and_stock(
    page: Page, ui: LiveServer, api: Api, watch: PageWatch
) -> None:
    box = _box(api, "Form box", 3)
    _seller(api, "Mouser")
    open_page(page, ui, "/parts")
    page.get_by_test_id("parts.list.add").click()
    expect(page.get_by_test_id("parts.form.form")).to_contain_text("Seller")
    page.get_by_test_id("parts.form.description").fill("LM7805 regulator form")
    page.get_by_test_id("parts.form.submit").click()
    expect(page.get_by_test_id("detail-screen.title")).to_have_text("LM7805 regulator form")
    key = page.url.rstrip("/").rsplit("/", 1)[-1]
    expect(page.get_by_test_id("parts.locations.empty")).to_be_visible()
    _stock(api, key, box["box_no"], 2, 9)

    page.get_by_test_id("parts.detail.actions.edit").click()
    description = page.get_by_test_id("parts.form.description")
    expect(description).to_have_value("LM7805 regulator form")
    description.fill("LM7805 5V regulator form")
    page.get_by_test_id("parts.form.submit").click()
    expect(page.get_by_test_id("detail-screen.title")).to_have_text("LM7805 5V regulator form")
    expect(_row(page, box["box_no"], 2).get_by_test_id("parts.locations.quantity")).to_have_text(
        "9"
    )
    assert api.get(f"/api/parts/{key}")["description"] == "LM7805 5V regulator form"
