"""Reviews fixtures: `shop`, an organisation that sells (tests/factories.py make_live_org: owner,
organiser, supplier, verified hosts, an outsider, an administrator's client "admin", two published
products); `buyer`, a signed-up buyer with an address; and `delivered`, which takes an order of
the buyer through the real actions (checkout, payment, shipping by the supplier, delivery
confirmed by the buyer)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.commerce.checkout import Wanted
from fieldcast.commerce.models import OrderLine
from tests.commerce.buyers import Buyer, buy, make_buyer, pay, ship
from tests.factories import LiveOrg, MakeClient, make_live_org


@dataclass(frozen=True)
class Bought:
    order_id: int
    line_id: int
    product_id: int


Deliver = Callable[..., Awaitable[Bought]]


@pytest.fixture
async def shop(app: FastAPI, make_client: MakeClient) -> LiveOrg:
    return await make_live_org(app, make_client, "jingyu")


@pytest.fixture
async def buyer(make_client: MakeClient) -> Buyer:
    return await make_buyer(make_client)


async def get_json(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    r = await client.get(path, params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def order_line(app: FastAPI, order_id: int) -> tuple[int, int]:
    """The order's line id (the API shows lines without ids; the review page's form carries it)
    and its product."""
    async with app.state.ctx.uow(write=False) as uow:
        line = await uow.session.scalar(sa.select(OrderLine).where(OrderLine.order_id == order_id))
        assert line is not None
        return line.id, line.product_id


async def move_to(app: FastAPI, shop: LiveOrg, buyer: Buyer, state: str, sku: int | None = None) -> int:
    """An order of one unit of `sku` (the inspected one by default) moved on to `state`."""
    (order,) = await buy(app, buyer, Wanted(sku or shop.inspected_sku, 1))
    if state == "pending_payment":
        return order
    await pay(app, [order])
    if state == "paid":
        return order
    await ship(app, shop.ids["supplier"], order)
    if state == "shipped":
        return order
    r = await buyer.client.post(f"/api/v1/orders/{order}/confirm-delivery")
    assert r.status_code == 200 and r.json()["state"] == "delivered", r.text
    return order


@pytest.fixture
def delivered(app: FastAPI, shop: LiveOrg) -> Deliver:
    async def make(who: Buyer, sku: int | None = None) -> Bought:
        order = await move_to(app, shop, who, "delivered", sku)
        line_id, product_id = await order_line(app, order)
        return Bought(order, line_id, product_id)

    return make
