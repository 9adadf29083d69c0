"""Units put back on sale by after-sales reach the stock gate in Redis too: after a refund before
shipping the gate holds what the database says (the show pool's units and the buyer's count), so
the reconciler finds nothing to repair."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from fieldcast.aftersales import actions as a
from fieldcast.aftersales.models import RefundKind, RefundReason
from fieldcast.commerce.checkout import pool_state
from fieldcast.commerce.reconcile import reconcile
from fieldcast.live.models import ShelfItem
from tests.aftersales.deals import order_of, paid_deal, user
from tests.conftest import REDIS_URL, redis_or_skip
from tests.media.conftest import fresh_app, media_settings

pytestmark = pytest.mark.redis


@pytest.fixture
async def redis_app(database_url: str, tmp_path: Path) -> AsyncIterator[FastAPI]:
    await redis_or_skip()
    app = await fresh_app(media_settings(database_url, tmp_path, redis_url=REDIS_URL))
    async with app.router.lifespan_context(app):
        yield app


async def test_units_back_before_shipping_reach_the_redis_gate(redis_app: FastAPI) -> None:
    app = redis_app
    ctx = app.state.ctx
    deal = await paid_deal(app, pool_units=2)
    session_id, sku_id = deal.shop.session_id, deal.shop.skus[0]
    async with ctx.uow(write=False) as uow:
        item = await uow.session.get(ShelfItem, deal.shop.shelf_item_id)
        assert item is not None
        await ctx.gate.load(session_id, sku_id, await pool_state(uow, item))  # the gate holds the pool
    held = await ctx.gate.state(session_id, sku_id)
    assert held is not None and (held.available, held.buyers.get(deal.buyer)) == (3, 2)

    order = await order_of(app, deal.order_id)
    async with ctx.uow() as uow:
        req = await a.open_request(
            uow,
            await user(app, deal.buyer),
            deal.order_id,
            a.Asked(RefundKind.REFUND_ONLY, RefundReason.TOO_SLOW, order.total_fen, quantity=2),
        )
    async with ctx.uow() as uow:
        await a.approve(uow, ctx.gate, await user(app, deal.supplier), req.id)
    held = await ctx.gate.state(session_id, sku_id)
    assert held is not None and (held.available, held.buyers.get(deal.buyer, 0)) == (5, 0)
    assert await reconcile(ctx.uow, ctx.gate) == []
