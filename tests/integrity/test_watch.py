"""Rules as events arrive (integrity/watch.py): an order event on the bus runs the live rules over
its show a moment later, once for a burst of events, and nothing for what names no show."""

from __future__ import annotations

import asyncio

import orjson
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.bootstrap import order_delivery
from fieldcast.db.base import utcnow
from fieldcast.db.outbox import Envelope
from fieldcast.integrity import rules as r
from fieldcast.integrity.models import IntegrityAlert
from fieldcast.integrity.watch import Watch, session_of, watch
from tests.integrity.world import World, place, world

ON_BOTH_BACKENDS = True

T = r.Thresholds(quota_fen=(5000,), quota_min_buyers=5)


def order_event(n: int, session_id: int | None) -> Envelope:
    payload = {"order_id": n, "state": "paid", "session_id": session_id, "total_fen": 5000}
    return Envelope(n, "order", str(n), "order.changed", payload, utcnow())


async def alerts(app: FastAPI, w: World) -> list[str]:
    async with app.state.ctx.uow(write=False) as uow:
        rows = await uow.session.scalars(
            sa.select(IntegrityAlert.rule).where(IntegrityAlert.session_id == w.session_id).order_by(IntegrityAlert.id)
        )
        return list(rows)


async def quota_orders(app: FastAPI, w: World) -> None:
    async with app.state.ctx.uow() as uow:
        for buyer in w.shop.buyers[:5]:
            await place(uow, w, buyer, 5000)


def test_the_show_is_read_from_the_relays_message_and_nothing_else_names_one() -> None:
    assert session_of(orjson.dumps({"id": 1, "type": "order.changed", "data": {"session_id": 7}})) == 7
    assert session_of(orjson.dumps({"id": 1, "type": "order.changed", "data": {"session_id": None}})) is None
    assert session_of(orjson.dumps({"data": {"session_id": True}})) is None
    assert session_of(orjson.dumps({"data": ["x"]})) is None
    assert session_of(b"not json") is None


async def test_an_order_event_runs_the_live_rules_over_its_show_while_it_sells(app: FastAPI) -> None:
    w = await world(app)
    await quota_orders(app, w)
    ctx = app.state.ctx
    stop = asyncio.Event()
    task = asyncio.create_task(watch(ctx.bus, ctx.uow, T, 0.05, stop))
    try:
        await asyncio.sleep(0.1)  # subscribed
        assert await alerts(app, w) == []
        deliver = order_delivery(ctx.bus)  # what the outbox relay does with an order's event
        await deliver(order_event(1, w.session_id))
        for _ in range(100):
            if await alerts(app, w):
                break
            await asyncio.sleep(0.05)
        # The quota is found while the show sells (one alert: the run saw every order placed).
        assert await alerts(app, w) == [r.ROUND_QUOTA]
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def test_a_burst_of_events_for_one_show_makes_one_run_when_the_first_is_30_s_old(app: FastAPI) -> None:
    w = await world(app)
    await quota_orders(app, w)
    now = [0.0]
    pending = Watch(app.state.ctx.uow, T, 30.0, lambda: now[0])
    for _ in range(50):
        pending.heard(w.session_id)
    now[0] = 29.0
    await pending.run_due()
    assert (pending.runs, await alerts(app, w)) == (0, [])  # not yet: 30 s after the first event
    now[0] = 30.0
    await pending.run_due()
    assert (pending.runs, await alerts(app, w)) == (1, [r.ROUND_QUOTA])
    await pending.run_due()
    assert pending.runs == 1 and pending.next_due() is None


async def test_a_show_that_is_gone_does_not_stop_the_others(app: FastAPI) -> None:
    w = await world(app)
    await quota_orders(app, w)
    now = [0.0]
    pending = Watch(app.state.ctx.uow, T, 0.0, lambda: now[0])
    pending.heard(w.session_id + 1000)  # no such show: its run fails, logged
    pending.heard(w.session_id)
    await pending.run_due()
    assert pending.runs == 1 and await alerts(app, w) == [r.ROUND_QUOTA]
