"""The host's live dashboard (a tab of the cockpit): a purchase in the room shows in its figures,
its verified GMV beside raw, its charts and the shelf ranked by sales, without a reload."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS_DIR, NewContext
from tests.e2e.shows import ok, pay_for
from tests.e2e.test_browser_buy import _sign_in, open_shop, signed_in, start_show


def _buy_in_room(base_url: str, shop: Any, quantity: int) -> None:
    """The buyer orders the pinned SKU in the room at its live price and pays in the sandbox."""
    with signed_in(base_url, shop.buyer) as buyer:
        address_id = ok(buyer.get("/api/v1/me/addresses"))[0]["id"]
        items = [{"sku_id": shop.pinned_sku, "quantity": quantity, "session_id": shop.session_id}]
        pay_for(buyer, items, address_id, key=f"dash-{shop.session_id}-{quantity}")


def test_the_host_watches_a_purchase_arrive_on_the_live_dashboard(new_context: NewContext, live_server: str) -> None:
    shop = open_shop(live_server, "dash-")
    start_show(live_server, shop)
    host = new_context(viewport={"width": 1280, "height": 800}).new_page()
    _sign_in(host, shop.host, f"/live/{shop.session_id}/console")
    host.get_by_test_id("tab-dashboard").click()
    dashboard = host.get_by_test_id("dashboard")
    expect(dashboard).to_be_visible()
    expect(dashboard).to_have_attribute("data-loaded", "true", timeout=15_000)
    expect(host.get_by_test_id("kpi-orders")).to_have_text("0 / 0")

    _buy_in_room(live_server, shop, 2)

    # The roll-up counts the order's minute; the dashboard reads it again after the purchase.
    expect(host.get_by_test_id("kpi-orders")).to_have_text("1 / 1", timeout=40_000)
    paid = host.get_by_test_id("kpi-paid").inner_text()
    assert re.fullmatch(r"¥[\d,]+\.\d\d", paid) and paid != "¥0.00"
    expect(host.get_by_test_id("kpi-verified")).to_have_text(paid)  # nothing refunded or flagged
    first = host.get_by_test_id("dashboard-products").locator("tbody tr").first
    expect(first).to_have_attribute("data-sku-id", str(shop.pinned_sku))
    expect(first.locator("td").nth(2)).to_have_text("2")
    # ECharts drew both charts (SVG renderer) from the minutes.
    for name in ("audience", "sales"):
        expect(host.locator(f"[data-chart={name}] svg")).to_have_count(1)
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    dashboard.screenshot(path=str(ARTIFACTS_DIR / "dashboard.png"))
