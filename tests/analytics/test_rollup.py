"""A show's minutes (analytics/rollup.py): each figure equals the sum of the rows beneath it, after
every pass, including when a refund lands long after the show; the counters of a live room are
sampled into its minute and never lowered by a process that saw less; who may read them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.analytics.models import SessionMinute
from fieldcast.analytics.rollup import COUNTED, minute_of, rebuild, sweep
from fieldcast.chat.models import ChatMessage
from fieldcast.commerce.models import Order, OrderLine
from fieldcast.live.models import LiveSession, SessionState
from fieldcast.realtime.counters import RoomTotals
from tests.integrity.world import World, place, world

ON_BOTH_BACKENDS = True

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # the show's first minute


class Counters:
    """Room counters as a process reads them (the real ones are tested in tests/realtime)."""

    def __init__(self, totals: RoomTotals) -> None:
        self.now = totals

    async def totals(self, room_id: int) -> RoomTotals:
        return self.now


def line_of(order_id: int, sku: int, n: int, fen: int) -> OrderLine:
    """An order line of `n` units of SKU `sku` costing `fen` in all (the product is not read)."""
    return OrderLine(
        order_id=order_id,
        sku_id=sku,
        product_id=0,
        title=f"sku {sku}",
        spec_label="5斤装",
        unit_price_fen=fen // n,
        quantity=n,
        line_total_fen=fen,
    )


async def orders_at(app: FastAPI, w: World, spec: list[tuple[int, int, bool]]) -> list[int]:
    """Orders placed `minute` minutes into the show: (minute, total_fen, paid)."""
    ids = []
    async with app.state.ctx.uow() as uow:
        for n, (minute, total, paid) in enumerate(spec):
            order_id = await place(uow, w, w.shop.buyers[n % len(w.shop.buyers)], total, paid=paid)
            at = T0 + timedelta(minutes=minute, seconds=7 * n % 60)
            await uow.session.execute(sa.update(Order).where(Order.id == order_id).values(created_at=at))
            ids.append(order_id)
    return ids


async def comments_at(app: FastAPI, w: World, minutes: list[int]) -> None:
    async with app.state.ctx.uow() as uow:
        for n, minute in enumerate(minutes):
            at = T0 + timedelta(minutes=minute, seconds=n % 50)
            uow.session.add(
                ChatMessage(session_id=w.session_id, user_id=w.shop.buyers[0], body=f"好{n}", created_at=at)
            )


async def run(app: FastAPI, counters: Counters | None = None, now: datetime | None = None) -> int:
    async with app.state.ctx.uow() as uow:
        return await sweep(uow, counters or Counters(RoomTotals()), now or datetime.now(UTC))


async def minutes(app: FastAPI, w: World) -> dict[datetime, SessionMinute]:
    async with app.state.ctx.uow(write=False) as uow:
        rows = await uow.session.scalars(sa.select(SessionMinute).where(SessionMinute.session_id == w.session_id))
        return {m.minute: m for m in rows}


async def beneath(app: FastAPI, w: World) -> dict[datetime, dict[str, int]]:
    """What each minute should say, counted here from the orders and comments directly."""
    want: dict[datetime, dict[str, int]] = {}
    async with app.state.ctx.uow(write=False) as uow:
        for o in (await uow.session.scalars(sa.select(Order).where(Order.session_id == w.session_id))).all():
            m = want.setdefault(minute_of(o.created_at), dict.fromkeys(COUNTED, 0))
            m["orders"] += 1
            m["units"] += o.units
            m["gmv_fen"] += o.total_fen
            if o.paid_at is not None:
                m["paid_orders"] += 1
                m["paid_fen"] += o.total_fen
                m["refunded_fen"] += o.refunded_fen
        chat = (await uow.session.scalars(sa.select(ChatMessage).where(ChatMessage.session_id == w.session_id))).all()
        for c in chat:
            want.setdefault(minute_of(c.created_at), dict.fromkeys(COUNTED, 0))["comments"] += 1
    return want


def counted(rows: dict[datetime, SessionMinute]) -> dict[datetime, dict[str, int]]:
    return {k: {name: getattr(m, name) for name in COUNTED} for k, m in rows.items()}


async def test_each_minute_is_the_sum_of_its_orders_and_comments_and_a_late_refund_moves_its_minute(
    app: FastAPI,
) -> None:
    w = await world(app)
    ids = await orders_at(app, w, [(0, 3990, True), (0, 2990, False), (1, 6990, True), (3, 9900, True)])
    await comments_at(app, w, [0, 0, 1, 3, 3, 3])
    await run(app)
    rows = await minutes(app, w)
    assert sorted(rows) == [T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=3)]
    assert counted(rows) == await beneath(app, w)
    assert (rows[T0].orders, rows[T0].paid_orders, rows[T0].gmv_fen, rows[T0].paid_fen) == (2, 1, 6980, 3990)
    assert rows[T0 + timedelta(minutes=3)].comments == 3

    # A week later the 69.90 order is refunded: its minute (the first of the show's) moves on the
    # next pass, and only it; the totals are still the sums of the orders.
    async with app.state.ctx.uow() as uow:
        await uow.session.execute(sa.update(Order).where(Order.id == ids[2]).values(refunded_fen=6990))
    await run(app)
    after = await minutes(app, w)
    assert counted(after) == await beneath(app, w)
    assert after[T0 + timedelta(minutes=1)].refunded_fen == 6990
    assert sum(m.refunded_fen for m in after.values()) == 6990
    assert sum(m.gmv_fen for m in after.values()) == 3990 + 2990 + 6990 + 9900

    # Counting a show again from scratch writes the same minutes.
    async with app.state.ctx.uow() as uow:
        await rebuild(uow, w.session_id)
    assert counted(await minutes(app, w)) == counted(after)


async def test_a_live_rooms_counters_are_sampled_and_a_process_that_saw_less_lowers_nothing(app: FastAPI) -> None:
    w = await world(app)
    async with app.state.ctx.uow() as uow:
        await uow.session.execute(
            sa.update(LiveSession).where(LiveSession.id == w.session_id).values(state=SessionState.LIVE)
        )
    now = datetime(2026, 11, 28, 10, 0, 30, tzinfo=UTC)
    busy = RoomTotals(likes=900, flowers=12, viewers=40, unique_viewers=55, views=70, watch_s=3300.0)
    await run(app, Counters(busy), now)
    await run(
        app, Counters(RoomTotals(likes=850, viewers=31, unique_viewers=50, views=60)), now + timedelta(seconds=15)
    )
    [m] = (await minutes(app, w)).values()
    assert m.minute == minute_of(now)
    assert (m.viewers, m.unique_viewers, m.views, m.likes, m.flowers, m.watch_s) == (40, 55, 70, 900, 12, 3300.0)
    # The next minute gets its own row.
    await run(app, Counters(RoomTotals(likes=1000, viewers=20)), now + timedelta(minutes=1))
    assert len(await minutes(app, w)) == 2


async def test_the_metrics_api_gives_minutes_and_totals_to_those_who_run_or_oversee_the_show(app: FastAPI) -> None:
    w = await world(app)
    ids = await orders_at(app, w, [(0, 5000, True), (2, 7000, True), (2, 1000, False)])
    async with app.state.ctx.uow() as uow:  # their lines: two of the pool's SKU, one of the other
        pool, other = w.shop.skus[0], w.shop.skus[1]
        for order_id, sku, n, fen in ((ids[0], other, 1, 5000), (ids[1], pool, 2, 7000), (ids[2], pool, 1, 1000)):
            uow.session.add(line_of(order_id, sku, n, fen))
    await run(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        url = f"/api/v1/sessions/{w.session_id}/metrics"
        for who in ("owner", "organiser", "host", "supervisor", "admin"):
            response = await client.get(url, headers=w.headers[who])
            assert response.status_code == 200, (who, response.text)
        body = response.json()
        for who in ("supplier", "inspector", "outsider"):
            assert (await client.get(url, headers=w.headers[who])).status_code == 403, who
        assert (await client.get(url)).status_code == 401
        assert (
            await client.get(f"/api/v1/sessions/{w.session_id + 999}/metrics", headers=w.headers["admin"])
        ).status_code == 404
    t = body["totals"]
    assert (t["orders"], t["paid_orders"], t["gmv_fen"], t["paid_fen"]) == (3, 2, 13000, 12000)
    assert [m["orders"] for m in body["minutes"]] == [1, 2]
    # Verified GMV stands beside raw, from integrity's figures of the same orders.
    assert body["gmv"]["raw_fen"] == t["gmv_fen"] and body["gmv"]["verified_fen"] == 12000
    # The shelf ranked by paid units (the unpaid line does not count), each with its stock left.
    assert [(p["sku_id"], p["units"], p["paid_fen"]) for p in body["products"]] == [(pool, 2, 7000), (other, 1, 5000)]
    # the pool's units left; the other SKU is not on the shelf (bought from the storefront's stock)
    assert isinstance(body["products"][0]["available"], int) and body["products"][1]["available"] is None
    assert [(h["orders"], h["paid_fen"]) for h in body["hosts"]] == [(2, 12000)]  # nobody was explaining
    assert body["alerts_standing"] == 0  # the admin decides alerts
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        as_host = (await client.get(url, headers=w.headers["host"])).json()
    assert as_host["alerts_standing"] is None  # a host does not
