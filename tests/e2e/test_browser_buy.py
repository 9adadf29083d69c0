"""Buying in a live room on a phone, in a real browser, without ever leaving the room.

A buyer taps Buy on the pinned "explaining now" card while the video plays, confirms in the sheet,
pays on the provider's page inside the sheet and is back in the room with the sheet saying paid
(the video still playing, the chat still connected, the document never replaced); the order is
paid. Then the buyer takes the last unit of another item and a second viewer's card greys out
live. An anonymous viewer signs in (or signs up and adds an address) inside the sheet and carries
on buying in the same room; a flash sale's Buy stays disabled until its start, by the server's
clock even when the device's clock is an hour off.

The host goes live from the console with chromium's fake camera (this module's browser has the
fake-media flags); everything else is made over the JSON API. The sandbox provider's notification
reaches the server under test because its notify URL is the address the browser uses."""

from __future__ import annotations

import contextlib
import re
import secrets
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Error, Locator, Page, Playwright, expect, sync_playwright

from tests.conftest import unavailable
from tests.e2e.conftest import ADMIN, ARTIFACTS_DIR, CHROMIUM, CHROMIUM_ARGS, Credentials, NewContext
from tests.e2e.shows import api, inspection_authority, join_by_invitation, ok, person, sign_up, with_csrf
from tests.factories import inspection_body, next_id_serial, product_body, supplier_body, verification_body

pytestmark = pytest.mark.e2e

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
FAKE_MEDIA_ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
VIDEO_TIMEOUT_MS = 90_000
LIVE_TIMEOUT_MS = 20_000
PAID_TIMEOUT_MS = 30_000
JINGYU = "220622"  # 吉林省白山市靖宇县


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """This module's chromium: Debian's, headless, with a fake camera and microphone for the host
    (overrides the shared fixture of the same name, so `new_context` uses it)."""
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing (apt-get install chromium); browser tests need it")
    playwright: Playwright = sync_playwright().start()
    try:
        try:
            launched = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=[*CHROMIUM_ARGS, *FAKE_MEDIA_ARGS]
            )
        except Error as exc:
            unavailable(f"{CHROMIUM} did not start: {exc.message}")
            raise
        try:
            yield launched
        finally:
            launched.close()
    finally:
        playwright.stop()


# -- set-up over the API ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ShopRoom:
    session_id: int
    owner: Credentials
    host: Credentials
    buyer: Credentials
    title: str
    pinned_sku: int  # 5斤装: 50 units set aside for the show
    last_sku: int  # 1斤尝鲜装: one unit set aside
    last_item: int  # its shelf item id


def open_shop(base_url: str, prefix: str, *, flash_starts_at: datetime | None = None) -> ShopRoom:
    """A cooperative with a verified host (a village first secretary) and an inspector; one
    inspected, published product with two SKUs on the public-welfare shelf of a show scheduled
    for later (the second SKU with one unit set aside, a flash sale from `flash_starts_at` when
    given); and a buyer with a default address."""
    suffix = secrets.token_hex(3)
    owner, host = person(prefix, "owner", suffix, "理事长"), person(prefix, "host", suffix, "第一书记")
    inspector, buyer = person(prefix, "inspector", suffix, "检测员"), person(prefix, "buyer", suffix, "买家")
    slug = f"{prefix}{suffix}"
    title = f"靖宇蓝莓 {suffix}"
    with (
        api(base_url) as owner_api,
        api(base_url) as host_api,
        api(base_url) as inspector_api,
        api(base_url) as admin_api,
        api(base_url) as buyer_api,
    ):
        sign_up(owner_api, owner)
        host_id = sign_up(host_api, host)
        sign_up(inspector_api, inspector)
        sign_up(buyer_api, buyer)
        ok(admin_api.post("/api/v1/auth/signin", json={"email": ADMIN.email, "password": ADMIN.password}))
        with_csrf(admin_api)
        org = {"slug": slug, "name": f"靖宇县蓝莓合作社{suffix}", "kind": "cooperative", "region": "吉林省白山市靖宇县"}
        org_id = ok(owner_api.post("/api/v1/organisations", json=org), 201)["id"]
        join_by_invitation(owner_api, host_api, slug, host.email, "host")
        inspection_authority(base_url, inspector_api, inspector.email, suffix)  # the county's office
        serial = next_id_serial()
        applied = ok(host_api.post("/api/v1/me/verifications", json=verification_body(serial)), 201)
        ok(admin_api.post(f"/api/v1/verifications/{applied['id']}/approve", json={"reason": "核验任命文件"}))
        supplier = supplier_body(name="靖宇县蓝莓种植专业合作社", contact_name="李", contact_phone="0439-0000000")
        supplier_id = ok(owner_api.post(f"/api/v1/organisations/{slug}/suppliers", json=supplier), 201)["id"]
        skus = [
            {"spec_label": "5斤装", "price_fen": 9900, "weight_g": 2500, "shelf_life_days": 7, "stock": 100},
            {"spec_label": "1斤尝鲜装", "price_fen": 2990, "weight_g": 500, "shelf_life_days": 7, "stock": 100},
        ]
        made = ok(
            owner_api.post(
                f"/api/v1/organisations/{slug}/products", json=product_body(supplier_id, title=title, skus=skus)
            ),
            201,
        )
        ok(inspector_api.post(f"/api/v1/products/{made['id']}/inspections", json=inspection_body()), 201)
        ok(owner_api.post(f"/api/v1/products/{made['id']}/publish", json={}))
        pinned_sku, last_sku = (int(k["id"]) for k in made["skus"])
        last: dict[str, Any] = {"sku_id": last_sku, "live_price_fen": 1990, "session_stock": 1}
        if flash_starts_at is not None:
            last.update(flash_starts_at=flash_starts_at.isoformat(), per_buyer_limit=1)
        session = {
            "organisation_id": org_id,
            "title": f"靖宇蓝莓助农直播 {suffix}",
            "scheduled_at": (datetime.now(UTC) + timedelta(minutes=20)).isoformat(),
            "host_ids": [host_id],
            "is_public_welfare": True,
            "shelf": [{"sku_id": pinned_sku, "live_price_fen": 7900, "session_stock": 50}, last],
        }
        detail = ok(owner_api.post("/api/v1/sessions", json=session), 201)
        assert detail["is_public_welfare"] is True
        address = {"recipient": "王小明", "phone": "13812341234", "region_code": JINGYU, "street": "靖宇镇江边路1号"}
        assert ok(buyer_api.post("/api/v1/me/addresses", json=address), 201)["is_default"] is True
    last_item = next(int(x["id"]) for x in detail["shelf"] if x["sku_id"] == last_sku)
    return ShopRoom(int(detail["id"]), owner, host, buyer, title, pinned_sku, last_sku, last_item)


@contextlib.contextmanager
def signed_in(base_url: str, who: Credentials) -> Iterator[httpx.Client]:
    with api(base_url) as client:
        ok(client.post("/api/v1/auth/signin", json={"email": who.email, "password": who.password}))
        with_csrf(client)
        yield client


def start_show(base_url: str, shop: ShopRoom) -> None:
    with signed_in(base_url, shop.host) as host_api:
        ok(host_api.post(f"/api/v1/sessions/{shop.session_id}/start"))


# -- in the browser -----------------------------------------------------------------------------------


def _sign_in(page: Page, who: Credentials, then: str) -> None:
    page.goto(f"/signin?next={then}")
    page.locator("#f-email").fill(who.email)
    page.locator("#f-password").fill(who.password)
    page.locator("form[action='/signin'] [type=submit]").click()
    expect(page).to_have_url(re.compile(re.escape(then) + "$"))


def _go_live_from_console(host: Page, shop: ShopRoom) -> None:
    """The host signs in and goes live from the console with the fake camera."""
    _sign_in(host, shop.host, then=f"/live/{shop.session_id}/console")
    expect(host.locator("#golive")).to_have_attribute("data-ready", "1")  # its script has bound the buttons
    host.get_by_test_id("golive-start").click()
    expect(host.get_by_test_id("golive-status")).to_have_attribute("data-kind", "live", timeout=VIDEO_TIMEOUT_MS)


def _wait_playing(page: Page, min_time_s: float = 1.0, timeout_ms: int = VIDEO_TIMEOUT_MS) -> float:
    """Wait until the room's <video> plays and its clock has passed `min_time_s`; the time."""
    page.wait_for_function(
        """(min) => { const v = document.getElementById("room-video");
                      return v && v.isConnected && v.readyState >= 3 && !v.paused && v.currentTime > min; }""",
        arg=min_time_s,
        timeout=timeout_ms,
    )
    current: float = page.evaluate("() => document.getElementById('room-video').currentTime")
    return current


def _connected(page: Page) -> None:
    """The room socket is open: the counters bar has had a counters frame."""
    expect(page.get_by_test_id("count-viewers")).to_have_text(re.compile(r"^\d+$"), timeout=LIVE_TIMEOUT_MS)


def _mark_document(page: Page) -> None:
    page.evaluate("() => { window.__sameRoomDocument = true; }")


def _same_document(page: Page, path: str) -> None:
    assert page.evaluate("() => window.__sameRoomDocument === true"), "the room page was reloaded or left"
    assert page.url.endswith(path), page.url


def _screenshot(page: Page, name: str) -> None:
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS_DIR / name
    page.screenshot(path=str(path))
    sys.stderr.write(f"screenshot saved: {path}\n")


def _card(page: Page, sku_id: int, where: str = "#shelf") -> Locator:
    """A shelf card; on a phone the shelf is a sheet the bag opens (opened here if it is closed)."""
    bag = page.get_by_test_id("shelf-open")
    if where == "#shelf" and bag.is_visible() and bag.get_attribute("aria-expanded") != "true":
        bag.click()
    return page.locator(f"{where} [data-testid=shelf-item][data-sku-id='{sku_id}']")


def _pay_in_sheet(page: Page, amount: str) -> None:
    """Confirm in the sheet, then pay on the provider's page in the sheet's frame."""
    sheet = page.get_by_test_id("buy-sheet")
    sheet.get_by_test_id("buy-confirm").click()
    expect(sheet.get_by_test_id("pay-frame")).to_be_visible()
    provider = page.frame_locator("[data-testid=pay-frame]")
    expect(provider.get_by_test_id("sandbox-amount")).to_have_text(amount)
    provider.get_by_test_id("sandbox-confirm").click()


def test_a_buyer_pays_from_the_pinned_card_without_leaving_the_room_and_the_last_unit_sells_out_live(
    new_context: NewContext, live_server: str
) -> None:
    shop = open_shop(live_server, "buy-")
    room_path = f"/live/{shop.session_id}"

    # The host goes live from the console (the fake camera streams) and explains the 5斤装.
    _go_live_from_console(new_context().new_page(), shop)
    with signed_in(live_server, shop.host) as host_api:
        ok(host_api.post(f"/api/v1/sessions/{shop.session_id}/pin", json={"sku_id": shop.pinned_sku}), 201)

        # The buyer (signed in, with a default address) watches on a phone.
        buyer = new_context(**PHONE).new_page()
        _sign_in(buyer, shop.buyer, then=room_path)
        played = _wait_playing(buyer)
        _connected(buyer)
        _mark_document(buyer)
        pinned = buyer.get_by_test_id("pinned").get_by_test_id("shelf-item")
        expect(pinned).to_contain_text(shop.title)
        expect(pinned.get_by_test_id("stock-left")).to_have_text("剩 50 件")

        # One tap on Buy: the sheet, with the default address and the total.
        buy = pinned.get_by_test_id("buy-button")
        buy.click()
        sheet = buyer.get_by_test_id("buy-sheet")
        expect(sheet).to_be_visible()
        expect(sheet).to_have_attribute("aria-modal", "true")
        expect(sheet.get_by_test_id("sheet-title")).to_have_text(shop.title)
        expect(sheet.get_by_test_id("buy-address")).to_contain_text("王小明")
        expect(sheet.get_by_test_id("buy-address")).to_contain_text("靖宇县")
        expect(sheet.get_by_test_id("buy-total")).to_have_text("¥79.00")
        expect(sheet.get_by_test_id("buy-confirm")).to_be_focused()  # focus moved into the sheet
        sheet.get_by_test_id("quantity-up").click()
        expect(sheet.get_by_test_id("buy-quantity")).to_have_value("2")
        expect(sheet.get_by_test_id("buy-total")).to_have_text("¥158.00")
        _screenshot(buyer, "buy-sheet-phone.png")

        # Confirm: the provider's page opens inside the sheet; the buyer pays there.
        _pay_in_sheet(buyer, "¥158.00")
        _screenshot(buyer, "buy-sheet-pay-phone.png")
        expect(sheet.get_by_test_id("sheet-paid")).to_be_visible(timeout=PAID_TIMEOUT_MS)
        _screenshot(buyer, "buy-sheet-paid-phone.png")

        # Still the same room: the same document, the video playing on, the chat connected.
        _same_document(buyer, room_path)
        assert buyer.locator("video#room-video").count() == 1
        _wait_playing(buyer, min_time_s=played)
        ok(host_api.post(f"/api/v1/sessions/{shop.session_id}/chat", json={"body": "谢谢支持！"}), 201)
        expect(buyer.get_by_test_id("chat-message").filter(has_text="谢谢支持")).to_have_count(
            1, timeout=LIVE_TIMEOUT_MS
        )

    # The order is paid, bought in this room; the sheet links to it and closes back to the room.
    with signed_in(live_server, shop.buyer) as buyer_api:
        orders = ok(buyer_api.get("/api/v1/me/orders"))["items"]
    assert [(o["state"], o["session_id"], o["total_fen"]) for o in orders] == [("paid", shop.session_id, 15800)]
    expect(sheet.get_by_test_id("order-link")).to_have_attribute("href", f"/orders/{orders[0]['id']}")
    sheet.get_by_test_id("back-to-show").click()
    expect(sheet).to_be_hidden()
    expect(buy).to_be_focused()
    expect(buyer.get_by_test_id("buy-resume")).to_be_hidden()

    # A second viewer in the same room sees the 1斤尝鲜装's last unit.
    viewer = new_context(**PHONE).new_page()
    viewer.goto(room_path)
    _connected(viewer)
    _mark_document(viewer)
    last = _card(viewer, shop.last_sku)
    expect(last.get_by_test_id("stock-left")).to_have_text("剩 1 件")
    expect(last.get_by_test_id("buy-button")).to_be_enabled()

    # The buyer takes it: on the viewer's phone the card greys and Buy is disabled, no reload;
    # the purchase shows as a toast over the video (the province, never a name).
    _card(buyer, shop.last_sku).get_by_test_id("buy-button").click()
    expect(sheet.get_by_test_id("buy-total")).to_have_text("¥19.90")
    expect(sheet.get_by_test_id("quantity-up")).to_be_disabled()  # one left: one at most
    _pay_in_sheet(buyer, "¥19.90")
    expect(last).to_have_class(re.compile(r"\bis-sold-out\b"), timeout=LIVE_TIMEOUT_MS)
    expect(last.get_by_test_id("buy-button")).to_be_disabled()
    expect(last.get_by_test_id("sold-out")).to_be_visible()
    expect(last.get_by_test_id("stock-left")).to_be_hidden()
    toast = viewer.get_by_test_id("purchase-toast")
    expect(toast).to_contain_text("吉林", timeout=LIVE_TIMEOUT_MS)
    expect(toast).to_contain_text(f"1 × {shop.title}")
    expect(toast).not_to_contain_text(shop.buyer.display_name)
    _screenshot(viewer, "room-sold-out-toast-phone.png")  # the toast over the video
    last.scroll_into_view_if_needed()
    _screenshot(viewer, "room-sold-out-phone.png")
    _same_document(viewer, room_path)
    expect(sheet.get_by_test_id("sheet-paid")).to_be_visible(timeout=PAID_TIMEOUT_MS)
    expect(_card(buyer, shop.last_sku).get_by_test_id("buy-button")).to_be_disabled()
    _same_document(buyer, room_path)


def test_an_anonymous_viewer_signs_in_inside_the_sheet_and_carries_on_buying_in_the_room(
    new_context: NewContext, live_server: str
) -> None:
    shop = open_shop(live_server, "buy-anon-")
    start_show(live_server, shop)
    room_path = f"/live/{shop.session_id}"

    page = new_context(**PHONE).new_page()
    page.goto(room_path)
    _connected(page)
    _mark_document(page)
    _card(page, shop.pinned_sku).get_by_test_id("buy-button").click()
    sheet = page.get_by_test_id("buy-sheet")
    expect(sheet.get_by_test_id("sheet-email")).to_be_focused()
    _screenshot(page, "buy-sheet-signin-phone.png")
    sheet.get_by_test_id("sheet-email").fill(shop.buyer.email)
    sheet.get_by_test_id("sheet-password").fill("not the password")
    sheet.get_by_test_id("sheet-signin").click()
    expect(sheet.get_by_test_id("sheet-error")).to_be_visible()  # the API's own words
    sheet.get_by_test_id("sheet-password").fill(shop.buyer.password)
    sheet.get_by_test_id("sheet-signin").click()

    # Signed in, in the same room: the buy step with the default address; Confirm works (the
    # new session's CSRF token was fetched), and the provider's page opens in the sheet.
    expect(sheet.get_by_test_id("buy-address")).to_contain_text("王小明")
    expect(sheet.get_by_test_id("buy-total")).to_have_text("¥79.00")
    _same_document(page, room_path)
    sheet.get_by_test_id("buy-confirm").click()
    expect(page.frame_locator("[data-testid=pay-frame]").get_by_test_id("sandbox-amount")).to_have_text("¥79.00")

    # Closed before paying, the room keeps a way back to the payment.
    page.keyboard.press("Escape")
    expect(sheet).to_be_hidden()
    resume = page.get_by_test_id("buy-resume")
    expect(resume).to_be_visible()
    resume.get_by_test_id("buy-resume-open").click()
    expect(sheet.get_by_test_id("pay-frame")).to_be_visible()
    sheet.get_by_test_id("pay-cancel").click()
    expect(sheet.get_by_test_id("sheet-error")).to_contain_text("取消")
    expect(sheet.get_by_test_id("buy-confirm")).to_be_visible()
    _same_document(page, room_path)

    # The shelf changes while the sheet is open: the room's page is rebuilt, but only once the
    # sheet is closed, never under a buyer who is buying.
    detail = f"/api/v1/sessions/{shop.session_id}"
    fetched = page.expect_response(lambda r: r.url.endswith(detail) and r.request.method == "GET")
    with fetched, signed_in(live_server, shop.owner) as owner_api:
        ok(owner_api.delete(f"{detail}/shelf/{shop.last_item}"), 204)
    page.wait_for_timeout(500)
    _same_document(page, room_path)
    expect(sheet).to_be_visible()
    sheet.get_by_test_id("sheet-close").click()
    expect(_card(page, shop.last_sku)).to_have_count(0, timeout=LIVE_TIMEOUT_MS)
    assert page.evaluate("() => window.__sameRoomDocument === undefined"), "the page was not rebuilt"

    # Someone new signs up in the sheet, adds an address there with the region picker, and is
    # on the buy step of the same room.
    newcomer = new_context(**PHONE).new_page()
    newcomer.goto(room_path)
    _mark_document(newcomer)
    _card(newcomer, shop.pinned_sku).get_by_test_id("buy-button").click()
    sheet = newcomer.get_by_test_id("buy-sheet")
    sheet.get_by_test_id("sheet-to-signup").click()
    sheet.get_by_test_id("sheet-email").fill(f"newcomer-{secrets.token_hex(3)}@e2e.example.com")
    sheet.get_by_test_id("sheet-name").fill("新买家")
    sheet.get_by_test_id("sheet-password").fill("a long enough password")
    sheet.get_by_test_id("sheet-signup").click()
    form = sheet.get_by_test_id("sheet-address-form")
    expect(form.locator("#f-recipient")).to_be_focused()
    form.locator("#f-recipient").fill("李四")
    form.locator("#f-phone").fill("139 0000 1111")
    form.locator("select[data-level=province]").select_option("220000")
    form.locator("select[data-level=city]").select_option("220600")
    form.locator("select[data-level=county]").select_option(JINGYU)
    form.locator("#f-street").fill("靖宇镇山货街2号")
    _screenshot(newcomer, "buy-sheet-address-phone.png")
    sheet.get_by_test_id("sheet-save-address").click()
    expect(sheet.get_by_test_id("buy-address")).to_contain_text("李四")
    expect(sheet.get_by_test_id("buy-total")).to_have_text("¥79.00")
    sheet.get_by_test_id("sheet-add-to-cart").click()
    expect(sheet.get_by_test_id("sheet-cart-status")).to_be_visible()
    _same_document(newcomer, room_path)


def test_a_flash_sale_opens_exactly_at_its_start_by_the_servers_clock(
    new_context: NewContext, live_server: str
) -> None:
    """The device's clock is an hour fast: the countdown still runs on the server's time."""
    shop = open_shop(live_server, "buy-flash-", flash_starts_at=datetime.now(UTC) + timedelta(hours=1))
    start_show(live_server, shop)
    room_path = f"/live/{shop.session_id}"

    context = new_context(**PHONE)
    context.add_init_script("(() => { const real = Date.now; Date.now = () => real() + 3600 * 1000; })();")
    page = context.new_page()
    page.goto(room_path)
    _connected(page)
    card = _card(page, shop.last_sku)
    button = card.get_by_test_id("buy-button")
    expect(button).to_be_disabled()
    expect(card.get_by_test_id("flash-countdown")).to_have_text(re.compile(r"0?0:59:\d\d|01:00:00"))
    # Record (on the real clock) the moment Buy becomes enabled.
    card.evaluate(
        """(card) => { const b = card.querySelector("[data-buy]");
             new MutationObserver(() => { if (!b.disabled && !window.__enabledAt)
               window.__enabledAt = performance.timeOrigin + performance.now(); })
             .observe(b, { attributes: true }); }"""
    )

    # The organiser moves the start to a few seconds from now; the card follows live.
    starts = datetime.now(UTC) + timedelta(seconds=6)
    with signed_in(live_server, shop.owner) as owner_api:
        patch = {"flash_starts_at": starts.isoformat()}
        ok(owner_api.patch(f"/api/v1/sessions/{shop.session_id}/shelf/{shop.last_item}", json=patch))
    expect(card.get_by_test_id("flash-countdown")).to_have_text(re.compile(r"00:00:0[1-6]"), timeout=LIVE_TIMEOUT_MS)
    expect(button).to_be_disabled()
    expect(button).to_have_text(re.compile("抢购"))
    card.scroll_into_view_if_needed()
    _screenshot(page, "room-flash-countdown-phone.png")
    assert time.time() < starts.timestamp(), "too slow to see the countdown before the start"

    expect(button).to_be_enabled(timeout=15_000)
    enabled_at_ms: float = page.evaluate("() => window.__enabledAt")
    start_ms = starts.timestamp() * 1000
    assert start_ms - 50 <= enabled_at_ms <= start_ms + 1500, (enabled_at_ms - start_ms, "ms from the start")
    expect(card.get_by_test_id("flash-countdown")).to_have_text("抢购中")
    button.click()
    expect(page.get_by_test_id("buy-sheet").get_by_test_id("sheet-email")).to_be_visible()
