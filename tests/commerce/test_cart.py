"""The cart: lines from storefronts and live rooms priced afresh on every read (the live price
while the room is live, else the SKU's own), availability, grouping by supplier, the limits, the
forms that feed checkout, and nobody else's lines."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from fieldcast.commerce import cart
from fieldcast.commerce.checkout import Wanted
from fieldcast.commerce.models import QUANTITY_MAX
from tests.commerce.buyers import Buyer, buy, make_buyer
from tests.factories import LiveOrg, MakeClient, create_product, live_session, make_org, sign_up, soon
from tests.live.conftest import post_form


async def get_cart(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.get("/api/v1/me/cart")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def lines(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [line for group in body["groups"] for line in group["lines"]]


async def add(client: httpx.AsyncClient, sku_id: int, quantity: int = 1, session_id: int | None = None) -> None:
    body: dict[str, Any] = {"sku_id": sku_id, "quantity": quantity}
    if session_id is not None:
        body["session_id"] = session_id
    r = await client.post("/api/v1/me/cart", json=body)
    assert r.status_code == 201, r.text


async def test_a_room_line_costs_the_live_price_only_while_the_room_is_live(shop: LiveOrg, buyer: Buyer) -> None:
    sku = shop.inspected_sku
    session_id = await live_session(shop, start=False)
    await add(buyer.client, sku, session_id=session_id)
    (line,) = lines(await get_cart(buyer.client))
    assert (line["price_source"], line["unit_price_fen"], line["session_id"]) == ("list", 9900, session_id)

    assert (await shop["host"].post(f"/api/v1/sessions/{session_id}/start")).status_code == 200
    await add(buyer.client, sku, 2, session_id=session_id)  # same SKU, same room: one line
    await add(buyer.client, sku)  # from the storefront: a line of its own
    body = await get_cart(buyer.client)
    room, store = lines(body)
    assert (room["price_source"], room["unit_price_fen"], room["quantity"]) == ("live", 7900, 3)
    assert room["line_total_fen"] == 3 * 7900 and room["list_price_fen"] == 9900
    assert room["available_units"] == 50 and room["status"] == "available"  # the show's own pool
    assert room["session_title"] == "靖宇蓝莓助农直播"
    assert (store["price_source"], store["unit_price_fen"], store["available_units"]) == ("list", 9900, 100)
    assert body["total_fen"] == 3 * 7900 + 9900 and body["lines_count"] == 2
    (group,) = body["groups"]
    assert group["supplier_id"] == shop.supplier_id and group["supplier_name"] == "山货合作社"
    assert group["organisation_slug"] == shop.slug and group["subtotal_fen"] == body["total_fen"]

    assert (await shop["host"].post(f"/api/v1/sessions/{session_id}/end")).status_code == 200
    room, store = lines(await get_cart(buyer.client))
    assert (room["price_source"], room["unit_price_fen"]) == ("list", 9900)
    # Added from a room that has ended: the storefront's line, at the usual price.
    await add(buyer.client, sku, session_id=session_id)
    room, store = lines(await get_cart(buyer.client))
    assert store["quantity"] == 2 and store["session_id"] is None


async def test_a_flash_sale_not_started_is_priced_as_usual(shop: LiveOrg, buyer: Buyer) -> None:
    shelf = [{"sku_id": shop.inspected_sku, "live_price_fen": 5900, "session_stock": 10, "flash_starts_at": soon(60)}]
    session_id = await live_session(shop, shelf=shelf)
    await add(buyer.client, shop.inspected_sku, session_id=session_id)
    (line,) = lines(await get_cart(buyer.client))
    assert (line["price_source"], line["unit_price_fen"]) == ("list", 9900)
    assert line["flash_starts_at"] is not None


async def test_lines_are_grouped_by_supplier_and_unavailable_ones_are_not_totalled(
    app: FastAPI, shop: LiveOrg, buyer: Buyer, make_client: MakeClient
) -> None:
    other = await make_org(app, make_client, "dabeishan")
    honey = await create_product(
        other,
        publish=True,
        title="大别山土蜂蜜",
        category="processed_food",
        skus=[{"spec_label": "500克", "price_fen": 6800, "weight_g": 500, "stock": 10}],
    )
    last_one = await create_product(
        shop,
        "owner",
        publish=True,
        title="长白山人参 一支",
        category="processed_food",
        skus=[{"spec_label": "一支", "price_fen": 20000, "weight_g": 50, "stock": 1}],
    )
    honey_sku, last_sku = honey["skus"][0]["id"], last_one["skus"][0]["id"]
    await add(buyer.client, shop.inspected_sku)
    await add(buyer.client, honey_sku, 2)
    await add(buyer.client, last_sku)
    body = await get_cart(buyer.client)
    assert [g["organisation_slug"] for g in body["groups"]] == [shop.slug, other.slug]
    assert body["total_fen"] == 9900 + 2 * 6800 + 20000

    rival = await make_buyer(make_client, "rival")
    await buy(app, rival, Wanted(last_sku, 1))  # the last one is reserved by someone else
    body = await get_cart(buyer.client)
    sold_out = next(x for x in lines(body) if x["sku_id"] == last_sku)
    assert sold_out["status"] == "sold_out" and sold_out["available_units"] == 0
    assert body["total_fen"] == 9900 + 2 * 6800
    assert body["groups"][0]["subtotal_fen"] == 9900

    page = await buyer.client.get("/cart")
    assert page.status_code == 200
    assert len(re.findall(r'data-testid="cart-group"', page.text)) == 2
    assert 'data-testid="line-sold-out"' in page.text
    # Only lines that can be bought go to checkout.
    assert f'name="sku_id" value="{last_sku}"' not in page.text
    assert f'name="sku_id" value="{honey_sku}"' in page.text


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"quantity": 0}, 422, "quantity"),
        ({"quantity": QUANTITY_MAX + 1}, 422, "quantity"),
        ({"sku_id": 999999}, 422, "sku_id"),
    ],
)
async def test_bad_lines_are_refused_naming_the_field(
    shop: LiveOrg, buyer: Buyer, body: dict[str, Any], status: int, field: str
) -> None:
    r = await buyer.client.post("/api/v1/me/cart", json={"sku_id": shop.inspected_sku, **body})
    assert r.status_code == status, r.text
    assert r.json()["errors"][0]["field"] == field


async def test_drafts_and_skus_off_the_rooms_shelf_cannot_be_added(shop: LiveOrg, buyer: Buyer) -> None:
    draft = await create_product(shop, "owner", title="未上架的木耳")
    r = await buyer.client.post("/api/v1/me/cart", json={"sku_id": draft["skus"][0]["id"]})
    assert r.status_code == 422 and r.json()["code"] == "not_on_sale"
    assert r.json()["errors"][0]["field"] == "sku_id"
    session_id = await live_session(shop)
    r = await buyer.client.post("/api/v1/me/cart", json={"sku_id": shop.uninspected_sku, "session_id": session_id})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "session_id"
    await add(buyer.client, shop.inspected_sku, QUANTITY_MAX)
    r = await buyer.client.post("/api/v1/me/cart", json={"sku_id": shop.inspected_sku})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "quantity"
    assert lines(await get_cart(buyer.client))[0]["quantity"] == QUANTITY_MAX


async def test_a_cart_holds_at_most_the_limit_of_lines(
    shop: LiveOrg, buyer: Buyer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cart, "CART_LINES_MAX", 1)
    await add(buyer.client, shop.inspected_sku)
    r = await buyer.client.post("/api/v1/me/cart", json={"sku_id": shop.uninspected_sku})
    assert r.status_code == 409 and r.json()["code"] == "cart_full"
    await add(buyer.client, shop.inspected_sku)  # more of a line it has is fine
    assert lines(await get_cart(buyer.client))[0]["quantity"] == 2


async def test_quantities_change_lines_go_and_nobody_else_touches_them(
    shop: LiveOrg, buyer: Buyer, make_client: MakeClient
) -> None:
    await add(buyer.client, shop.inspected_sku)
    await add(buyer.client, shop.uninspected_sku)
    first, second = lines(await get_cart(buyer.client))
    r = await buyer.client.patch(f"/api/v1/me/cart/{first['id']}", json={"quantity": 5})
    assert r.status_code == 200 and lines(r.json())[0]["quantity"] == 5

    other = make_client()
    await sign_up(other, "other@example.com")
    assert (await get_cart(other))["groups"] == []
    assert (await other.patch(f"/api/v1/me/cart/{first['id']}", json={"quantity": 1})).status_code == 404
    assert (await other.delete(f"/api/v1/me/cart/{first['id']}")).status_code == 404
    assert (await post_form(other, f"/cart/{first['id']}/remove")).status_code == 404
    assert (await post_form(other, f"/cart/{first['id']}", {"quantity": 1})).status_code == 404
    assert (await make_client().get("/api/v1/me/cart")).status_code == 401

    assert (await buyer.client.delete(f"/api/v1/me/cart/{second['id']}")).status_code == 204
    assert [x["id"] for x in lines(await get_cart(buyer.client))] == [first["id"]]
    assert (await post_form(buyer.client, f"/cart/{first['id']}", {"quantity": 3})).status_code == 303
    assert lines(await get_cart(buyer.client))[0]["quantity"] == 3
    r = await post_form(buyer.client, f"/cart/{first['id']}", {"quantity": 0})
    assert r.status_code == 422 and 'data-testid="form-message"' in r.text
    assert (await post_form(buyer.client, f"/cart/{first['id']}/remove")).status_code == 303
    assert (await get_cart(buyer.client))["groups"] == []


async def test_checkout_clears_the_lines_it_bought(app: FastAPI, shop: LiveOrg, buyer: Buyer) -> None:
    session_id = await live_session(shop)
    await add(buyer.client, shop.inspected_sku, session_id=session_id)
    await add(buyer.client, shop.inspected_sku)
    await add(buyer.client, shop.uninspected_sku)
    async with app.state.ctx.uow() as uow:
        assert await cart.clear_lines(uow, buyer.user_id, [shop.inspected_sku]) == 2
        assert await cart.clear_lines(uow, buyer.user_id, []) == 0
    assert [x["sku_id"] for x in lines(await get_cart(buyer.client))] == [shop.uninspected_sku]


async def test_the_cart_page_posts_the_lines_and_the_address_to_checkout(
    shop: LiveOrg, buyer: Buyer, make_client: MakeClient
) -> None:
    session_id = await live_session(shop)
    await add(buyer.client, shop.inspected_sku, 2, session_id=session_id)
    await add(buyer.client, shop.uninspected_sku)
    page = await buyer.client.get("/cart")
    assert page.status_code == 200
    assert 'id="checkout-form" method="post" action="/checkout"' in page.text
    fields = re.findall(r'<input type="hidden" form="checkout-form" name="(\w+)" value="([^"]*)"', page.text)
    assert fields == [
        ("sku_id", str(shop.inspected_sku)),
        ("quantity", "2"),
        ("session_id", str(session_id)),
        ("sku_id", str(shop.uninspected_sku)),
        ("quantity", "1"),
        ("session_id", ""),
    ]
    assert f'<option value="{buyer.address_id}" selected>' in page.text
    assert 'name="address_id"' in page.text and 'data-testid="checkout-button"' in page.text
    assert "¥158.00" in page.text and "/static/cart.js" in page.text and "<script>" not in page.text

    newcomer = make_client()
    await sign_up(newcomer, "new@example.com")
    await add(newcomer, shop.inspected_sku)
    page = await newcomer.get("/cart")
    assert 'data-testid="need-address"' in page.text and 'href="/account/addresses?next=/cart"' in page.text
    assert (await make_client().get("/cart")).headers["location"] == "/signin?next=/cart"


async def test_product_page_and_storefront_add_to_cart_and_buy_now(
    shop: LiveOrg, buyer: Buyer, make_client: MakeClient
) -> None:
    two_packs = await create_product(
        shop,
        "owner",
        publish=True,
        title="靖宇蓝莓 两种规格",
        skus=[
            {"spec_label": "2斤装", "price_fen": 4900, "weight_g": 1000, "shelf_life_days": 7, "stock": 10},
            {"spec_label": "5斤装", "price_fen": 9900, "weight_g": 2500, "shelf_life_days": 7, "stock": 10},
        ],
    )
    product_id = two_packs["id"]
    page = await buyer.client.get(f"/p/{product_id}")
    assert page.status_code == 200
    assert 'data-testid="add-to-cart"' in page.text
    assert 'formaction="/checkout"' in page.text and 'data-testid="buy-button"' in page.text
    assert 'name="sku_id"' in page.text and 'name="quantity"' in page.text and 'name="session_id"' in page.text
    big = two_packs["skus"][1]["id"]
    r = await post_form(
        buyer.client, "/cart", {"sku_id": big, "quantity": 2, "session_id": "", "next": f"/p/{product_id}"}
    )
    assert r.status_code == 303 and r.headers["location"] == f"/p/{product_id}?added=1"
    (line,) = lines(await get_cart(buyer.client))
    assert (line["sku_id"], line["quantity"]) == (big, 2)
    assert 'data-testid="added-to-cart"' in (await buyer.client.get(f"/p/{product_id}?added=1")).text

    store = await buyer.client.get(f"/s/{shop.slug}")
    assert f'name="sku_id" value="{shop.inspected_sku}"' in store.text  # one pack: bought from the card
    assert 'data-testid="choose-pack"' in store.text  # two packs: chosen on the product page
    assert 'data-testid="buy-now"' in store.text
    r = await post_form(buyer.client, "/cart", {"sku_id": shop.inspected_sku, "quantity": 1, "next": f"/s/{shop.slug}"})
    assert r.status_code == 303 and r.headers["location"] == f"/s/{shop.slug}?added=1"

    r = await post_form(buyer.client, "/cart", {"sku_id": 999999, "quantity": 1})
    assert r.status_code == 422 and 'data-testid="form-message"' in r.text

    anonymous = make_client()
    assert 'data-testid="card-sign-in"' in (await anonymous.get(f"/s/{shop.slug}")).text
    assert f'href="/signin?next=/p/{product_id}"' in (await anonymous.get(f"/p/{product_id}")).text
