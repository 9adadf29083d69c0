"""Coupons in a live room, in a real browser (a phone): an anonymous viewer presses Claim, signs in
inside the buy sheet without leaving the room and has the coupon; a second viewer's card counts
down live (coupon.left over the room socket) and greys when the last one goes; the buy sheet then
offers the coupon, chosen, with the total after it, and the payment asks for that total."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import NewContext
from tests.e2e.shows import ok
from tests.e2e.test_browser_buy import (
    PHONE,
    _card,
    _connected,
    _mark_document,
    _same_document,
    open_shop,
    signed_in,
    start_show,
)

pytestmark = pytest.mark.e2e


def test_a_viewer_claims_a_coupon_in_the_room_and_buys_with_it(new_context: NewContext, live_server: str) -> None:
    shop = open_shop(live_server, "coupon-")
    start_show(live_server, shop)
    with signed_in(live_server, shop.owner) as owner_api:
        slug = ok(owner_api.get(f"/api/v1/sessions/{shop.session_id}"))["organisation"]["slug"]
        batch = {
            "title": "满50减10",
            "kind": "threshold",
            "amount_off_fen": 1000,
            "min_spend_fen": 5000,
            "scope": "session",
            "session_id": shop.session_id,
            "total": 2,
            "claim_ends_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        }
        batch_id = ok(owner_api.post(f"/api/v1/organisations/{slug}/coupons", json=batch), 201)["id"]
    room_path = f"/live/{shop.session_id}"

    watcher = new_context(**PHONE).new_page()
    watcher.goto(room_path)
    _connected(watcher)
    watcher_left = watcher.get_by_test_id("coupon-left")
    expect(watcher_left).to_contain_text("2")

    page = new_context(**PHONE).new_page()
    page.goto(room_path)
    _connected(page)
    _mark_document(page)
    # On the phone's stage a banner says there are coupons; it opens the shelf sheet that holds them.
    page.get_by_test_id("banner-coupons").click()
    page.get_by_test_id("coupon-claim").click()
    sheet = page.get_by_test_id("buy-sheet")
    expect(sheet.get_by_test_id("sheet-email")).to_be_focused()
    expect(sheet.get_by_test_id("sheet-item")).to_be_hidden()
    sheet.get_by_test_id("sheet-email").fill(shop.buyer.email)
    sheet.get_by_test_id("sheet-password").fill(shop.buyer.password)
    sheet.get_by_test_id("sheet-signin").click()
    expect(sheet).to_be_hidden()
    expect(page.get_by_test_id("coupon-claimed")).to_be_visible()
    _same_document(page, room_path)
    # the other viewer's card counted down live
    expect(watcher_left).to_contain_text("1")

    # Buying: the coupon is offered and chosen; the total and the payment are after it.
    _card(page, shop.pinned_sku).get_by_test_id("buy-button").click()
    expect(sheet.get_by_test_id("buy-coupon")).to_be_visible()
    expect(sheet.get_by_test_id("buy-total")).to_have_text("¥69.00")  # ¥79.00 less ¥10.00
    sheet.get_by_test_id("buy-coupon").select_option("")
    expect(sheet.get_by_test_id("buy-total")).to_have_text("¥79.00")
    sheet.get_by_test_id("buy-coupon").select_option(index=1)
    expect(sheet.get_by_test_id("buy-total")).to_have_text("¥69.00")
    sheet.get_by_test_id("buy-confirm").click()
    expect(page.frame_locator("[data-testid=pay-frame]").get_by_test_id("sandbox-amount")).to_have_text("¥69.00")
    _same_document(page, room_path)

    # The last coupon goes to someone else: the watcher's card greys and Claim is disabled.
    with signed_in(live_server, shop.host) as host_api:
        ok(host_api.post(f"/api/v1/coupons/{batch_id}/claim"), 201)
    expect(watcher.get_by_test_id("coupon-claim")).to_be_disabled()
