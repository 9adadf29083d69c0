"""Verified GMV of a show: the figures side by side, each a sum of the orders beneath.

- raw: every order placed in the show (any state, expired and cancelled included);
- paid: the orders that were paid (`paid_at` set);
- refunded: the money that went back on those orders;
- flagged (under alert): what is left of the paid money (paid − refunded) on orders an alert
  stands on. An alert stands while open or acknowledged; a false alarm releases it. An alert on
  an order flags that order; on a buyer (user), that buyer's orders in the show; on the show
  itself or its organisation, every paid order of the show (the rules that raise show-level
  alerts, a quota pattern or an official in a commercial show, taint the whole show's figure).
  Counting the refunded part only once keeps verified GMV from going below zero;
- verified = paid − refunded − flagged.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.commerce.models import Order
from fieldcast.integrity.models import STANDING_STATES, IntegrityAlert, SubjectKind


@dataclass(frozen=True)
class Gmv:
    raw_fen: int
    paid_fen: int
    refunded_fen: int
    flagged_fen: int
    orders: int
    paid_orders: int
    flagged_orders: int

    @property
    def verified_fen(self) -> int:
        return self.paid_fen - self.refunded_fen - self.flagged_fen


async def standing_alerts(s: AsyncSession, session_id: int) -> list[IntegrityAlert]:
    return list(
        (
            await s.scalars(
                sa.select(IntegrityAlert)
                .where(IntegrityAlert.session_id == session_id, IntegrityAlert.state.in_(STANDING_STATES))
                .order_by(IntegrityAlert.id)
            )
        ).all()
    )


async def session_gmv(s: AsyncSession, session_id: int) -> Gmv:
    orders = (
        await s.execute(
            sa.select(Order.id, Order.buyer_id, Order.total_fen, Order.paid_at, Order.refunded_fen).where(
                Order.session_id == session_id
            )
        )
    ).all()
    alerts = await standing_alerts(s, session_id)
    whole = any(a.subject_kind in (SubjectKind.SESSION, SubjectKind.ORGANISATION) for a in alerts)
    flagged_orders = {a.subject_id for a in alerts if a.subject_kind == SubjectKind.ORDER}
    flagged_buyers = {a.subject_id for a in alerts if a.subject_kind == SubjectKind.USER}
    paid = [o for o in orders if o.paid_at is not None]
    flagged = [o for o in paid if whole or o.id in flagged_orders or o.buyer_id in flagged_buyers]
    return Gmv(
        raw_fen=sum(o.total_fen for o in orders),
        paid_fen=sum(o.total_fen for o in paid),
        refunded_fen=sum(o.refunded_fen for o in paid),
        flagged_fen=sum(o.total_fen - o.refunded_fen for o in flagged),
        orders=len(orders),
        paid_orders=len(paid),
        flagged_orders=len(flagged),
    )
