"""Buyers for commerce tests: signed-up accounts with addresses (through the API), and orders
placed and moved on through the real actions (payments' checkout with a stand-in provider, then
pay, ship), since the payment pages are not what these tests are about."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from fieldcast.accounts.models import User
from fieldcast.commerce import orders as order_actions
from fieldcast.commerce.checkout import Wanted
from fieldcast.commerce.models import Order
from fieldcast.db.base import utcnow
from fieldcast.payments import actions as payments
from tests.factories import JINGYU, MakeClient, sign_up

PHONE = "13812341234"
MASKED = "138****1234"


@dataclass
class Buyer:
    client: httpx.AsyncClient
    user_id: int
    address_id: int


class StandInProvider:
    """payments.actions.checkout only reads the provider's name."""

    name = "test"


def address_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "recipient": "王小明",
        "phone": PHONE,
        "region_code": JINGYU,
        "street": "靖宇镇江边路1号",
    }
    body.update(overrides)
    return body


async def add_address(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    r = await client.post("/api/v1/me/addresses", json=address_body(**overrides))
    assert r.status_code == 201, r.text
    address: dict[str, Any] = r.json()
    return address


async def make_buyer(make_client: MakeClient, name: str = "buyer", **address: Any) -> Buyer:
    client = make_client()
    user = await sign_up(client, f"{name}@example.com", f"买家{name}")
    created = await add_address(client, **address)
    return Buyer(client, int(user["id"]), int(created["id"]))


async def buy(app: FastAPI, buyer: Buyer, *lines: Wanted, address_id: int | None = None) -> list[int]:
    """Check out these lines as the buyer (orders and their payment); the order ids."""
    ctx = app.state.ctx
    async with ctx.uow() as uow:
        user = await uow.session.get(User, buyer.user_id)
        done = await payments.checkout(
            uow,
            ctx.gate,
            StandInProvider(),  # type: ignore[arg-type]
            user,
            list(lines),
            address_id or buyer.address_id,
            pay_minutes=15,
        )
        return [order.id for order in done.placed.orders]


async def pay(app: FastAPI, order_ids: list[int]) -> None:
    async with app.state.ctx.uow() as uow:
        assert await order_actions.pay_orders(uow, order_ids, utcnow()) == []


async def ship(app: FastAPI, shipper_id: int, order_id: int) -> None:
    async with app.state.ctx.uow() as uow:
        shipper = await uow.session.get(User, shipper_id)
        order = await uow.session.get(Order, order_id)
        assert order is not None
        await order_actions.ship_order(uow, shipper, order)
