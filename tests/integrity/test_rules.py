"""Each integrity rule alone, over rows written as the capabilities leave them: it finds what it
is about, with the evidence, and stays quiet on the honest variant next to it."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.accounts.models import HostKind, Membership, Role
from fieldcast.catalog.models import Sku
from fieldcast.integrity import rules as r
from fieldcast.integrity.models import Severity, SubjectKind
from fieldcast.live.models import LiveSession, ShelfItem
from tests.integrity.world import World, add_host, place, refund_asked, show, world

ON_BOTH_BACKENDS = True

T = r.Thresholds(
    refund_window_days=7, refund_share=0.3, refund_min_orders=5, quota_fen=(5000, 10000), quota_min_buyers=5
)


async def findings(app: FastAPI, w: World, rule: r.Rule, t: r.Thresholds = T) -> list[r.Finding]:
    live = await show(app, w)
    async with app.state.ctx.uow(write=False) as uow:
        return await rule(uow.session, live, t)


async def set_public_welfare(app: FastAPI, w: World, value: bool) -> None:
    async with app.state.ctx.uow() as uow:
        await uow.session.execute(
            sa.update(LiveSession).where(LiveSession.id == w.session_id).values(is_public_welfare=value)
        )


# -- an official host outside public welfare ------------------------------------------------------


async def test_an_official_host_in_a_commercial_show_is_found_with_who_and_where(app: FastAPI) -> None:
    w = await world(app)
    assert await findings(app, w, r.official_host_not_public_welfare) == []
    await add_host(app, w, HostKind.FARMER)
    assert await findings(app, w, r.official_host_not_public_welfare) == []  # a farmer may sell for a living
    official = await add_host(app, w, HostKind.OFFICIAL)
    (f,) = await findings(app, w, r.official_host_not_public_welfare)
    assert (f.rule, f.severity, f.subject_kind, f.subject_id) == (
        r.OFFICIAL_NOT_WELFARE,
        Severity.HIGH,
        SubjectKind.SESSION,
        w.session_id,
    )
    assert [h["user_id"] for h in f.evidence["official_hosts"]] == [official]
    assert f.evidence["official_hosts"][0]["position_title"] == "副县长"


async def test_an_official_host_in_a_public_welfare_show_is_not_found(app: FastAPI) -> None:
    w = await world(app)
    await add_host(app, w, HostKind.OFFICIAL)
    await set_public_welfare(app, w, True)
    assert await findings(app, w, r.official_host_not_public_welfare) == []


# -- a live price below the declared unit cost ----------------------------------------------------


async def test_a_live_price_below_the_declared_cost_is_found_and_one_at_cost_is_not(app: FastAPI) -> None:
    w = await world(app)
    async with app.state.ctx.uow() as uow:
        item = await uow.session.get(ShelfItem, w.shop.shelf_item_id)
        assert item is not None
        live_price = item.live_price_fen
        sku = await uow.session.get(Sku, item.sku_id)
        assert sku is not None
        sku.unit_cost_fen = live_price  # at cost: not below it
    assert await findings(app, w, r.live_price_below_cost) == []
    async with app.state.ctx.uow() as uow:
        await uow.session.execute(sa.update(Sku).where(Sku.id == w.shop.skus[0]).values(unit_cost_fen=live_price + 1))
    (f,) = await findings(app, w, r.live_price_below_cost)
    assert f.subject_id == w.session_id
    assert f.evidence["items"] == [
        {"sku_id": w.shop.skus[0], "live_price_fen": live_price, "unit_cost_fen": live_price + 1}
    ]


async def test_a_sku_without_a_declared_cost_is_not_judged(app: FastAPI) -> None:
    w = await world(app)
    async with app.state.ctx.uow() as uow:
        await uow.session.execute(sa.update(Sku).where(Sku.id == w.shop.skus[0]).values(unit_cost_fen=None))
    assert await findings(app, w, r.live_price_below_cost) == []


# -- refunds soon after the show -------------------------------------------------------------------


async def test_a_refund_wave_after_the_show_is_found_over_the_share_and_not_at_it(app: FastAPI) -> None:
    w = await world(app)
    async with app.state.ctx.uow() as uow:
        orders = [await place(uow, w, b, 6900) for b in w.shop.buyers[:6]]
        await place(uow, w, w.shop.buyers[6], 6900, paid=False)  # unpaid: not counted
        # Two of six (0.33 > 0.3) within the week; one refused and one late do not count.
        await refund_asked(uow, w, orders[0], w.ended_at + timedelta(hours=2))
        await refund_asked(uow, w, orders[1], w.ended_at + timedelta(days=6))
        await refund_asked(uow, w, orders[2], w.ended_at + timedelta(days=2), state="rejected")
        await refund_asked(uow, w, orders[3], w.ended_at + timedelta(days=8))
    (f,) = await findings(app, w, r.refunds_after_show)
    assert f.evidence["paid_orders"] == 6
    assert f.evidence["refunded_orders"] == sorted(orders[:2])
    assert f.evidence["share"] == round(2 / 6, 4)
    # The same rows under a higher threshold, or a shorter window, find nothing.
    assert await findings(app, w, r.refunds_after_show, r.Thresholds(refund_share=0.34)) == []
    assert len(await findings(app, w, r.refunds_after_show, r.Thresholds(refund_share=0.2, refund_window_days=1))) == 0


async def test_refunds_are_not_judged_below_the_minimum_of_paid_orders(app: FastAPI) -> None:
    w = await world(app)
    async with app.state.ctx.uow() as uow:
        orders = [await place(uow, w, b, 6900) for b in w.shop.buyers[:4]]
        for o in orders:
            await refund_asked(uow, w, o, w.ended_at + timedelta(hours=1))
    assert await findings(app, w, r.refunds_after_show) == []
    assert len(await findings(app, w, r.refunds_after_show, r.Thresholds(refund_min_orders=4))) == 1


# -- buyers who are members of the selling organisation ----------------------------------------------


async def test_orders_by_the_organisations_own_people_are_found_one_by_one(app: FastAPI) -> None:
    w = await world(app)
    async with app.state.ctx.uow() as uow:
        honest = await place(uow, w, w.shop.buyers[0], 6900)
        by_host = await place(uow, w, w.people["host"], 6900)
        by_owner = await place(uow, w, w.people["owner"], 13800)
        await place(uow, w, w.people["supplier"], 6900, paid=False)  # never paid: not a sale
        # The owner also holds a second role: one finding, both roles.
        uow.session.add(Membership(organisation_id=w.shop.org_id, user_id=w.people["owner"], role=Role.SUPPLIER))
    found = await findings(app, w, r.member_buyers)
    assert [(f.subject_kind, f.subject_id) for f in found] == [
        (SubjectKind.ORDER, by_host),
        (SubjectKind.ORDER, by_owner),
    ]
    assert honest not in [f.subject_id for f in found]
    assert found[1].evidence == {
        "buyer_id": w.people["owner"],
        "total_fen": 13800,
        "roles": ["owner", "supplier"],
        "organisation_id": w.shop.org_id,
    }


# -- identical amounts at or just above a round quota ----------------------------------------------


async def test_many_buyers_just_at_a_round_quota_are_found(app: FastAPI) -> None:
    w = await world(app)
    async with app.state.ctx.uow() as uow:
        # Five buyers land in [50, 55) yuan (one of them with two orders); two others do not.
        await place(uow, w, w.shop.buyers[0], 5000)
        await place(uow, w, w.shop.buyers[1], 5490)
        await place(uow, w, w.shop.buyers[2], 5000)
        await place(uow, w, w.shop.buyers[3], 2500)
        await place(uow, w, w.shop.buyers[3], 2600)
        await place(uow, w, w.shop.buyers[4], 5100)
        await place(uow, w, w.shop.buyers[5], 5500)  # 55 yuan: just outside
        await place(uow, w, w.shop.buyers[6], 4999)
    (f,) = await findings(app, w, r.round_quota)
    assert f.evidence["quota_fen"] == 5000 and f.evidence["upper_fen"] == 5500
    assert [b["buyer_id"] for b in f.evidence["buyers"]] == sorted(w.shop.buyers[:5])
    assert {b["total_fen"] for b in f.evidence["buyers"]} == {5000, 5490, 5100}
    assert await findings(app, w, r.round_quota, r.Thresholds(quota_min_buyers=6)) == []


async def test_varied_honest_amounts_are_not_a_quota(app: FastAPI) -> None:
    w = await world(app)
    async with app.state.ctx.uow() as uow:
        for n, b in enumerate(w.shop.buyers):
            await place(uow, w, b, 3900 + 1300 * n)  # 39, 52, 65, … yuan: one in [50, 55)
    assert await findings(app, w, r.round_quota) == []
