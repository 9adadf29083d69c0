"""The cart on a phone, in a real browser: a buyer puts products in the cart from a product page
and a storefront, adds an address with the region picker, and chooses which lines to check out
(the total and the fields sent to checkout follow the ticks). The shop is set up over the API."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Credentials, NewContext
from tests.e2e.shows import ok, sign_up
from tests.factories import PASSWORD, product_body, supplier_body

pytestmark = pytest.mark.e2e

PHONE = {"viewport": {"width": 375, "height": 812}, "is_mobile": True, "has_touch": True}


@dataclass(frozen=True)
class Shop:
    slug: str
    berries: int  # product ids
    honey: int


@pytest.fixture
def shop(live_server: str) -> Iterator[Shop]:
    """A cooperative with two published products of one SKU each (its own slug per test)."""
    suffix = secrets.token_hex(3)
    owner = Credentials(f"owner-cart-{suffix}@e2e.example.com", PASSWORD, f"理事长{suffix}")
    slug = f"cart-{suffix}"
    with httpx.Client(base_url=live_server, timeout=10.0) as api:
        sign_up(api, owner)
        ok(
            api.post(
                "/api/v1/organisations", json={"slug": slug, "name": f"蓝莓合作社{suffix}", "kind": "cooperative"}
            ),
            201,
        )
        supplier_id = ok(api.post(f"/api/v1/organisations/{slug}/suppliers", json=supplier_body()), 201)["id"]
        ids = []
        for title, price, category in (
            ("靖宇蓝莓 5斤装", 9900, "fresh_produce"),
            ("长白山椴树蜜", 5990, "processed_food"),
        ):
            sku = {"spec_label": "一份", "price_fen": price, "weight_g": 1000, "shelf_life_days": 30, "stock": 20}
            body = product_body(supplier_id, title=title, category=category, skus=[sku])
            product_id = ok(api.post(f"/api/v1/organisations/{slug}/products", json=body), 201)["id"]
            ok(api.post(f"/api/v1/products/{product_id}/publish", json={}))
            ids.append(product_id)
        yield Shop(slug, ids[0], ids[1])


def _fits_screen(page: Page) -> None:
    scroll_width, inner_width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll_width <= inner_width, f"{page.url} is {scroll_width}px wide on a {inner_width}px phone screen"


def test_a_buyer_fills_the_cart_adds_an_address_and_chooses_what_to_buy(
    new_context: NewContext, live_server: str, shop: Shop
) -> None:
    buyer = Credentials(f"buyer-{shop.slug}@e2e.example.com", PASSWORD, "买家")
    with httpx.Client(base_url=live_server, timeout=10.0) as api:
        sign_up(api, buyer)
    page = new_context(**PHONE).new_page()

    page.goto(f"/p/{shop.berries}")
    page.get_by_test_id("buy-button").click()  # "Sign in to buy"
    expect(page).to_have_url(re.compile(r"/signin\?next="))
    page.locator("#f-email").fill(buyer.email)
    page.locator("#f-password").fill(buyer.password)
    page.locator("form[action='/signin'] [type=submit]").click()
    expect(page).to_have_url(re.compile(rf"/p/{shop.berries}$"))
    _fits_screen(page)
    page.locator("#f-quantity").fill("2")
    page.get_by_test_id("add-to-cart").click()
    expect(page).to_have_url(re.compile(rf"/p/{shop.berries}\?added=1$"))
    expect(page.get_by_test_id("added-to-cart")).to_be_visible()

    page.goto(f"/s/{shop.slug}")
    _fits_screen(page)
    page.get_by_test_id("product-card").filter(has_text="椴树蜜").get_by_test_id("add-to-cart").click()
    expect(page.get_by_test_id("added-to-cart")).to_be_visible()

    page.goto("/cart")
    expect(page.get_by_test_id("cart-line")).to_have_count(2)
    expect(page.get_by_test_id("cart-total")).to_have_text("¥257.90")
    _fits_screen(page)
    page.get_by_test_id("need-address").get_by_role("button").click()
    expect(page).to_have_url(re.compile(r"/account/addresses\?next=/cart$"))
    page.locator("#f-recipient").fill("王小明")
    page.locator("#f-phone").fill("138 1234 1234")
    page.locator("select[data-level=province]").select_option("220000")
    page.locator("select[data-level=city]").select_option("220600")
    page.locator("select[data-level=county]").select_option("220622")
    expect(page.locator("#f-region_code")).to_have_value("220622")
    page.locator("#f-street").fill("靖宇镇江边路1号")
    _fits_screen(page)
    page.locator("form[action='/account/addresses'] [type=submit]").click()
    expect(page).to_have_url(re.compile(r"/cart$"))

    expect(page.locator("#f-address_id")).to_contain_text("13812341234")
    button = page.get_by_test_id("checkout-button")
    expect(button).to_be_enabled()
    honey = page.get_by_test_id("cart-line").filter(has_text="椴树蜜")
    honey.get_by_label("本次结算").uncheck()
    expect(page.get_by_test_id("cart-total")).to_have_text("¥198.00")
    expect(page.get_by_test_id("group-subtotal")).to_have_text("¥198.00")  # one supplier, one order
    sent = page.evaluate(
        "() => [...new FormData(document.getElementById('checkout-form')).entries()]"
        ".filter(([k]) => k !== 'csrf_token')"
    )
    fields = dict(sent)
    assert sorted(k for k, _v in sent) == ["address_id", "quantity", "session_id", "sku_id"]  # the berries only
    assert (fields["quantity"], fields["session_id"]) == ("2", "") and fields["address_id"]
    page.get_by_test_id("cart-line").filter(has_text="蓝莓").get_by_label("本次结算").uncheck()
    expect(button).to_be_disabled()
