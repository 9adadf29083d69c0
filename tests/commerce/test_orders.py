"""Orders as their buyer, the organisation that ships them and the room they were bought in see
them: lists and details, what may be done now, who is refused, masked phones per viewer, the
room's sales per explaining host, and query counts that do not grow with the orders."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI

from fieldcast.commerce.checkout import Wanted
from tests.commerce.buyers import MASKED, PHONE, Buyer, buy, make_buyer, pay, ship
from tests.conftest import QueryCounter
from tests.factories import LiveOrg, MakeClient, live_session
from tests.live.conftest import post_form

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def get_json(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    r = await client.get(path, params=params)
    assert r.status_code == 200, r.text
    return r.json()


# -- the buyer ------------------------------------------------------------------------------------


async def test_my_orders_list_filter_and_detail(app: FastAPI, shop: LiveOrg, buyer: Buyer) -> None:
    (paid,) = await buy(app, buyer, Wanted(shop.uninspected_sku, 1))
    await pay(app, [paid])
    (pending,) = await buy(app, buyer, Wanted(shop.inspected_sku, 2))

    mine = await get_json(buyer.client, "/api/v1/me/orders")
    assert [o["id"] for o in mine["items"]] == [pending, paid] and mine["total"] == 2
    first = mine["items"][0]
    assert (first["state"], first["units"], first["total_fen"]) == ("pending_payment", 2, 19800)
    assert first["lines"] == [
        {
            "sku_id": shop.inspected_sku,
            "product_id": first["lines"][0]["product_id"],
            "title": "靖宇蓝莓 5斤装",
            "spec_label": "5斤装",
            "unit_price_fen": 9900,
            "quantity": 2,
            "line_total_fen": 19800,
        }
    ]
    assert first["ship_to"]["phone"] == PHONE and first["ship_to"]["phone_masked"] is False
    assert first["ship_to"]["region_name"] == "吉林省白山市靖宇县"
    assert first["actions"] == ["cancel"] and first["supplier_name"] == "山货合作社"
    assert [o["id"] for o in (await get_json(buyer.client, "/api/v1/me/orders", state="paid"))["items"]] == [paid]
    assert (await get_json(buyer.client, "/api/v1/me/orders", limit=1, offset=1))["items"][0]["id"] == paid
    assert (await buyer.client.get("/api/v1/me/orders", params={"state": "lost"})).status_code == 422

    detail = await get_json(buyer.client, f"/api/v1/orders/{paid}")
    assert detail["state"] == "paid" and detail["actions"] == [] and detail["paid_at"]

    page = await buyer.client.get("/orders")
    assert page.status_code == 200 and len(re.findall(r'data-testid="order"', page.text)) == 2
    assert "¥198.00" in page.text
    assert len(re.findall(r'data-testid="order"', (await buyer.client.get("/orders?state=paid")).text)) == 1
    page = await buyer.client.get(f"/orders/{pending}")
    assert page.status_code == 200
    assert PHONE in page.text and 'data-testid="cancel-order"' in page.text
    pay_by = datetime.fromisoformat(first["pay_by"]).astimezone(SHANGHAI)
    notice = page.text.split('data-testid="pay-by">')[1].split("</p>")[0]
    assert pay_by.strftime("%H:%M") in notice  # shown in Beijing time


async def test_the_buyer_cancels_an_unpaid_order_and_its_units_go_back(
    app: FastAPI, shop: LiveOrg, buyer: Buyer
) -> None:
    (first,) = await buy(app, buyer, Wanted(shop.inspected_sku, 3))
    (second,) = await buy(app, buyer, Wanted(shop.inspected_sku, 1))
    product = f"/api/v1/products/{await product_of(buyer, first)}"
    assert (await get_json(buyer.client, product))["skus"][0]["available"] == 96

    r = await buyer.client.post(f"/api/v1/orders/{first}/cancel", json={"reason": "买错了"})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "cancelled" and r.json()["actions"] == [] and r.json()["closed_at"]
    again = await buyer.client.post(f"/api/v1/orders/{first}/cancel")
    assert again.status_code == 409 and again.json()["code"] == "wrong_order_state"

    assert (await post_form(buyer.client, f"/orders/{second}/cancel")).status_code == 303
    assert (await get_json(buyer.client, f"/api/v1/orders/{second}"))["state"] == "cancelled"
    assert (await get_json(buyer.client, product))["skus"][0]["available"] == 100


async def product_of(buyer: Buyer, order_id: int) -> int:
    order = await get_json(buyer.client, f"/api/v1/orders/{order_id}")
    return int(order["lines"][0]["product_id"])


async def test_nobody_else_sees_or_acts_on_a_buyers_order(
    app: FastAPI, shop: LiveOrg, buyer: Buyer, make_client: MakeClient
) -> None:
    (order,) = await buy(app, buyer, Wanted(shop.inspected_sku, 1))
    other = await make_buyer(make_client, "other")
    for client in (other.client, shop["outsider"], shop["host"]):
        assert (await client.get(f"/api/v1/orders/{order}")).status_code == 404
        assert (await client.get(f"/orders/{order}")).status_code == 404
        assert (await client.post(f"/api/v1/orders/{order}/cancel")).status_code == 404
        assert (await client.post(f"/api/v1/orders/{order}/confirm-delivery")).status_code == 404
        assert (await post_form(client, f"/orders/{order}/cancel")).status_code == 404
    assert (await get_json(other.client, "/api/v1/me/orders"))["items"] == []
    assert (await get_json(buyer.client, f"/api/v1/orders/{order}"))["state"] == "pending_payment"
    anonymous = make_client()
    assert (await anonymous.get(f"/api/v1/orders/{order}")).status_code == 401
    assert (await anonymous.get(f"/orders/{order}")).headers["location"] == f"/signin?next=/orders/{order}"
    # The buyer is not the one who ships it.
    await pay(app, [order])
    assert (await buyer.client.post(f"/api/v1/orders/{order}/ship")).status_code == 403


async def test_a_paid_order_is_shipped_by_the_supplier_and_its_delivery_confirmed_by_the_buyer(
    app: FastAPI, shop: LiveOrg, buyer: Buyer
) -> None:
    (order,) = await buy(app, buyer, Wanted(shop.inspected_sku, 1))
    await pay(app, [order])
    to_ship = await get_json(shop["supplier"], f"/api/v1/organisations/{shop.slug}/orders", state="paid")
    (listed,) = to_ship["items"]
    assert listed["id"] == order and listed["actions"] == ["ship"]
    assert listed["ship_to"] == {
        "recipient": "王小明",
        "phone": PHONE,
        "phone_masked": False,
        "region_code": "220622",
        "region_name": "吉林省白山市靖宇县",
        "street": "靖宇镇江边路1号",
    }
    r = await shop["supplier"].post(f"/api/v1/orders/{order}/ship")
    assert r.status_code == 200 and r.json()["state"] == "shipped" and r.json()["actions"] == []
    assert (await shop["supplier"].post(f"/api/v1/orders/{order}/ship")).status_code == 409
    mine = await get_json(buyer.client, f"/api/v1/orders/{order}")
    assert mine["actions"] == ["confirm_delivery"] and mine["shipped_at"]
    page = await buyer.client.get(f"/orders/{order}")
    assert 'data-testid="confirm-delivery"' in page.text
    assert (await post_form(buyer.client, f"/orders/{order}/confirm")).status_code == 303
    assert (await get_json(buyer.client, f"/api/v1/orders/{order}"))["state"] == "delivered"


# -- the organisation that ships ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("member", "status"),
    [("owner", 200), ("organiser", 200), ("supplier", 200), ("supervisor", 403), ("host", 403), ("outsider", 403)],
)
async def test_orders_to_ship_are_for_owners_organisers_and_suppliers(
    app: FastAPI, shop: LiveOrg, buyer: Buyer, member: str, status: int
) -> None:
    (order,) = await buy(app, buyer, Wanted(shop.inspected_sku, 1))
    await pay(app, [order])
    client = shop[member]
    api = await client.get(f"/api/v1/organisations/{shop.slug}/orders")
    page = await client.get(f"/orgs/{shop.slug}/orders")
    assert (api.status_code, page.status_code) == (status, status), api.text
    if status == 200:
        assert api.json()["items"][0]["ship_to"]["phone"] == PHONE
        assert PHONE in page.text and 'data-testid="ship-order"' in page.text
        assert "/orgs/jingyu/orders" in (await client.get(f"/orgs/{shop.slug}")).text


async def test_marking_shipped_from_the_page_and_the_state_tabs(app: FastAPI, shop: LiveOrg, buyer: Buyer) -> None:
    first, second = [(await buy(app, buyer, Wanted(shop.inspected_sku, 1)))[0] for _ in range(2)]
    await pay(app, [second])
    await pay(app, [first])  # ordered first, paid last
    owner = shop["owner"]
    listed = await get_json(owner, f"/api/v1/organisations/{shop.slug}/orders", state="paid")
    assert [o["id"] for o in listed["items"]] == [second, first]  # the longest-waiting first
    r = await post_form(owner, f"/orders/{second}/ship", {"next": f"/orgs/{shop.slug}/orders"})
    assert r.status_code == 303 and r.headers["location"] == f"/orgs/{shop.slug}/orders"
    page = await owner.get(f"/orgs/{shop.slug}/orders")
    assert re.findall(r'data-testid="org-order" data-order-id="(\d+)"', page.text) == [str(first)]
    shipped = await owner.get(f"/orgs/{shop.slug}/orders", params={"state": "shipped"})
    assert re.findall(r'data-testid="org-order" data-order-id="(\d+)"', shipped.text) == [str(second)]
    everything = await owner.get(f"/orgs/{shop.slug}/orders", params={"state": "all"})
    assert len(re.findall(r'data-testid="org-order"', everything.text)) == 2


async def test_phones_are_masked_for_everyone_but_the_buyer_and_those_who_ship(
    app: FastAPI, shop: LiveOrg, buyer: Buyer
) -> None:
    (order,) = await buy(app, buyer, Wanted(shop.inspected_sku, 1))
    seen = {}
    for member in ("supplier", "owner", "organiser", "supervisor"):
        detail = await get_json(shop[member], f"/api/v1/orders/{order}")
        seen[member] = (detail["ship_to"]["phone"], detail["ship_to"]["phone_masked"])
    mine = (await get_json(buyer.client, f"/api/v1/orders/{order}"))["ship_to"]
    seen["buyer"] = (mine["phone"], mine["phone_masked"])
    assert seen == {
        "supplier": (PHONE, False),
        "owner": (PHONE, False),
        "organiser": (PHONE, False),
        "supervisor": (MASKED, True),
        "buyer": (PHONE, False),
    }
    page = await shop["supervisor"].get(f"/orders/{order}")
    assert page.status_code == 200 and MASKED in page.text and PHONE not in page.text
    assert 'data-testid="cancel-order"' not in page.text and 'data-testid="ship-order"' not in page.text


# -- a room's orders ------------------------------------------------------------------------------


async def test_a_rooms_orders_and_its_sales_per_explaining_host(
    app: FastAPI, shop: LiveOrg, make_client: MakeClient
) -> None:
    session_id = await live_session(shop, host_ids=[shop.ids["host"], shop.ids["official"]])
    sku = shop.inspected_sku
    first = await make_buyer(make_client, "first")
    second = await make_buyer(make_client, "second", region_code="370281", phone="0532-87654321")

    async def pin(by: str) -> None:
        r = await shop[by].post(f"/api/v1/sessions/{session_id}/pin", json={"sku_id": sku})
        assert r.status_code == 201, r.text

    await pin("host")
    await pay(app, await buy(app, first, Wanted(sku, 2, session_id)))
    await pin("official")
    await pay(app, await buy(app, second, Wanted(sku, 1, session_id)))
    await buy(app, first, Wanted(sku, 3, session_id))  # placed, not paid
    assert (await shop["host"].delete(f"/api/v1/sessions/{session_id}/pin")).status_code == 204
    await pay(app, await buy(app, second, Wanted(sku, 4, session_id)))  # nobody explaining
    await buy(app, first, Wanted(sku, 1))  # the storefront's: not the room's

    data = await get_json(shop["organiser"], f"/api/v1/sessions/{session_id}/orders")
    assert data["summary"] == {
        "host_id": None,
        "host_name": "",
        "orders": 4,
        "paid_orders": 3,
        "units": 7,
        "gmv_fen": 7 * 7900,
    }
    by_host = {row["host_id"]: row for row in data["by_host"]}
    assert by_host[shop.ids["host"]] == {
        "host_id": shop.ids["host"],
        "host_name": "host",
        "orders": 1,
        "paid_orders": 1,
        "units": 2,
        "gmv_fen": 2 * 7900,
    }
    assert (by_host[shop.ids["official"]]["orders"], by_host[shop.ids["official"]]["paid_orders"]) == (2, 1)
    assert (by_host[shop.ids["official"]]["units"], by_host[shop.ids["official"]]["gmv_fen"]) == (1, 7900)
    assert by_host[None]["units"] == 4 and by_host[None]["gmv_fen"] == 4 * 7900
    assert by_host[shop.ids["official"]]["host_name"] == "official"
    assert data["total"] == 4 and len(data["items"]) == 4
    assert {o["province"] for o in data["items"]} == {"吉林省", "山东省"}
    assert {o["phone"] for o in data["items"]} == {PHONE, "0532-87654321"}
    assert all("recipient" not in o for o in data["items"])

    supervised = await get_json(shop["supervisor"], f"/api/v1/sessions/{session_id}/orders")
    assert {o["phone"] for o in supervised["items"]} == {MASKED, "0532-****4321"}
    assert supervised["summary"] == data["summary"]
    page = await shop["supervisor"].get(f"/live/{session_id}/orders")
    assert page.status_code == 200
    assert MASKED in page.text and PHONE not in page.text and "王小明" not in page.text
    assert "¥553.00" in page.text  # 7 × 79 yuan
    assert len(re.findall(r'data-testid="host-summary"', page.text)) == 3
    assert f'href="/live/{session_id}/orders"' in (await shop["organiser"].get(f"/live/{session_id}/console")).text

    for member in ("host", "supplier", "outsider"):
        assert (await shop[member].get(f"/api/v1/sessions/{session_id}/orders")).status_code == 403
        assert (await shop[member].get(f"/live/{session_id}/orders")).status_code == 403
    assert (await shop["owner"].get("/api/v1/sessions/999999/orders")).status_code == 404


# -- what a page of orders costs ------------------------------------------------------------------


async def test_a_page_of_orders_costs_the_same_queries_however_many_orders(
    app: FastAPI, shop: LiveOrg, buyer: Buyer, queries: QueryCounter
) -> None:
    async def queries_for(client: httpx.AsyncClient, path: str) -> int:
        async with queries.counting() as statements:
            r = await client.get(path)
        assert r.status_code == 200, r.text
        return len(statements)

    session_id = await live_session(shop)
    order_ids = await buy(app, buyer, Wanted(shop.inspected_sku, 1, session_id))
    await pay(app, order_ids)
    paths = [
        (buyer.client, "/api/v1/me/orders"),
        (buyer.client, "/orders"),
        (shop["supplier"], f"/api/v1/organisations/{shop.slug}/orders"),
        (shop["organiser"], f"/api/v1/sessions/{session_id}/orders"),
    ]
    one = [await queries_for(client, path) for client, path in paths]
    for _ in range(3):
        await pay(app, await buy(app, buyer, Wanted(shop.inspected_sku, 1, session_id)))
        await buy(app, buyer, Wanted(shop.inspected_sku, 1), Wanted(shop.uninspected_sku, 2))  # two lines
    await ship(app, shop.ids["supplier"], order_ids[0])
    many = [await queries_for(client, path) for client, path in paths]
    assert (await get_json(buyer.client, "/api/v1/me/orders"))["total"] == 7
    assert many == one, (one, many)
