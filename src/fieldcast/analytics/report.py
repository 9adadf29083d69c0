"""A show's series and totals, read from its minutes (never from the rows beneath them), with
the verified GMV of integrity beside the raw figure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.analytics.models import SessionMinute
from fieldcast.analytics.rollup import COUNTED, SAMPLED
from fieldcast.commerce.models import Order
from fieldcast.integrity.gmv import Gmv, session_gmv


@dataclass
class Totals:
    counted: dict[str, int] = field(default_factory=dict)
    peak_viewers: int = 0
    unique_viewers: int = 0
    views: int = 0
    likes: int = 0
    flowers: int = 0
    watch_s: float = 0.0
    buyers: int = 0

    @property
    def conversion(self) -> float:
        """Buyers ÷ unique viewers (0 when nobody was counted)."""
        return self.buyers / self.unique_viewers if self.unique_viewers else 0.0

    @property
    def avg_watch_s(self) -> float:
        return self.watch_s / self.unique_viewers if self.unique_viewers else 0.0


@dataclass
class SessionReport:
    session_id: int
    minutes: list[dict[str, Any]]
    totals: Totals
    gmv: Gmv


def _minute_out(m: SessionMinute) -> dict[str, Any]:
    out: dict[str, Any] = {"minute": m.minute}
    out.update({name: getattr(m, name) for name in (*SAMPLED, *COUNTED)})
    return out


async def session_report(s: AsyncSession, session_id: int, since: datetime | None = None) -> SessionReport:
    where = [SessionMinute.session_id == session_id]
    rows = list((await s.scalars(sa.select(SessionMinute).where(*where).order_by(SessionMinute.minute))).all())
    totals = Totals(counted={name: sum(getattr(m, name) for m in rows) for name in COUNTED})
    for m in rows:
        totals.peak_viewers = max(totals.peak_viewers, m.viewers)
        totals.unique_viewers = max(totals.unique_viewers, m.unique_viewers)
        totals.views = max(totals.views, m.views)
        totals.likes = max(totals.likes, m.likes)
        totals.flowers = max(totals.flowers, m.flowers)
        totals.watch_s = max(totals.watch_s, m.watch_s)
    # Distinct buyers do not add up across minutes: one indexed count over the show's paid orders.
    totals.buyers = int(
        await s.scalar(
            sa.select(sa.func.count(sa.distinct(Order.buyer_id))).where(
                Order.session_id == session_id, Order.paid_at.is_not(None)
            )
        )
        or 0
    )
    shown = [m for m in rows if since is None or m.minute >= since]
    return SessionReport(session_id, [_minute_out(m) for m in shown], totals, await session_gmv(s, session_id))
