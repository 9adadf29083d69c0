"""2,000 buy attempts for a flash sale of 100 units, all at once, on PostgreSQL: with the database
deciding alone, and with the Redis gate in front. Exactly 100 units are sold, none oversold, every
buyer who came too late is told "sold out", and the gate ends where the database does."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.accounts.models import User
from fieldcast.catalog.models import Sku
from fieldcast.commerce import errors as e
from fieldcast.commerce.checkout import Wanted, place_orders
from fieldcast.commerce.gate import OpenGate, RedisGate, StockGate
from fieldcast.commerce.models import Order, OrderState
from fieldcast.commerce.orders import pay_orders
from fieldcast.commerce.reconcile import reconcile
from fieldcast.db.base import utcnow
from fieldcast.live.models import ShelfItem
from tests.commerce.shop import Shop, check_invariants, crowd, open_shop
from tests.conftest import REDIS_URL, redis_or_skip

ATTEMPTS = 2000
UNITS = 100
AT_ONCE = 64  # buyers in flight at the same moment (the connection pool bounds the rest)

pytestmark = [pytest.mark.timeout(300)]


ONLY_BACKEND = "postgres"  # real row locks and concurrency (SQLite admits one writer at a time)


async def flash_sale(app: FastAPI) -> tuple[Shop, list[tuple[int, int]]]:
    """A live show with a flash sale of UNITS, and ATTEMPTS buyers, each with an address."""
    async with app.state.ctx.uow() as uow:
        shop = await open_shop(uow, sku_stock=10 * UNITS, pool=UNITS, per_buyer_limit=2, buyers=1)
        buyers = await crowd(uow, ATTEMPTS)
        return shop, list(zip(buyers.user_ids, buyers.address_ids, strict=True))


async def attempt_all(app: FastAPI, gate: StockGate, shop: Shop, buyers: list[tuple[int, int]]) -> dict[str, int]:
    slots = asyncio.Semaphore(AT_ONCE)
    outcome = {"ordered": 0, "sold_out": 0}

    async def buy(buyer_id: int, address_id: int) -> None:
        async with slots, app.state.ctx.uow() as uow:
            actor = await uow.session.get(User, buyer_id)
            try:
                await place_orders(uow, gate, actor, [Wanted(shop.skus[0], 1, shop.session_id)], address_id)
            except e.SoldOut:
                await uow.rollback()
                outcome["sold_out"] += 1
                return
            outcome["ordered"] += 1

    await asyncio.gather(*(buy(b, a) for b, a in buyers))
    return outcome


async def run_sale(app: FastAPI, gate: StockGate) -> Shop:
    ctx = app.state.ctx
    shop, buyers = await flash_sale(app)
    if isinstance(gate, RedisGate):  # pool ids start over with the database; Redis keeps pools for days
        await gate.drop(shop.session_id, shop.skus[0])
    assert await attempt_all(app, gate, shop, buyers) == {"ordered": UNITS, "sold_out": ATTEMPTS - UNITS}
    async with ctx.uow() as uow:
        order_ids = list(await uow.session.scalars(sa.select(Order.id).order_by(Order.id)))
        assert await pay_orders(uow, order_ids, utcnow()) == []
    async with ctx.uow(write=False) as uow:
        item = await uow.session.get(ShelfItem, shop.shelf_item_id)
        sku = await uow.session.get(Sku, shop.skus[0])
        paid = await uow.session.scalar(sa.select(sa.func.count(Order.id)).where(Order.state == OrderState.PAID))
        assert item is not None and sku is not None
        assert (item.session_sold, item.session_reserved, item.session_available) == (UNITS, 0, 0)
        assert (sku.sold, paid) == (UNITS, UNITS)
        await check_invariants(uow, shop)
    assert await reconcile(ctx.uow, gate) == []  # the gate ended where the database did
    return shop


async def test_two_thousand_attempts_on_the_database_alone_sell_exactly_the_units(app: FastAPI) -> None:
    await run_sale(app, OpenGate())


async def test_two_thousand_attempts_through_the_redis_gate_sell_exactly_the_units(app: FastAPI) -> None:
    await redis_or_skip()
    gate = RedisGate(REDIS_URL)
    try:
        shop = await run_sale(app, gate)
        held = await gate.state(shop.session_id, shop.skus[0])
        assert held is not None and held.available == 0 and sum(held.buyers.values()) == UNITS
    finally:
        await gate.close()
