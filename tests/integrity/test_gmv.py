"""Verified GMV: every figure is a sum of the orders beneath it (recomputed here from the rows),
a refund that lands through after-sales and the payment provider moves paid money into refunded,
an alert moves what is left of its orders into flagged, and a false alarm gives it back."""

from __future__ import annotations

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.accounts.models import Organisation
from fieldcast.aftersales import actions as after
from fieldcast.aftersales.models import RefundKind, RefundReason
from fieldcast.commerce.models import Order
from fieldcast.integrity import actions as a
from fieldcast.integrity.gmv import Gmv, organisation_gmv, session_gmv
from fieldcast.integrity.models import IntegrityAlert, Severity, SubjectKind
from fieldcast.integrity.rules import Finding
from fieldcast.live.models import LiveSession
from tests.aftersales.deals import order_of, paid_deal, user
from tests.integrity.world import World, place, world

ON_BOTH_BACKENDS = True


async def gmv(app: FastAPI, session_id: int) -> Gmv:
    async with app.state.ctx.uow(write=False) as uow:
        return await session_gmv(uow.session, session_id)


async def sums(app: FastAPI, session_id: int, flagged_ids: set[int]) -> tuple[int, int, int, int]:
    """raw, paid, refunded and flagged straight from the order rows."""
    async with app.state.ctx.uow(write=False) as uow:
        orders = (await uow.session.scalars(sa.select(Order).where(Order.session_id == session_id))).all()
    paid = [o for o in orders if o.paid_at is not None]
    return (
        sum(o.total_fen for o in orders),
        sum(o.total_fen for o in paid),
        sum(o.refunded_fen for o in paid),
        sum(o.total_fen - o.refunded_fen for o in paid if o.id in flagged_ids),
    )


def figures(g: Gmv) -> tuple[int, int, int, int]:
    return (g.raw_fen, g.paid_fen, g.refunded_fen, g.flagged_fen)


async def raise_alert(app: FastAPI, w: World, kind: SubjectKind, subject_id: int) -> IntegrityAlert:
    async with app.state.ctx.uow() as uow:
        live = await uow.session.get(LiveSession, w.session_id)
        assert live is not None
        alert = await a.store(uow, live, Finding("test_rule", Severity.HIGH, kind, subject_id, {"why": "test"}))
        assert alert is not None
        return alert


async def test_the_figures_are_the_sums_of_the_orders_and_alerts_flag_their_orders(app: FastAPI) -> None:
    w = await world(app)
    b = w.shop.buyers
    async with app.state.ctx.uow() as uow:
        o1 = await place(uow, w, b[0], 6900)
        o2 = await place(uow, w, b[1], 13800, refunded_fen=4000)
        o3 = await place(uow, w, b[2], 5000)
        o4 = await place(uow, w, b[2], 2500)
        await place(uow, w, b[3], 9900, paid=False)  # placed, never paid: raw only
    g = await gmv(app, w.session_id)
    assert figures(g) == await sums(app, w.session_id, set()) == (38100, 28200, 4000, 0)
    assert g.verified_fen == 28200 - 4000 and (g.orders, g.paid_orders, g.flagged_orders) == (5, 4, 0)

    await raise_alert(app, w, SubjectKind.ORDER, o2)  # flags what is left paid on o2: 98 yuan
    g = await gmv(app, w.session_id)
    assert figures(g) == await sums(app, w.session_id, {o2})
    assert g.flagged_fen == 9800 and g.verified_fen == 28200 - 4000 - 9800

    buyer_alert = await raise_alert(app, w, SubjectKind.USER, b[2])  # both of b[2]'s orders
    g = await gmv(app, w.session_id)
    assert figures(g) == await sums(app, w.session_id, {o2, o3, o4}) and g.flagged_orders == 3

    owner = await user(app, w.people["owner"])
    async with app.state.ctx.uow() as uow:
        await a.mark_false_alarm(uow, owner, buyer_alert.id, "老客户，每次都买这么多")
    assert figures(await gmv(app, w.session_id)) == await sums(app, w.session_id, {o2})

    await raise_alert(app, w, SubjectKind.SESSION, w.session_id)  # the whole show
    g = await gmv(app, w.session_id)
    assert figures(g) == await sums(app, w.session_id, {o1, o2, o3, o4})
    assert g.verified_fen == 0


async def test_a_refund_that_lands_moves_paid_money_into_refunded(app: FastAPI, client: httpx.AsyncClient) -> None:
    deal = await paid_deal(app, pool_units=2)
    session_id = deal.shop.session_id
    order = await order_of(app, deal.order_id)
    before = await gmv(app, session_id)
    assert figures(before) == await sums(app, session_id, set())
    assert (before.paid_fen, before.refunded_fen, before.verified_fen) == (order.total_fen, 0, order.total_fen)

    async with app.state.ctx.uow() as uow:
        asked = after.Asked(RefundKind.REFUND_ONLY, RefundReason.TOO_SLOW, 1000, quantity=0)
        req = await after.open_request(uow, await user(app, deal.buyer), deal.order_id, asked)
    async with app.state.ctx.uow() as uow:
        await after.approve(uow, app.state.ctx.gate, await user(app, deal.supplier), req.id)
    await app.state.ctx.relay.drain()  # the provider refunds; its outcome lands on the order
    assert (await order_of(app, deal.order_id)).refunded_fen == 1000

    landed = await gmv(app, session_id)
    assert figures(landed) == await sums(app, session_id, set())
    assert (landed.raw_fen, landed.paid_fen, landed.refunded_fen) == (order.total_fen, order.total_fen, 1000)
    assert landed.verified_fen == order.total_fen - 1000

    shown = await client.get(f"/api/v1/sessions/{session_id}/gmv")  # anyone may read it
    assert shown.status_code == 200
    assert shown.json() == {
        "session_id": session_id,
        "organisation_id": None,
        "raw_fen": order.total_fen,
        "paid_fen": order.total_fen,
        "refunded_fen": 1000,
        "flagged_fen": 0,
        "verified_fen": order.total_fen - 1000,
        "orders": 1,
        "paid_orders": 1,
        "flagged_orders": 0,
    }
    assert (await client.get("/api/v1/sessions/999999/gmv")).status_code == 404


async def test_an_organisations_figures_cover_its_shows_and_storefront_and_a_show_alert_flags_that_show(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    w = await world(app)
    async with app.state.ctx.uow() as uow:
        await place(uow, w, w.shop.buyers[0], 6900)  # in the show
        in_shop = await place(uow, w, w.shop.buyers[1], 3900, refunded_fen=900)
        await uow.session.execute(sa.update(Order).where(Order.id == in_shop).values(session_id=None))  # storefront
        await place(uow, w, w.shop.buyers[2], 2000, paid=False)
    other = await world(app)  # another organisation's orders never count
    async with app.state.ctx.uow() as uow:
        await place(uow, other, other.shop.buyers[0], 99900)
        slug = await uow.session.scalar(sa.select(Organisation.slug).where(Organisation.id == w.shop.org_id))

    async with app.state.ctx.uow(write=False) as uow:
        g = await organisation_gmv(uow.session, w.shop.org_id)
    assert figures(g) == (6900 + 3900 + 2000, 6900 + 3900, 900, 0)

    await raise_alert(app, w, SubjectKind.SESSION, w.session_id)  # the show only, not the storefront
    shown = (await client.get(f"/api/v1/organisations/{slug}/gmv")).json()
    assert (shown["organisation_id"], shown["paid_fen"], shown["flagged_fen"], shown["verified_fen"]) == (
        w.shop.org_id,
        6900 + 3900,
        6900,
        6900 + 3900 - 900 - 6900,
    )
    assert (await client.get("/api/v1/organisations/no-such-org/gmv")).status_code == 404


async def test_the_figures_summed_in_the_database_equal_the_per_order_rule_for_every_kind_of_alert(
    app: FastAPI,
) -> None:
    """session_gmv sums in SQL (a show may hold 100,000 orders); gmv_by_session applies `_flags` to
    each order in Python: with alerts of every kind standing at once, both say the same."""
    from fieldcast.integrity.gmv import gmv_by_session

    w = await world(app)
    b = w.shop.buyers
    async with app.state.ctx.uow() as uow:
        ids = [
            await place(uow, w, b[n % len(b)], 1000 * (n + 1), paid=n != 4, refunded_fen=300 * (n == 2))
            for n in range(8)
        ]
    await raise_alert(app, w, SubjectKind.ORDER, ids[0])
    await raise_alert(app, w, SubjectKind.USER, b[1])
    await raise_alert(app, w, SubjectKind.REVIEW, 1)  # flags no order
    async with app.state.ctx.uow(write=False) as uow:
        summed = await session_gmv(uow.session, w.session_id)
        by_rule = (await gmv_by_session(uow.session, [w.session_id]))[w.session_id]
    assert summed == by_rule and summed.flagged_orders == 1 + sum(1 for n in range(8) if n % len(b) == 1 and n != 4)
    await raise_alert(app, w, SubjectKind.SESSION, w.session_id)
    async with app.state.ctx.uow(write=False) as uow:
        summed = await session_gmv(uow.session, w.session_id)
        by_rule = (await gmv_by_session(uow.session, [w.session_id]))[w.session_id]
    assert summed == by_rule and summed.verified_fen == 0
