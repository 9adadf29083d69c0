"""From a paid order to a review on the product page, every step a click in a real browser: the
supplier ships it from the shipping queue with a carrier and a tracking number (a wrong number is
refused first, with the reason beside the field); the buyer, on a phone, sees the promised ship-by
time while it waits, then the carrier and tracking number, confirms delivery and writes a review
with stars, tags (one good, one bad) and a few words; the product page shows it with its tags and
the tag counts, to anyone.

The order is placed and paid over the API the way people do it: checkout, the sandbox provider's
pay page confirmed (its signed notification reaches this very server)."""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
from babel.dates import format_datetime
from playwright.sync_api import Page, expect

from fieldcast.web.templating import DISPLAY_TZ
from tests.e2e.conftest import Credentials, NewContext
from tests.e2e.shows import join_by_invitation, ok, pay_for, sign_up
from tests.factories import PASSWORD, product_body, supplier_body

pytestmark = pytest.mark.e2e

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
JINGYU = "220622"  # 吉林省白山市靖宇县
PAID_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Paid:
    slug: str
    shipper: Credentials  # the cooperative's member with the supplier role
    buyer: Credentials
    order_id: int
    ship_by: datetime
    product_id: int
    title: str


def _wait_for_state(api: httpx.Client, order_id: int, state: str) -> dict[str, Any]:
    deadline = time.monotonic() + PAID_TIMEOUT_S
    while True:
        order: dict[str, Any] = ok(api.get(f"/api/v1/orders/{order_id}"))
        if order["state"] == state or time.monotonic() > deadline:
            assert order["state"] == state, order
            return order
        time.sleep(0.2)


def paid_order(base_url: str) -> Paid:
    """A cooperative with one published product and a member who ships for it (supplier role); a
    buyer whose order of that product was paid through the sandbox provider."""
    suffix = secrets.token_hex(3)
    owner = Credentials(f"owner-review-{suffix}@e2e.example.com", PASSWORD, f"理事长{suffix}")
    shipper = Credentials(f"shipper-review-{suffix}@e2e.example.com", PASSWORD, f"发货员{suffix}")
    buyer = Credentials(f"buyer-review-{suffix}@e2e.example.com", PASSWORD, f"王{suffix}")
    slug, title = f"review-{suffix}", f"靖宇蓝莓 {suffix}"
    with (
        httpx.Client(base_url=base_url, timeout=15.0) as owner_api,
        httpx.Client(base_url=base_url, timeout=15.0) as shipper_api,
        httpx.Client(base_url=base_url, timeout=15.0) as buyer_api,
    ):
        sign_up(owner_api, owner)
        ok(
            owner_api.post(
                "/api/v1/organisations", json={"slug": slug, "name": f"蓝莓合作社{suffix}", "kind": "cooperative"}
            ),
            201,
        )
        sign_up(shipper_api, shipper)
        join_by_invitation(owner_api, shipper_api, slug, shipper.email, "supplier")
        supplier_id = ok(owner_api.post(f"/api/v1/organisations/{slug}/suppliers", json=supplier_body()), 201)["id"]
        product = ok(
            owner_api.post(f"/api/v1/organisations/{slug}/products", json=product_body(supplier_id, title=title)), 201
        )
        ok(owner_api.post(f"/api/v1/products/{product['id']}/publish", json={}))

        sign_up(buyer_api, buyer)
        address = {"recipient": "王小明", "phone": "13812341234", "region_code": JINGYU, "street": "靖宇镇江边路1号"}
        address_id = ok(buyer_api.post("/api/v1/me/addresses", json=address), 201)["id"]
        items = [{"sku_id": product["skus"][0]["id"], "quantity": 1}]
        order_id = pay_for(buyer_api, items, address_id, key=f"checkout-{suffix}")
        order = _wait_for_state(buyer_api, order_id, "paid")
    assert order["ship_by"], order
    ship_by = datetime.fromisoformat(order["ship_by"])
    return Paid(slug, shipper, buyer, order_id, ship_by, int(product["id"]), title)


def _sign_in(page: Page, who: Credentials, path: str) -> None:
    """Open a page that needs an account; sign in on the page it sends to and come back."""
    page.goto(path)
    expect(page).to_have_url(re.compile(r"/signin\?next="))
    page.locator("#f-email").fill(who.email)
    page.locator("#f-password").fill(who.password)
    page.locator("form[action='/signin'] [type=submit]").click()
    expect(page).to_have_url(re.compile(re.escape(path) + "$"))


def _fits_screen(page: Page) -> None:
    scroll_width, inner_width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll_width <= inner_width, f"{page.url} is {scroll_width}px wide on a {inner_width}px phone screen"


def _shown(moment: datetime) -> str:
    """A UTC time as the zh-CN pages show it (Asia/Shanghai, short)."""
    return format_datetime(moment.astimezone(DISPLAY_TZ), format="short", locale="zh_CN")


def test_a_paid_order_is_shipped_delivered_and_reviewed_in_the_browser_and_the_review_shows_with_its_tags(
    new_context: NewContext, live_server: str
) -> None:
    paid = paid_order(live_server)
    tracking_no = "SF" + "".join(secrets.choice("0123456789") for _ in range(13))

    # The buyer, on a phone, sees the order paid and the supplier's promise.
    buyer = new_context(**PHONE).new_page()
    _sign_in(buyer, paid.buyer, f"/orders/{paid.order_id}")
    _fits_screen(buyer)
    expect(buyer.get_by_test_id("order-state")).to_have_text("已付款，待发货")
    fulfilment = buyer.get_by_test_id("fulfilment")
    expect(fulfilment.get_by_test_id("ship-by")).to_have_text(f"供货方承诺 {_shown(paid.ship_by)} 前发货。")
    expect(fulfilment).to_contain_text("尚未发货。")
    expect(fulfilment.get_by_test_id("ship-form")).to_have_count(0)  # the buyer does not ship

    # The supplier opens the shipping queue and ships it: a number that is not SF's is refused.
    shipper = new_context().new_page()
    _sign_in(shipper, paid.shipper, f"/orgs/{paid.slug}/shipping")
    expect(shipper.get_by_test_id("tab-to_ship")).to_have_attribute("aria-current", "page")
    row = shipper.locator(f"[data-testid=queue-order][data-order-id='{paid.order_id}']")
    expect(row).to_contain_text(paid.title)
    expect(row.get_by_test_id("order-state")).to_have_text("已付款，待发货")
    expect(row).to_contain_text(f"{_shown(paid.ship_by)} 前发货")
    row.get_by_label("快递公司").select_option(label="顺丰速运")
    row.get_by_label("运单号").fill("75312345678901")
    row.get_by_test_id("ship-order").click()
    row = shipper.locator(f"[data-testid=queue-order][data-order-id='{paid.order_id}']")
    expect(row.get_by_test_id("ship-error")).to_have_text("“75312345678901”不是SF的运单号（格式如 SF1234567890123）。")
    expect(row.get_by_label("快递公司")).to_have_value("SF")  # what was chosen stays chosen
    # As printed on the label: lower case, in groups; it is kept in its one spelling.
    spaced = f"{tracking_no[:2].lower()} {tracking_no[2:6]} {tracking_no[6:10]} {tracking_no[10:]}"
    row.get_by_label("运单号").fill(spaced)
    row.get_by_test_id("ship-order").click()
    expect(shipper).to_have_url(re.compile(rf"/orgs/{paid.slug}/shipping\?status=to_ship$"))
    expect(shipper.locator(f"[data-testid=queue-order][data-order-id='{paid.order_id}']")).to_have_count(0)
    shipper.get_by_test_id("tab-shipped").click()
    expect(shipper.get_by_test_id("tab-shipped")).to_have_attribute("aria-current", "page")
    row = shipper.locator(f"[data-testid=queue-order][data-order-id='{paid.order_id}']")
    expect(row.get_by_test_id("order-state")).to_have_text("已发货")
    expect(row.get_by_test_id("queue-shipment")).to_contain_text(f"顺丰速运 {tracking_no} · 已交快递")
    row.get_by_role("link", name=f"订单 {paid.order_id}").click()
    expect(shipper).to_have_url(re.compile(rf"/orders/{paid.order_id}$"))
    expect(shipper.get_by_test_id("order-state")).to_have_text("已发货")
    expect(shipper.get_by_test_id("tracking-no")).to_have_text(tracking_no)

    # The buyer finds the order shipped, with the carrier and the number, and confirms delivery.
    buyer.goto("/orders")
    mine = buyer.locator(f"[data-testid=order][data-order-id='{paid.order_id}']")
    expect(mine.get_by_test_id("order-state")).to_have_text("已发货")
    mine.get_by_role("link", name=f"订单 {paid.order_id}").click()
    expect(buyer).to_have_url(re.compile(rf"/orders/{paid.order_id}$"))
    _fits_screen(buyer)
    shipment = buyer.get_by_test_id("shipment")
    expect(shipment.get_by_test_id("carrier")).to_have_text("顺丰速运")
    expect(shipment.get_by_test_id("tracking-no")).to_have_text(tracking_no)
    expect(shipment.get_by_test_id("tracking-status")).to_contain_text("已交快递")
    expect(buyer.get_by_test_id("write-review")).to_have_count(0)  # not before it arrives
    buyer.get_by_test_id("confirm-delivery").click()
    expect(buyer.get_by_test_id("order-state")).to_have_text("已签收")
    expect(buyer.get_by_test_id("confirm-delivery")).to_have_count(0)

    # The buyer reviews it: four stars, a good tag and a bad one, a few words.
    buyer.get_by_test_id("write-review").click()
    expect(buyer).to_have_url(re.compile(rf"/orders/{paid.order_id}/review$"))
    _fits_screen(buyer)
    form = buyer.get_by_test_id("review-form")
    form.get_by_test_id("rating-4").check()
    form.get_by_test_id("tag-freshness-good").check()
    form.get_by_test_id("tag-packaging_size-bad").check()
    form.get_by_test_id("review-text").fill("蓝莓很新鲜，就是箱子太大了。")
    form.get_by_test_id("post-review").click()

    expect(buyer.get_by_test_id("review-posted")).to_be_visible()
    expect(buyer.get_by_test_id("review-form")).to_have_count(0)
    buyer.get_by_test_id("see-on-product").click()
    expect(buyer).to_have_url(re.compile(rf"/p/{paid.product_id}#reviews$"))
    _fits_screen(buyer)

    # Anyone opening the product page, signed in or not, sees the review, its tags and the counts.
    anonymous = new_context().new_page()
    anonymous.goto(f"/p/{paid.product_id}")
    for page in (buyer, anonymous):
        section = page.get_by_test_id("product-reviews")
        expect(section.get_by_test_id("review-count")).to_have_text("1 条评价")
        expect(section.get_by_test_id("review-average")).to_have_text("4.0")
        review = section.get_by_test_id("review")
        expect(review).to_have_count(1)
        expect(review.get_by_test_id("review-body")).to_have_text("蓝莓很新鲜，就是箱子太大了。")
        expect(review.get_by_test_id("review-tag")).to_have_text(["新鲜", "包装过大或过小"])
        counts = section.get_by_test_id("tag-count")
        expect(counts).to_have_count(2)
        expect(counts.nth(0)).to_have_text(re.compile(r"新鲜\s*1"))
        expect(counts.nth(1)).to_have_text(re.compile(r"包装过大或过小\s*1"))
