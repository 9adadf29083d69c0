"""Writing the minutes (models.py says what a minute holds).

`sweep` is one pass of the roll-up, run by every app process with upkeep every
`analytics_sweep_s`:
1. it samples the room counters of every live show into the current minute (largest value kept);
2. it finds the rows that moved since its mark — orders changed (placed, paid, refunded, closed:
   their `updated_at`), comments posted, coupons claimed — and counts each minute they fall in
   again, whole, from the rows beneath.
Reading again a little before the mark (OVERLAP) catches a row whose transaction committed after
a pass had read past its time; counting a minute twice writes the same figures. Several
processes may sweep at once: every write is "set to what the rows say" or "keep the larger", so
the rows come out the same."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.analytics.models import RollupMark, SessionMinute
from fieldcast.chat.models import ChatMessage
from fieldcast.commerce.coupons.models import CouponBatch, CouponClaim
from fieldcast.commerce.models import Order
from fieldcast.db.uow import UnitOfWork
from fieldcast.live.models import LiveSession, SessionState
from fieldcast.realtime.counters import RoomCounters, RoomTotals

MINUTE = timedelta(minutes=1)
OVERLAP = timedelta(minutes=2)
BATCH = 5000  # rows read per source and pass; a longer backlog is read over the next passes
BEGINNING = datetime(2000, 1, 1, tzinfo=UTC)

COUNTED = ("comments", "orders", "units", "gmv_fen", "paid_orders", "paid_fen", "refunded_fen", "coupon_claims")
SAMPLED = ("viewers", "unique_viewers", "views", "likes", "flowers", "watch_s")


def minute_of(t: datetime) -> datetime:
    t = t if t.tzinfo is not None else t.replace(tzinfo=UTC)
    return t.astimezone(UTC).replace(second=0, microsecond=0)


def _in_minute(column: Any, minute: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(column >= minute, column < minute + MINUTE)


async def count_minute(s: AsyncSession, session_id: int, minute: datetime) -> dict[str, int]:
    """The counted figures of one minute of a show, from the rows beneath."""
    paid = Order.paid_at.is_not(None)
    row = (
        await s.execute(
            sa.select(
                sa.func.count(Order.id),
                sa.func.coalesce(sa.func.sum(Order.units), 0),
                sa.func.coalesce(sa.func.sum(Order.total_fen), 0),
                sa.func.coalesce(sa.func.sum(sa.case((paid, 1), else_=0)), 0),
                sa.func.coalesce(sa.func.sum(sa.case((paid, Order.total_fen), else_=0)), 0),
                sa.func.coalesce(sa.func.sum(sa.case((paid, Order.refunded_fen), else_=0)), 0),
            ).where(Order.session_id == session_id, _in_minute(Order.created_at, minute))
        )
    ).one()
    comments = await s.scalar(
        sa.select(sa.func.count(ChatMessage.id)).where(
            ChatMessage.session_id == session_id, _in_minute(ChatMessage.created_at, minute)
        )
    )
    claims = await s.scalar(
        sa.select(sa.func.count(CouponClaim.id))
        .join(CouponBatch, CouponBatch.id == CouponClaim.batch_id)
        .where(CouponBatch.session_id == session_id, _in_minute(CouponClaim.claimed_at, minute))
    )
    figures = [int(v) for v in row]
    return dict(zip(COUNTED, [int(comments or 0), *figures, int(claims or 0)], strict=True))


async def _row(s: AsyncSession, session_id: int, minute: datetime) -> int:
    """The id of the minute's row, made if missing (another process may make it meanwhile)."""
    where = (SessionMinute.session_id == session_id, SessionMinute.minute == minute)
    found = await s.scalar(sa.select(SessionMinute.id).where(*where))
    if found is not None:
        return int(found)
    try:
        async with s.begin_nested():
            row = SessionMinute(session_id=session_id, minute=minute)
            s.add(row)
            await s.flush()
            return row.id
    except IntegrityError:
        found = await s.scalar(sa.select(SessionMinute.id).where(*where))
        assert found is not None
        return int(found)


async def write_counted(s: AsyncSession, session_id: int, minute: datetime) -> dict[str, int]:
    figures = await count_minute(s, session_id, minute)
    row_id = await _row(s, session_id, minute)
    await s.execute(sa.update(SessionMinute).where(SessionMinute.id == row_id).values(**figures))
    return figures


async def write_sampled(s: AsyncSession, session_id: int, minute: datetime, totals: RoomTotals) -> None:
    row_id = await _row(s, session_id, minute)
    sampled = {
        "viewers": totals.viewers,
        "unique_viewers": totals.unique_viewers,
        "views": totals.views,
        "likes": totals.likes,
        "flowers": totals.flowers,
        "watch_s": float(totals.watch_s),
    }
    larger = {
        name: sa.case((getattr(SessionMinute, name) < value, value), else_=getattr(SessionMinute, name))
        for name, value in sampled.items()
    }
    await s.execute(sa.update(SessionMinute).where(SessionMinute.id == row_id).values(**larger))


@dataclass(frozen=True)
class _Source:
    name: str
    session: Any  # the show's column
    placed: Any  # which minute a row counts in
    moved: Any  # when it last changed
    join: tuple[type, sa.ColumnElement[bool]] | None = None


SOURCES = (
    _Source("orders", Order.session_id, Order.created_at, Order.updated_at),
    _Source("comments", ChatMessage.session_id, ChatMessage.created_at, ChatMessage.created_at),
    _Source(
        "claims",
        CouponBatch.session_id,
        CouponClaim.claimed_at,
        CouponClaim.claimed_at,
        (CouponBatch, CouponBatch.id == CouponClaim.batch_id),
    ),
)


async def _moved(
    s: AsyncSession, source: _Source, since: datetime, until: datetime
) -> tuple[set[tuple[int, datetime]], datetime]:
    """(show, minute) pairs of the rows of `source` that moved in (since, until], and how far
    they were read (until, or the last row's time when the batch was full)."""
    query = sa.select(source.session, source.placed, source.moved)
    if source.join is not None:
        query = query.select_from(CouponClaim).join(*source.join)
    rows = (
        await s.execute(
            query.where(source.session.is_not(None), source.moved > since, source.moved <= until)
            .order_by(source.moved)
            .limit(BATCH)
        )
    ).all()
    read_to = until if len(rows) < BATCH else rows[-1][2]
    return {(int(r[0]), minute_of(r[1])) for r in rows}, read_to


async def count_again(s: AsyncSession, minutes: Iterable[tuple[int, datetime]]) -> int:
    done = 0
    for session_id, minute in sorted(set(minutes)):
        await write_counted(s, session_id, minute)
        done += 1
    return done


async def sweep(uow: UnitOfWork, counters: RoomCounters, now: datetime) -> int:
    """One pass (see the module's note); the number of minutes written."""
    s = uow.session
    written = 0
    live = list((await s.scalars(sa.select(LiveSession.id).where(LiveSession.state == SessionState.LIVE))).all())
    for session_id in sorted(live):
        await write_sampled(s, session_id, minute_of(now), await counters.totals(session_id))
        written += 1
    marks = {m.source: m for m in (await s.scalars(sa.select(RollupMark))).all()}
    for source in SOURCES:
        mark = marks.get(source.name)
        since = (mark.read_to if mark is not None else BEGINNING) - OVERLAP
        moved, read_to = await _moved(s, source, max(since, BEGINNING), now)
        written += await count_again(s, moved)
        if mark is None:
            s.add(RollupMark(source=source.name, read_to=read_to))
        elif read_to > mark.read_to:
            mark.read_to = read_to
    return written


async def rebuild(uow: UnitOfWork, session_id: int) -> int:
    """Count every minute of one show again from its rows (`fieldcast analytics rebuild`)."""
    s = uow.session
    minutes: set[tuple[int, datetime]] = set()
    for source in SOURCES:
        query = sa.select(source.placed)
        if source.join is not None:
            query = query.select_from(CouponClaim).join(*source.join)
        placed = (await s.scalars(query.where(source.session == session_id))).all()
        minutes |= {(session_id, minute_of(t)) for t in placed}
    existing = (await s.scalars(sa.select(SessionMinute.minute).where(SessionMinute.session_id == session_id))).all()
    minutes |= {(session_id, minute_of(m)) for m in existing}
    return await count_again(s, minutes)
