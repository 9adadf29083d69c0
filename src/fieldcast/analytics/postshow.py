"""The post-show report of one show: what the host and organisers read once it is over.

Each block is read with one grouped query (two where quotes are picked beside the counts), so the
report costs the same handful of statements for ten orders or a hundred thousand:
- the minutes (from session_minutes, never from the rows beneath) with the "explaining now" marks,
  the totals, the shelf ranked and the sales by host (report.py);
- buyers and paid money by province (the first two digits of the order's region code, named as
  the purchase ticker names it);
- feedback: review tags (good and bad per tag) and after-sales reasons, each with its counts and
  the latest few words buyers wrote;
- delivery against the ship-by promise, and how long shipping and delivery took (median, p90);
- the integrity summary: alerts by rule and state beside raw and verified GMV.

Durations are counted in tenths of an hour in SQL (a histogram, the same on SQLite and PostgreSQL,
a few hundred rows however many orders) and the percentiles read from it: exact to the tenth of
an hour the report shows."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from fieldcast.aftersales.models import RefundReason, RefundRequest, RefundRequestState
from fieldcast.analytics.report import SessionReport, session_report
from fieldcast.clips.queries import clip_figures
from fieldcast.clips.schemas import SessionClipsOut
from fieldcast.commerce.checkout import province_of
from fieldcast.commerce.models import Order, RefundStatus, Shipment, TrackingStatus
from fieldcast.integrity.models import IntegrityAlert
from fieldcast.integrity.supervision import AlertCount, count_alerts
from fieldcast.live.models import LiveSession
from fieldcast.live.queries import marks_of
from fieldcast.reviews.models import Review, ReviewTag, ReviewTagMark

QUOTES = 3  # the latest words buyers wrote, per group
QUOTE_MAX = 140  # characters of a quote shown (the review or note is longer at most 500)
BUCKET_S = 360  # durations are counted in tenths of an hour (what the report shows)


# -- durations in SQL, the same on both backends ----------------------------------------------------


class seconds_between(FunctionElement[float]):
    """`later - earlier` in seconds (a float): date_part('epoch', ...) on PostgreSQL, julianday on SQLite."""

    type = sa.Float()
    name = "seconds_between"
    inherit_cache = True


@compiles(seconds_between, "postgresql")
def _seconds_pg(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = list(element.clauses)
    # date_part gives a double; EXTRACT gives numeric since PostgreSQL 14, several times slower to
    # divide and group over 100,000 rows.
    return f"date_part('epoch', {compiler.process(later, **kw)} - {compiler.process(earlier, **kw)})"


@compiles(seconds_between)
def _seconds_sqlite(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = list(element.clauses)
    return f"((julianday({compiler.process(later, **kw)}) - julianday({compiler.process(earlier, **kw)})) * 86400.0)"


def _bucket(later: Any, earlier: Any) -> sa.ColumnElement[int]:
    """The whole BUCKET_S from `earlier` to `later` (never below 0)."""
    seconds = seconds_between(later, earlier)
    return sa.cast(sa.case((seconds < 0, 0), else_=seconds / BUCKET_S), sa.Integer)


def percentile_hours(histogram: dict[int, int], p: float) -> float | None:
    """The p-th percentile (nearest rank) of durations counted per BUCKET_S, in hours (the middle
    of its bucket); None when nothing was counted."""
    n = sum(histogram.values())
    if n == 0:
        return None
    rank = max(1, math.ceil(p * n))
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return round((bucket + 0.5) * BUCKET_S / 3600, 2)
    return None  # unreachable: the ranks add up to n


# -- the blocks --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mark:
    """A product explained from `at` until the next mark (or the end of the show)."""

    sku_id: int
    product_title: str
    at: datetime
    until: datetime | None
    offset_s: float


@dataclass(frozen=True)
class ProvinceSales:
    code: str  # the province's six-digit code (the map's feature id)
    name: str
    buyers: int
    orders: int
    paid_fen: int


@dataclass(frozen=True)
class Quote:
    text: str
    at: datetime
    positive: bool | None = None  # a review tag's mark; None for an after-sales note


@dataclass
class TagFeedback:
    tag: ReviewTag
    good: int = 0
    bad: int = 0
    quotes: list[Quote] = field(default_factory=list)  # the bad ones first, newest first


@dataclass
class ReasonFeedback:
    reason: RefundReason
    requests: int = 0
    amount_fen: int = 0  # asked for
    refunded_fen: int = 0  # of it, gone back
    quotes: list[Quote] = field(default_factory=list)


@dataclass(frozen=True)
class Deliveries:
    """The show's paid orders against the ship-by promise fixed when each was paid."""

    paid: int
    shipped_on_time: int
    shipped_late: int
    unshipped_overdue: int  # not shipped, the promise has passed
    unshipped_due: int  # not shipped, still within the promise
    refunded_unshipped: int  # refunded in full before it shipped: nothing to ship
    delivered: int  # signed for (carrier) or confirmed by the buyer
    on_the_way: int  # shipped, not delivered yet
    ship_hours_p50: float | None
    ship_hours_p90: float | None
    deliver_hours_p50: float | None  # from payment
    deliver_hours_p90: float | None

    @property
    def shipped(self) -> int:
        return self.shipped_on_time + self.shipped_late

    @property
    def on_time_rate(self) -> float | None:
        return self.shipped_on_time / self.shipped if self.shipped else None


@dataclass
class PostShowReport:
    live: LiveSession
    base: SessionReport  # minutes, totals, GMV side by side, products, hosts
    marks: list[Mark]
    provinces: list[ProvinceSales]
    review_tags: list[TagFeedback]
    refund_reasons: list[ReasonFeedback]
    deliveries: Deliveries
    alerts: list[AlertCount]
    clips: SessionClipsOut  # the shoppable clips cut from its replay: views, orders, paid GMV


async def explaining_marks(s: AsyncSession, live: LiveSession) -> list[Mark]:
    """The "explaining now" marks, each lasting until the next one (the last until the show ended)."""
    marks = await marks_of(s, live.id)
    out: list[Mark] = []
    for n, m in enumerate(marks):
        until = marks[n + 1].marked_at if n + 1 < len(marks) else live.ended_at
        out.append(Mark(m.sku_id, m.product_title, m.marked_at, until, m.offset_s))
    return out


async def provinces(s: AsyncSession, session_id: int) -> list[ProvinceSales]:
    """Paid orders by the province they ship to (most paid money first)."""
    # Per (province, buyer) first, then per province: a hash aggregate each, where COUNT(DISTINCT)
    # sorts every paid order (on disk, at 100,000 of them, with PostgreSQL's default work_mem).
    prefix = sa.func.substr(Order.region_code, 1, 2).label("prefix")
    per_buyer = (
        sa.select(prefix, sa.func.count(Order.id).label("orders"), sa.func.sum(Order.total_fen).label("fen"))
        .where(Order.session_id == session_id, Order.paid_at.is_not(None))
        .group_by(prefix, Order.buyer_id)
        .subquery()
    )
    rows = (
        await s.execute(
            sa.select(
                per_buyer.c.prefix,
                sa.func.count(),
                sa.func.sum(per_buyer.c.orders),
                sa.func.coalesce(sa.func.sum(per_buyer.c.fen), 0),
            ).group_by(per_buyer.c.prefix)
        )
    ).all()
    out = []
    for code2, buyers, orders, paid in rows:
        code = f"{code2}0000"
        out.append(ProvinceSales(code, province_of(code) or str(code2), int(buyers), int(orders), int(paid)))
    return sorted(out, key=lambda p: (-p.paid_fen, -p.buyers, p.code))


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= QUOTE_MAX else text[: QUOTE_MAX - 1] + "…"


async def review_feedback(s: AsyncSession, session_id: int) -> list[TagFeedback]:
    """Each review tag marked on the show's orders, good and bad (reviews the platform removed do
    not count), with the latest texts of reviews that carry it; most complained-of first. One
    query: each (tag, good or bad) counted by a window, its rows ranked texts first, newest first."""
    partition = (ReviewTagMark.tag, ReviewTagMark.positive)
    no_text = sa.case((Review.body == "", 1), else_=0)
    ranked = (
        sa.select(
            ReviewTagMark.tag,
            ReviewTagMark.positive,
            Review.body,
            Review.created_at,
            sa.func.count().over(partition_by=partition).label("n"),
            sa.func.row_number().over(partition_by=partition, order_by=(no_text, Review.id.desc())).label("rank"),
        )
        .join(Review, Review.id == ReviewTagMark.review_id)
        .join(Order, Order.id == Review.order_id)
        .where(Review.removed_at.is_(None), Order.session_id == session_id)
        .subquery()
    )
    rows = (
        await s.execute(
            sa.select(ranked.c.tag, ranked.c.positive, ranked.c.body, ranked.c.created_at, ranked.c.n)
            .where(ranked.c.rank <= QUOTES)
            .order_by(ranked.c.tag, ranked.c.positive, ranked.c.rank)
        )
    ).all()
    groups: dict[str, TagFeedback] = {}
    for tag, positive, body, at, n in rows:
        group = groups.setdefault(str(tag), TagFeedback(ReviewTag(tag)))
        if positive:
            group.good = int(n)
        else:
            group.bad = int(n)
        if body:
            group.quotes.append(Quote(_clip(body), at, bool(positive)))
    for group in groups.values():
        group.quotes.sort(key=lambda q: (bool(q.positive), -q.at.timestamp()))
    return sorted(groups.values(), key=lambda g: (-g.bad, -g.good, g.tag.value))


async def refund_feedback(s: AsyncSession, session_id: int) -> list[ReasonFeedback]:
    """After-sales requests on the show's orders by the reason given, with the money asked and
    refunded and the latest notes; most frequent first."""
    refunded = RefundRequest.state == RefundRequestState.REFUNDED
    counts = (
        await s.execute(
            sa.select(
                RefundRequest.reason,
                sa.func.count(),
                sa.func.coalesce(sa.func.sum(RefundRequest.amount_fen), 0),
                sa.func.coalesce(sa.func.sum(sa.case((refunded, RefundRequest.amount_fen), else_=0)), 0),
            )
            .where(RefundRequest.session_id == session_id)
            .group_by(RefundRequest.reason)
        )
    ).all()
    groups = {
        str(reason): ReasonFeedback(RefundReason(reason), int(n), int(asked), int(back))
        for reason, n, asked, back in counts
    }
    if groups:
        rank = (
            sa.func.row_number().over(partition_by=RefundRequest.reason, order_by=RefundRequest.id.desc()).label("rank")
        )
        latest = (
            sa.select(RefundRequest.reason, RefundRequest.note, RefundRequest.created_at, rank)
            .where(RefundRequest.session_id == session_id, RefundRequest.note != "")
            .subquery()
        )
        quotes = (
            await s.execute(
                sa.select(latest.c.reason, latest.c.note, latest.c.created_at)
                .where(latest.c.rank <= QUOTES)
                .order_by(latest.c.reason, latest.c.rank)
            )
        ).all()
        for reason, note, at in quotes:
            groups[str(reason)].quotes.append(Quote(_clip(note), at))
    return sorted(groups.values(), key=lambda g: (-g.requests, g.reason.value))


class _Shipping:
    """How a paid order stands against its promise (the first of the deliveries' groups)."""

    ON_TIME, LATE, OVERDUE, DUE, REFUNDED = range(5)


async def deliveries(s: AsyncSession, session_id: int, now: datetime) -> Deliveries:
    """The paid orders' shipping against their promise, and the time to ship and to deliver
    (from payment; delivered is the carrier's signed-for time, else the buyer's confirmation).
    Two grouped queries: the orders by how they stand and their time to ship; the delivered by
    their time to deliver (only this one needs the parcels)."""
    paid = (Order.session_id == session_id, Order.paid_at.is_not(None))
    shipped, unshipped = Order.shipped_at.is_not(None), Order.shipped_at.is_(None)
    refunded_in_full = Order.refund_status == RefundStatus.REFUNDED
    standing = sa.case(
        (sa.and_(shipped, sa.or_(Order.ship_by.is_(None), Order.shipped_at <= Order.ship_by)), _Shipping.ON_TIME),
        (shipped, _Shipping.LATE),
        (refunded_in_full, _Shipping.REFUNDED),
        (Order.ship_by < now, _Shipping.OVERDUE),
        else_=_Shipping.DUE,
    )
    ship_buckets = sa.case((unshipped, None), else_=_bucket(Order.shipped_at, Order.paid_at))
    by_standing: dict[int, int] = {}
    ship: dict[int, int] = {}
    for group, bucket, n in (
        await s.execute(
            sa.select(standing, ship_buckets, sa.func.count()).where(*paid).group_by(standing, ship_buckets)
        )
    ).all():
        by_standing[int(group)] = by_standing.get(int(group), 0) + int(n)
        if bucket is not None:
            ship[int(bucket)] = ship.get(int(bucket), 0) + int(n)
    signed = sa.case((Shipment.status == TrackingStatus.DELIVERED, Shipment.status_at), else_=None)
    delivered_at = sa.func.coalesce(signed, Order.delivered_at)
    deliver_buckets = _bucket(delivered_at, Order.paid_at)
    deliver = {
        int(bucket): int(n)
        for bucket, n in (
            await s.execute(
                sa.select(deliver_buckets, sa.func.count())
                .select_from(Order)
                .outerjoin(Shipment, Shipment.order_id == Order.id)
                .where(*paid, shipped, delivered_at.is_not(None))
                .group_by(deliver_buckets)
            )
        ).all()
    }
    on_time, late = by_standing.get(_Shipping.ON_TIME, 0), by_standing.get(_Shipping.LATE, 0)
    delivered = sum(deliver.values())
    return Deliveries(
        paid=sum(by_standing.values()),
        shipped_on_time=on_time,
        shipped_late=late,
        unshipped_overdue=by_standing.get(_Shipping.OVERDUE, 0),
        unshipped_due=by_standing.get(_Shipping.DUE, 0),
        refunded_unshipped=by_standing.get(_Shipping.REFUNDED, 0),
        delivered=delivered,
        on_the_way=on_time + late - delivered,
        ship_hours_p50=percentile_hours(ship, 0.5),
        ship_hours_p90=percentile_hours(ship, 0.9),
        deliver_hours_p50=percentile_hours(deliver, 0.5),
        deliver_hours_p90=percentile_hours(deliver, 0.9),
    )


async def alert_tallies(s: AsyncSession, session_id: int) -> list[AlertCount]:
    """The show's integrity alerts by rule and severity, counted by state (most severe first)."""
    return await count_alerts(s, [IntegrityAlert.session_id == session_id])


async def post_show_report(s: AsyncSession, live: LiveSession, now: datetime) -> PostShowReport:
    """Every block of the report of one show (who may read it is the caller's check)."""
    return PostShowReport(
        live=live,
        base=await session_report(s, live.id),
        marks=await explaining_marks(s, live),
        provinces=await provinces(s, live.id),
        review_tags=await review_feedback(s, live.id),
        refund_reasons=await refund_feedback(s, live.id),
        deliveries=await deliveries(s, live.id, now),
        alerts=await alert_tallies(s, live.id),
        clips=await clip_figures(s, live.id),
    )
