"""The demo's ended show carries what a post-show report shows (#19 point 3): minutes written
through the roll-up whose counted figures equal the orders beneath them (also after the refund
lands late), paid orders shipped on time and late against their deadline, reviews that say good
and bad of packaging, delivery and freshness, and after-sales reasons in the buyers' words."""

from __future__ import annotations

from collections import Counter

import sqlalchemy as sa

from fieldcast.aftersales.models import RefundReason, RefundRequest
from fieldcast.analytics.models import SessionMinute
from fieldcast.analytics.report import session_report
from fieldcast.analytics.rollup import minute_of, sweep
from fieldcast.commerce.models import Order
from fieldcast.db.base import utcnow
from fieldcast.demo import aftersales as demo_aftersales
from fieldcast.demo import minutes as demo_minutes
from fieldcast.demo import reviews as demo_reviews
from fieldcast.demo.clips import clip_windows
from fieldcast.live.models import LiveSession, ProductMark
from fieldcast.reviews.models import Review, ReviewTag, ReviewTagMark
from tests.demo.conftest import Seeded, all_rows


async def _show(seeded: Seeded) -> LiveSession:
    [show] = [s for s in await all_rows(seeded.app, LiveSession) if s.title == demo_aftersales.ENDED_SHOW]
    return show


async def _orders(seeded: Seeded, show: LiveSession) -> list[Order]:
    return [o for o in await all_rows(seeded.app, Order) if o.session_id == show.id]


async def test_the_ended_shows_minutes_cover_it_and_their_counts_equal_its_orders_after_the_late_refund(
    seeded: Seeded,
) -> None:
    ctx = seeded.app.state.ctx
    show = await _show(seeded)
    assert show.started_at is not None and show.ended_at is not None
    await ctx.relay.drain()  # the refund reaches the provider after the show, as on a running server
    async with ctx.uow() as uow:
        await sweep(uow, ctx.room_hub.counters, utcnow())  # one pass of the roll-up, as its chore runs
    orders = await _orders(seeded, show)
    paid = [o for o in orders if o.paid_at is not None]
    assert len(paid) >= 10 and any(o.refunded_fen for o in paid)
    # Every order of the show was placed while it ran.
    assert all(show.started_at <= o.created_at <= show.ended_at for o in orders)
    async with ctx.uow(write=False) as uow:
        report = await session_report(uow.session, show.id)
        minutes = (await uow.session.scalars(sa.select(SessionMinute).where(SessionMinute.session_id == show.id))).all()
    counted = report.totals.counted
    assert counted["orders"] == len(orders) and counted["paid_orders"] == len(paid)
    assert counted["paid_fen"] == sum(o.total_fen for o in paid)
    assert counted["refunded_fen"] == sum(o.refunded_fen for o in paid) > 0
    # The audience, minute by minute across the show (sampled through the roll-up).
    span = {m.minute for m in minutes}
    assert minute_of(show.started_at) in span and len(span) >= 80
    assert max(span) < show.ended_at
    assert report.totals.peak_viewers == demo_minutes.PEAK_VIEWERS
    assert 0 < report.totals.buyers <= report.totals.unique_viewers and report.totals.likes > 0
    assert report.totals.flowers > 0 and report.totals.avg_watch_s > 0
    # The shelf ranked by paid sales, and sales by the host explaining.
    assert report.products[0].units > 0 and report.hosts and report.hosts[0].host_id is not None


async def test_the_ended_shows_paid_orders_were_shipped_some_late_against_their_deadline(seeded: Seeded) -> None:
    shipped = [o for o in await _orders(seeded, await _show(seeded)) if o.shipped_at is not None]
    assert all(o.ship_by is not None and o.paid_at is not None and o.ship_by > o.paid_at for o in shipped)
    late = [o for o in shipped if o.ship_by and o.shipped_at and o.shipped_at > o.ship_by]
    on_time = [o for o in shipped if o.ship_by and o.shipped_at and o.shipped_at <= o.ship_by]
    assert len(late) >= 2 and len(on_time) >= 3
    delivered = [o for o in shipped if o.delivered_at is not None]
    assert len(delivered) >= len(demo_reviews.REVIEWS)
    assert all(o.shipped_at and o.delivered_at and o.delivered_at > o.shipped_at for o in delivered)


async def test_the_ended_shows_reviews_say_good_and_bad_of_packaging_delivery_and_freshness(seeded: Seeded) -> None:
    show = await _show(seeded)
    in_show = {o.id for o in await _orders(seeded, show)}
    reviews = [r for r in await all_rows(seeded.app, Review) if r.order_id in in_show]
    assert len(reviews) == len(demo_reviews.REVIEWS) and all(r.is_demo for r in reviews)
    ids = {r.id for r in reviews}
    said = Counter((m.tag, m.positive) for m in await all_rows(seeded.app, ReviewTagMark) if m.review_id in ids)
    for tag in (ReviewTag.PACKAGING_SIZE, ReviewTag.DELIVERY_SPEED, ReviewTag.FRESHNESS):
        assert said[(tag, True)] >= 1 and said[(tag, False)] >= 1, tag
    assert said[(ReviewTag.PACKAGING_SIZE, False)] >= 2  # the stories' complaint, more than once
    assert sum(1 for r in reviews if r.body) >= 5  # quotes to show


async def test_the_ended_shows_after_sales_have_several_reasons_in_the_buyers_words(seeded: Seeded) -> None:
    show = await _show(seeded)
    in_show = {o.id for o in await _orders(seeded, show)}
    requests = [r for r in await all_rows(seeded.app, RefundRequest) if r.order_id in in_show]
    assert {r.reason for r in requests} == {
        RefundReason.TOO_SLOW,
        RefundReason.SPOILED,
        RefundReason.DAMAGED,
    }
    assert all(r.is_demo and r.note.startswith("演示数据") for r in requests)
    assert len(requests) == 1 + len(demo_aftersales.RETURNS)


async def test_the_ended_shows_replay_has_a_clip_window_around_each_explaining_now_mark(seeded: Seeded) -> None:
    show = await _show(seeded)
    windows = [w for w in await clip_windows(seeded.app.state.ctx.uow) if w.session_id == show.id]
    marks = [m for m in await all_rows(seeded.app, ProductMark) if m.session_id == show.id]
    assert show.replay_duration_s is not None and len(windows) == len(marks) >= 2
    by_mark = {m.id: m for m in marks}
    for w in windows:
        mark = by_mark[w.mark_id]
        assert w.sku_id == mark.sku_id and w.organisation_id == show.organisation_id
        assert 0 <= w.start_s <= mark.offset_s < w.end_s <= show.replay_duration_s
