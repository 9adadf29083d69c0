"""The event big screen (大屏) on a projector: an event with two live rooms; the screen shows both
with their counters, the totals with verified GMV beside raw, and moves without a reload when a
viewer likes in one room and a buyer pays in the other (the ticker says the province only, the
map shades it). It fits 1920×1080 and 1280×720 without scrolling, axe finds nothing serious, and
a screenshot at 1920×1080 is saved to test-artifacts/bigscreen.png."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ARTIFACTS_DIR, NewContext
from tests.e2e.shows import ok, pay_for
from tests.e2e.test_accessibility import AXE_JS, FAILING_IMPACTS, _describe, _violations
from tests.e2e.test_browser_buy import ShopRoom, _sign_in, open_shop, signed_in

pytestmark = pytest.mark.e2e

HUBEI = "420506"  # 湖北省宜昌市夷陵区: the second order ships here (the buyer's first address is in 吉林)
LIVE_TIMEOUT_MS = 20_000
FIGURES_TIMEOUT_MS = 40_000  # a purchase reaches the totals through the roll-up (every 2 s here)


def _event_of_two_rooms(base_url: str, shop: ShopRoom) -> tuple[str, int]:
    """The shop's owner makes an event, puts the shop's show in it and schedules a second room
    beside it (same host, same product); the host starts both. The slug and the second room's id."""
    slug = f"fengcheng-{secrets.token_hex(3)}"
    now = datetime.now(UTC)
    with signed_in(base_url, shop.owner) as owner_api:
        first = ok(owner_api.get(f"/api/v1/sessions/{shop.session_id}"))
        event = {
            "organisation_id": first["organisation"]["id"],
            "slug": slug,
            "title": "丰城助农直播节",
            "starts_at": now.isoformat(),
            "ends_at": (now + timedelta(hours=4)).isoformat(),
        }
        event_id = ok(owner_api.post("/api/v1/events", json=event), 201)["id"]
        ok(owner_api.patch(f"/api/v1/sessions/{shop.session_id}", json={"event_id": event_id}))
        second = {
            "organisation_id": first["organisation"]["id"],
            "event_id": event_id,
            "title": "丰城蓝莓第二直播间",
            "scheduled_at": (now + timedelta(minutes=20)).isoformat(),
            "host_ids": [h["id"] for h in first["hosts"]],
            "is_public_welfare": True,
            "shelf": [{"sku_id": shop.pinned_sku, "live_price_fen": 7500, "session_stock": 20}],
        }
        second_id = int(ok(owner_api.post("/api/v1/sessions", json=second), 201)["id"])
    with signed_in(base_url, shop.host) as host_api:
        for session_id in (shop.session_id, second_id):
            ok(host_api.post(f"/api/v1/sessions/{session_id}/start"))
    return slug, second_id


def _buy(base_url: str, shop: ShopRoom, session_id: int, quantity: int, region_code: str) -> None:
    """The buyer orders the pinned SKU in `session_id`, shipped to a new address in `region_code`,
    and pays in the sandbox."""
    with signed_in(base_url, shop.buyer) as buyer:
        address = {"recipient": "王小明", "phone": "13812341234", "region_code": region_code, "street": "江边路9号"}
        address_id = ok(buyer.post("/api/v1/me/addresses", json=address), 201)["id"]
        items = [{"sku_id": shop.pinned_sku, "quantity": quantity, "session_id": session_id}]
        pay_for(buyer, items, address_id, key=f"screen-{session_id}-{quantity}")


def _fits(page: Page) -> None:
    """Nothing scrolls: the page is exactly the viewport."""
    overflow = page.evaluate(
        """() => ({ h: document.documentElement.scrollHeight - innerHeight,
                    w: document.documentElement.scrollWidth - innerWidth })"""
    )
    assert overflow == {"h": 0, "w": 0}, overflow


def test_the_big_screen_shows_two_live_rooms_and_moves_with_a_like_and_a_purchase(
    new_context: NewContext, live_server: str
) -> None:
    shop = open_shop(live_server, "screen-")
    slug, second = _event_of_two_rooms(live_server, shop)

    # The event page links the big screen for its organiser.
    screen = new_context(viewport={"width": 1920, "height": 1080}, bypass_csp=True).new_page()
    _sign_in(screen, shop.owner, f"/events/{slug}")
    screen.get_by_test_id("event-screen-link").click()
    expect(screen).to_have_url(re.compile(rf"/events/{slug}/screen$"))
    expect(screen.get_by_test_id("screen")).to_have_attribute("data-loaded", "true", timeout=LIVE_TIMEOUT_MS)
    rooms = screen.get_by_test_id("screen-rooms").get_by_test_id("screen-room")
    expect(rooms).to_have_count(2)
    expect(screen.locator("[data-testid=screen-room][data-state=live]")).to_have_count(2)
    # Each room socket is open: the screen itself counts as one viewer in each room.
    for card in (rooms.nth(0), rooms.nth(1)):
        expect(card.get_by_test_id("room-viewers")).to_have_text(re.compile(r"^[1-9]\d*$"), timeout=LIVE_TIMEOUT_MS)
    expect(screen.get_by_test_id("screen-orders")).to_have_text("0 / 0")
    expect(screen.get_by_test_id("screen-raw")).to_have_text("¥0.00")
    expect(screen.get_by_test_id("screen-verified")).to_have_text("¥0.00")

    # A viewer likes three times in the first room: its card and the event's likes move live.
    viewer = new_context(viewport={"width": 1280, "height": 800}).new_page()
    viewer.goto(f"/live/{shop.session_id}")
    expect(viewer.get_by_test_id("count-viewers")).to_have_text(re.compile(r"^\d+$"), timeout=LIVE_TIMEOUT_MS)
    like = viewer.get_by_test_id("like")
    for _ in range(3):
        like.click()
    first_card = screen.locator(f"[data-testid=screen-room][data-session-id='{shop.session_id}']")
    expect(first_card.get_by_test_id("room-likes")).to_have_text("3", timeout=LIVE_TIMEOUT_MS)
    expect(screen.get_by_test_id("screen-likes")).to_have_text("3", timeout=LIVE_TIMEOUT_MS)

    # A buyer pays in each room (to 吉林 in the first, to 湖北 in the second): the ticker says the
    # province only, the totals and the second room's card follow, verified GMV beside raw.
    _buy(live_server, shop, shop.session_id, 1, "220622")
    _buy(live_server, shop, second, 2, HUBEI)
    ticker = screen.get_by_test_id("screen-ticker").get_by_test_id("screen-purchase")
    expect(ticker).to_have_count(2, timeout=LIVE_TIMEOUT_MS)
    expect(ticker.first).to_contain_text("湖北省")
    expect(ticker.nth(1)).to_contain_text("吉林省")
    expect(screen.get_by_test_id("screen-ticker")).not_to_contain_text("王小明")
    expect(screen.get_by_test_id("screen-orders")).to_have_text("2 / 2", timeout=FIGURES_TIMEOUT_MS)
    expect(screen.get_by_test_id("screen-paid")).to_have_text("¥229.00", timeout=FIGURES_TIMEOUT_MS)  # 79 + 2 × 75
    expect(screen.get_by_test_id("screen-raw")).to_have_text("¥229.00")
    expect(screen.get_by_test_id("screen-verified")).to_have_text("¥229.00")  # nothing refunded or flagged
    expect(screen.get_by_test_id("screen-buyers")).to_have_text("1")
    second_card = screen.locator(f"[data-testid=screen-room][data-session-id='{second}']")
    expect(second_card.get_by_test_id("room-orders")).to_have_text("1")
    board = screen.get_by_test_id("screen-leaderboard").locator("li")
    expect(board.first).to_have_attribute("data-session-id", str(second))  # ¥150 before ¥79
    provinces = screen.get_by_test_id("screen-provinces")
    expect(provinces).to_contain_text("湖北省")
    expect(provinces).to_contain_text("吉林省")
    # The map is drawn (ECharts' canvas), with the two provinces shaded.
    expect(screen.locator("[data-testid=screen-map] canvas").first).to_be_visible()
    shaded = screen.evaluate(
        """() => echarts.getInstanceByDom(document.querySelector('[data-map]'))
                  .getOption().series[0].data.filter((d) => d.value > 0).map((d) => d.name).sort()"""
    )
    assert shaded == ["吉林", "湖北"]

    _fits(screen)
    screen.wait_for_timeout(1000)  # the changed figures' highlight fades
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    screen.screenshot(path=str(ARTIFACTS_DIR / "bigscreen.png"))

    if AXE_JS.exists():
        violations = _violations(screen)
        failing = [v for v in violations if v["impact"] in FAILING_IMPACTS]
        assert not failing, f"big screen: serious or critical violations:\n{_describe(failing)}"

    # The organiser makes a projector link on the event page; a 1280×720 projector PC nobody
    # signed in on opens it and shows the same figures, without scrolling.
    screen.goto(f"/events/{slug}")
    screen.get_by_test_id("screen-link-section").locator("summary").click()
    screen.get_by_test_id("screen-link-make").click()
    link = screen.get_by_test_id("screen-link-url").input_value()
    assert re.fullmatch(rf"{re.escape(live_server)}/screen/[\w-]{{40,}}", link), link
    projector = new_context(viewport={"width": 1280, "height": 720}).new_page()
    projector.goto(link)
    expect(projector).to_have_url(re.compile(rf"/events/{slug}/screen$"))
    expect(projector.get_by_test_id("screen")).to_have_attribute("data-loaded", "true", timeout=LIVE_TIMEOUT_MS)
    expect(projector.get_by_test_id("screen-paid")).to_have_text("¥229.00")
    expect(projector.locator("[data-testid=screen-map] canvas").first).to_be_visible()
    # A screen opened late shows the last purchases already (from the orders, province only).
    told = projector.get_by_test_id("screen-ticker").get_by_test_id("screen-purchase")
    expect(told).to_have_count(2)
    expect(told.first).to_contain_text("湖北省")
    expect(told.nth(1)).to_contain_text("吉林省")
    _fits(projector)
    projector.screenshot(path=str(ARTIFACTS_DIR / "bigscreen-720p.png"))
