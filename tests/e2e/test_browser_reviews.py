"""Reviewing a delivered order on a phone, in a real browser: from the order page the buyer
writes a review with stars, tags (one good, one bad) and a few words, and it shows on the
product page with its tags and the tag counts.

The order is taken to "delivered" over the API the way people do it: checkout, the sandbox
provider's pay page confirmed (its signed notification reaches this very server), shipped by the
cooperative's owner, delivery confirmed by the buyer. (The lead extends this to start from a paid
order and go through shipping in the browser.)"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Credentials, NewContext
from tests.e2e.shows import ok, sign_up
from tests.factories import PASSWORD, product_body, supplier_body

pytestmark = pytest.mark.e2e

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
JINGYU = "220622"  # 吉林省白山市靖宇县
PAID_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Delivered:
    buyer: Credentials
    order_id: int
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


def delivered_order(base_url: str) -> Delivered:
    """A cooperative with one published product; a buyer whose order of it was paid through the
    sandbox provider, shipped and confirmed delivered."""
    suffix = secrets.token_hex(3)
    owner = Credentials(f"owner-review-{suffix}@e2e.example.com", PASSWORD, f"理事长{suffix}")
    buyer = Credentials(f"buyer-review-{suffix}@e2e.example.com", PASSWORD, f"王{suffix}")
    slug, title = f"review-{suffix}", f"靖宇蓝莓 {suffix}"
    with (
        httpx.Client(base_url=base_url, timeout=15.0) as owner_api,
        httpx.Client(base_url=base_url, timeout=15.0) as buyer_api,
    ):
        sign_up(owner_api, owner)
        ok(
            owner_api.post(
                "/api/v1/organisations", json={"slug": slug, "name": f"蓝莓合作社{suffix}", "kind": "cooperative"}
            ),
            201,
        )
        supplier_id = ok(owner_api.post(f"/api/v1/organisations/{slug}/suppliers", json=supplier_body()), 201)["id"]
        product = ok(
            owner_api.post(f"/api/v1/organisations/{slug}/products", json=product_body(supplier_id, title=title)), 201
        )
        ok(owner_api.post(f"/api/v1/products/{product['id']}/publish", json={}))

        sign_up(buyer_api, buyer)
        address = {"recipient": "王小明", "phone": "13812341234", "region_code": JINGYU, "street": "靖宇镇江边路1号"}
        address_id = ok(buyer_api.post("/api/v1/me/addresses", json=address), 201)["id"]
        items = [{"sku_id": product["skus"][0]["id"], "quantity": 1}]
        payment = ok(
            buyer_api.post(
                "/api/v1/checkout",
                json={"items": items, "address_id": address_id},
                headers={"Idempotency-Key": f"checkout-{suffix}"},
            ),
            201,
        )
        order_id = int(payment["orders"][0]["id"])
        opened = ok(buyer_api.post(f"/api/v1/payments/{payment['id']}/open"))
        pay_path = httpx.URL(opened["pay_url"]).path
        confirm = buyer_api.post(f"{pay_path}/confirm", data={"csrf_token": buyer_api.headers["X-CSRF-Token"]})
        assert confirm.status_code == 303, confirm.text
        _wait_for_state(buyer_api, order_id, "paid")
        ok(owner_api.post(f"/api/v1/orders/{order_id}/ship"))
        ok(buyer_api.post(f"/api/v1/orders/{order_id}/confirm-delivery"))
    return Delivered(buyer, order_id, int(product["id"]), title)


def _fits_screen(page: Page) -> None:
    scroll_width, inner_width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll_width <= inner_width, f"{page.url} is {scroll_width}px wide on a {inner_width}px phone screen"


def test_a_buyer_reviews_a_delivered_order_and_it_shows_on_the_product_page_with_its_tags(
    new_context: NewContext, live_server: str
) -> None:
    done = delivered_order(live_server)
    page = new_context(**PHONE).new_page()

    page.goto(f"/orders/{done.order_id}")
    expect(page).to_have_url(re.compile(r"/signin\?next="))
    page.locator("#f-email").fill(done.buyer.email)
    page.locator("#f-password").fill(done.buyer.password)
    page.locator("form[action='/signin'] [type=submit]").click()
    expect(page).to_have_url(re.compile(rf"/orders/{done.order_id}$"))

    page.get_by_test_id("write-review").click()
    expect(page).to_have_url(re.compile(rf"/orders/{done.order_id}/review$"))
    _fits_screen(page)
    form = page.get_by_test_id("review-form")
    form.get_by_test_id("rating-4").check()
    form.get_by_test_id("tag-freshness-good").check()
    form.get_by_test_id("tag-packaging_size-bad").check()
    form.get_by_test_id("review-text").fill("蓝莓很新鲜，就是箱子太大了。")
    form.get_by_test_id("post-review").click()

    expect(page.get_by_test_id("review-posted")).to_be_visible()
    expect(page.get_by_test_id("review-form")).to_have_count(0)
    page.get_by_test_id("see-on-product").click()
    expect(page).to_have_url(re.compile(rf"/p/{done.product_id}#reviews$"))
    _fits_screen(page)

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
