"""An event's figures (the big screen's): each room's from its minutes, the event's as their sums,
with verified GMV beside raw; the rooms ranked by paid sales, the products sold across the event,
and buyers and paid money by the province their orders ship to.

Everything is read from session_minutes (one grouped query for all rooms) and grouped queries over
the rows beneath (buyers, products, provinces), never minute by minute. A live room's running
totals also come from its counters, which lead its minutes by up to one roll-up pass: the larger
of the two is shown (both only grow), and its viewers on now are the counters' alone.

Conventions a reader of the figures needs:
- unique viewers and views of the event are the sums of its rooms' (one person in two rooms
  counts in each, as each room counts them); peak viewers is the sum of the rooms' peaks;
- buyers are distinct people across the event (a buyer of two rooms is one buyer);
- a room's raw, paid and refunded GMV come from its minutes; a room an integrity alert stands
  on takes its whole figure from integrity (`gmv_by_session`, which reads its orders), so money
  under alert is never missed and a room nobody doubts costs no scan of its orders. Verified GMV
  of the event is the sum of its rooms' (the rooms on the screen add up to the total);
- a province is named as the room's purchase ticker names it (commerce's `province_of`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.accounts.models import User
from fieldcast.analytics.models import SessionMinute
from fieldcast.analytics.report import Totals
from fieldcast.analytics.rollup import COUNTED
from fieldcast.commerce.checkout import province_of
from fieldcast.commerce.models import Order, OrderLine
from fieldcast.integrity.gmv import Gmv, gmv_by_session
from fieldcast.integrity.models import STANDING_STATES, IntegrityAlert
from fieldcast.live.models import LiveEvent, LiveSession, SessionHost, SessionState
from fieldcast.realtime.counters import RoomTotals

log = logging.getLogger(__name__)

TOP_PRODUCTS = 10
RECENT_PURCHASES = 8  # the ticker's lines when the screen opens
PROVINCE_PREFIX = 2  # a GB/T 2260 code's first two digits name its province ("42" → 420000, 湖北省)


class CounterTotals(Protocol):
    async def totals(self, room_id: int) -> RoomTotals: ...


@dataclass
class RoomFigures:
    session_id: int
    title: str
    state: SessionState
    started_at: datetime | None
    ended_at: datetime | None
    hosts: list[str]
    viewers: int | None  # on now (live rooms, from the counters); None when not live or unreadable
    totals: Totals
    gmv: Gmv


@dataclass(frozen=True)
class EventProduct:
    sku_id: int
    title: str
    spec_label: str
    units: int
    paid_fen: int


@dataclass(frozen=True)
class ProvinceFigures:
    code: str  # the province's 6-digit code, e.g. "420000" (the map's feature id)
    name: str  # as the purchase ticker names it, e.g. "湖北省"
    buyers: int
    paid_orders: int
    paid_fen: int


@dataclass(frozen=True)
class RecentPurchase:
    """A purchase as the room's ticker told it (commerce's room.purchase): province only."""

    paid_at: datetime
    session_id: int
    province: str
    title: str
    quantity: int


@dataclass
class EventReport:
    event: LiveEvent
    rooms: list[RoomFigures]
    totals: Totals
    viewers: int | None  # on now in all live rooms; None when the counters could not be read
    gmv: Gmv
    products: list[EventProduct] = field(default_factory=list)
    provinces: list[ProvinceFigures] = field(default_factory=list)
    purchases: list[RecentPurchase] = field(default_factory=list)

    @property
    def live_rooms(self) -> int:
        return sum(1 for r in self.rooms if r.state == SessionState.LIVE)

    @property
    def leaderboard(self) -> list[RoomFigures]:
        """The rooms ranked by paid GMV (then verified, then orders)."""
        return sorted(
            self.rooms, key=lambda r: (-r.gmv.paid_fen, -r.gmv.verified_fen, -r.gmv.paid_orders, r.session_id)
        )


SHOWN_FIRST = {SessionState.LIVE: 0, SessionState.SCHEDULED: 1, SessionState.ENDED: 2}


async def event_rooms(s: AsyncSession, event_id: int) -> list[LiveSession]:
    """The event's rooms that are or were on (a cancelled show has no figures to show): the live
    ones first, then those to come, then those ended, each by their time."""
    rooms = (
        await s.scalars(
            sa.select(LiveSession)
            .where(LiveSession.event_id == event_id, LiveSession.state != SessionState.CANCELLED)
            .order_by(LiveSession.scheduled_at, LiveSession.id)
        )
    ).all()
    return sorted(rooms, key=lambda x: SHOWN_FIRST.get(x.state, 3))


async def _minute_totals(s: AsyncSession, ids: list[int]) -> dict[int, Totals]:
    """Each room's totals from its minutes: one grouped query (sampled figures are running
    totals, so a room's is its largest minute; counted figures add up)."""
    m = SessionMinute
    rows = (
        await s.execute(
            sa.select(
                m.session_id,
                sa.func.max(m.viewers),
                sa.func.max(m.unique_viewers),
                sa.func.max(m.views),
                sa.func.max(m.likes),
                sa.func.max(m.flowers),
                sa.func.max(m.watch_s),
                *(sa.func.coalesce(sa.func.sum(getattr(m, name)), 0) for name in COUNTED),
            )
            .where(m.session_id.in_(ids))
            .group_by(m.session_id)
        )
    ).all()
    out = {sid: Totals(counted=dict.fromkeys(COUNTED, 0)) for sid in ids}
    for r in rows:
        out[int(r[0])] = Totals(
            counted={name: int(v or 0) for name, v in zip(COUNTED, r[7:], strict=True)},
            peak_viewers=int(r[1] or 0),
            unique_viewers=int(r[2] or 0),
            views=int(r[3] or 0),
            likes=int(r[4] or 0),
            flowers=int(r[5] or 0),
            watch_s=float(r[6] or 0.0),
        )
    return out


async def _buyers(s: AsyncSession, ids: list[int]) -> tuple[dict[int, int], int]:
    """Distinct paying buyers per room, and across the event (not the sum: one person may buy in two)."""
    paid = (Order.session_id.in_(ids), Order.paid_at.is_not(None))
    per_room = (
        await s.execute(
            sa.select(Order.session_id, sa.func.count(sa.distinct(Order.buyer_id)))
            .where(*paid)
            .group_by(Order.session_id)
        )
    ).all()
    overall = await s.scalar(sa.select(sa.func.count(sa.distinct(Order.buyer_id))).where(*paid))
    return {r[0]: int(r[1]) for r in per_room if r[0] is not None}, int(overall or 0)


async def _hosts(s: AsyncSession, ids: list[int]) -> dict[int, list[str]]:
    rows = (
        await s.execute(
            sa.select(SessionHost.session_id, User.display_name)
            .join(User, User.id == SessionHost.user_id)
            .where(SessionHost.session_id.in_(ids))
            .order_by(SessionHost.session_id, SessionHost.position)
        )
    ).all()
    out: dict[int, list[str]] = {}
    for r in rows:
        out.setdefault(int(r[0]), []).append(str(r[1]))
    return out


async def event_products(s: AsyncSession, ids: list[int], limit: int = TOP_PRODUCTS) -> list[EventProduct]:
    """The SKUs sold across the event's rooms, ranked by paid money (then units)."""
    fen = sa.func.sum(OrderLine.line_total_fen)
    units = sa.func.sum(OrderLine.quantity)
    rows = (
        await s.execute(
            sa.select(OrderLine.sku_id, sa.func.max(OrderLine.title), sa.func.max(OrderLine.spec_label), units, fen)
            .join(Order, Order.id == OrderLine.order_id)
            .where(Order.session_id.in_(ids), Order.paid_at.is_not(None))
            .group_by(OrderLine.sku_id)
            .order_by(fen.desc(), units.desc(), OrderLine.sku_id)
            .limit(limit)
        )
    ).all()
    return [EventProduct(int(r[0]), str(r[1]), str(r[2]), int(r[3] or 0), int(r[4] or 0)) for r in rows]


async def event_provinces(s: AsyncSession, ids: list[int]) -> list[ProvinceFigures]:
    """Paying buyers and paid money by the province the orders ship to (grouped on the region
    code's province digits), most buyers first. Orders to an unknown code are left out."""
    prefix = sa.func.substr(Order.region_code, 1, PROVINCE_PREFIX)
    rows = (
        await s.execute(
            sa.select(
                prefix,
                sa.func.count(sa.distinct(Order.buyer_id)),
                sa.func.count(Order.id),
                sa.func.coalesce(sa.func.sum(Order.total_fen), 0),
            )
            .where(Order.session_id.in_(ids), Order.paid_at.is_not(None))
            .group_by(prefix)
        )
    ).all()
    out = []
    for r in rows:
        code = f"{r[0]}0000"
        name = province_of(code)
        if name:
            out.append(ProvinceFigures(code, name, int(r[1]), int(r[2]), int(r[3] or 0)))
    return sorted(out, key=lambda p: (-p.buyers, -p.paid_fen, p.code))


async def recent_purchases(s: AsyncSession, ids: list[int], limit: int = RECENT_PURCHASES) -> list[RecentPurchase]:
    """The last purchases in the event's rooms, newest first, as their rooms announced them (a
    line bought from a show's shelf, with the order's province: never a name)."""
    rows = (
        await s.execute(
            sa.select(Order.paid_at, Order.session_id, Order.province, OrderLine.title, OrderLine.quantity)
            .join(OrderLine, OrderLine.order_id == Order.id)
            .where(Order.session_id.in_(ids), Order.paid_at.is_not(None), OrderLine.shelf_item_id.is_not(None))
            .order_by(Order.paid_at.desc(), OrderLine.id.desc())
            .limit(limit)
        )
    ).all()
    return [RecentPurchase(r[0], r[1], r[2], r[3], r[4]) for r in rows if r[0] is not None and r[1] is not None]


async def _alerted(s: AsyncSession, ids: list[int]) -> list[int]:
    """The rooms an integrity alert stands on (their money may be under alert)."""
    rows = await s.scalars(
        sa.select(IntegrityAlert.session_id)
        .where(IntegrityAlert.session_id.in_(ids), IntegrityAlert.state.in_(STANDING_STATES))
        .distinct()
    )
    return sorted(int(x) for x in rows.all() if x is not None)


def _minute_gmv(t: Totals) -> Gmv:
    """A room's figures side by side from its minutes (nothing under alert: no alert stands)."""
    c = t.counted
    return Gmv(
        raw_fen=c["gmv_fen"],
        paid_fen=c["paid_fen"],
        refunded_fen=c["refunded_fen"],
        flagged_fen=0,
        orders=c["orders"],
        paid_orders=c["paid_orders"],
        flagged_orders=0,
    )


def _add_gmv(figures: Sequence[Gmv]) -> Gmv:
    return Gmv(
        raw_fen=sum(g.raw_fen for g in figures),
        paid_fen=sum(g.paid_fen for g in figures),
        refunded_fen=sum(g.refunded_fen for g in figures),
        flagged_fen=sum(g.flagged_fen for g in figures),
        orders=sum(g.orders for g in figures),
        paid_orders=sum(g.paid_orders for g in figures),
        flagged_orders=sum(g.flagged_orders for g in figures),
    )


async def _overlay_counters(rooms: list[RoomFigures], counters: CounterTotals | None) -> int | None:
    """Live rooms' counters over their minutes (see the module's note); the viewers on now in all,
    or None when a live room's counters could not be read (never an estimate)."""
    now: int | None = 0
    for room in rooms:
        if room.state != SessionState.LIVE:
            continue
        try:
            if counters is None:
                raise LookupError("no counters given")
            live = await counters.totals(room.session_id)
        except Exception:  # Redis away: the minutes stand, "now" is unknown
            log.warning("room counters unreadable for an event's room %s", room.session_id, exc_info=True)
            now = None
            continue
        t = room.totals
        room.viewers = live.viewers
        t.peak_viewers = max(t.peak_viewers, live.viewers)
        t.unique_viewers = max(t.unique_viewers, live.unique_viewers)
        t.views = max(t.views, live.views)
        t.likes = max(t.likes, live.likes)
        t.flowers = max(t.flowers, live.flowers)
        t.watch_s = max(t.watch_s, live.watch_s)
        now = None if now is None else now + live.viewers
    return now


async def event_report(s: AsyncSession, event: LiveEvent, counters: CounterTotals | None = None) -> EventReport:
    lives = await event_rooms(s, event.id)
    ids = [x.id for x in lives]
    minute_totals = await _minute_totals(s, ids) if ids else {}
    buyers, all_buyers = await _buyers(s, ids) if ids else ({}, 0)
    hosts = await _hosts(s, ids) if ids else {}
    doubted = await gmv_by_session(s, await _alerted(s, ids)) if ids else {}
    rooms = []
    for x in lives:
        totals = minute_totals[x.id]
        totals.buyers = buyers.get(x.id, 0)
        gmv = doubted.get(x.id) or _minute_gmv(totals)
        rooms.append(
            RoomFigures(x.id, x.title, x.state, x.started_at, x.ended_at, hosts.get(x.id, []), None, totals, gmv)
        )
    viewers = await _overlay_counters(rooms, counters)
    totals = Totals(
        counted={name: sum(r.totals.counted[name] for r in rooms) for name in COUNTED},
        peak_viewers=sum(r.totals.peak_viewers for r in rooms),
        unique_viewers=sum(r.totals.unique_viewers for r in rooms),
        views=sum(r.totals.views for r in rooms),
        likes=sum(r.totals.likes for r in rooms),
        flowers=sum(r.totals.flowers for r in rooms),
        watch_s=sum(r.totals.watch_s for r in rooms),
        buyers=all_buyers,
    )
    return EventReport(
        event,
        rooms,
        totals,
        viewers,
        _add_gmv([r.gmv for r in rooms]),
        await event_products(s, ids) if ids else [],
        await event_provinces(s, ids) if ids else [],
        await recent_purchases(s, ids) if ids else [],
    )
