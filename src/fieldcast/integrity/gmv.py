"""Verified GMV of a show (and of an organisation): the figures side by side, each a sum of the orders beneath.

- raw: every order placed in the show (any state, expired and cancelled included);
- paid: the orders that were paid (`paid_at` set);
- refunded: the money that went back on those orders;
- flagged (under alert): what is left of the paid money (paid − refunded) on orders an alert
  stands on. An alert stands while open or acknowledged; a false alarm releases it. An alert on
  an order flags that order; on a buyer (user), that buyer's orders in the show; on the show
  itself or its organisation, every paid order of the show (the rules that raise show-level
  alerts, a quota pattern or an official in a commercial show, taint the whole show's figure);
  for an organisation's figures, an alert on one show flags that show's orders only. An alert on
  a credit, a draw, a chat message or a review flags no order (they are not sales).
  Counting the refunded part only once keeps verified GMV from going below zero;
- verified = paid − refunded − flagged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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


def _flags(order: Any, alert: IntegrityAlert) -> bool:
    """Whether a standing alert stands on this order (see the module's note)."""
    match alert.subject_kind:
        case SubjectKind.ORDER:
            return bool(order.id == alert.subject_id)
        case SubjectKind.USER:
            return bool(order.buyer_id == alert.subject_id and order.session_id == alert.session_id)
        case SubjectKind.SESSION:
            return bool(order.session_id == alert.subject_id)
        case SubjectKind.ORGANISATION:
            return bool(order.organisation_id == alert.subject_id)
        case SubjectKind.CREDIT | SubjectKind.DRAW | SubjectKind.CHAT_MESSAGE | SubjectKind.REVIEW:
            return False  # a credit, a draw, a removed comment: not a sale; no order's money is in doubt


async def standing_alerts(s: AsyncSession, session_id: int) -> list[IntegrityAlert]:
    return await _standing(s, IntegrityAlert.session_id == session_id)


async def _standing(s: AsyncSession, where: sa.ColumnElement[bool]) -> list[IntegrityAlert]:
    return list(
        (
            await s.scalars(
                sa.select(IntegrityAlert)
                .where(where, IntegrityAlert.state.in_(STANDING_STATES))
                .order_by(IntegrityAlert.id)
            )
        ).all()
    )


def _flagged_where(alerts: list[IntegrityAlert]) -> sa.ColumnElement[bool]:
    """The orders the standing alerts flag, as SQL: the same as `_flags` over each order."""
    order_ids: set[int] = set()
    session_ids: set[int] = set()
    organisation_ids: set[int] = set()
    buyers: dict[int | None, set[int]] = {}  # by the show the alert is about
    for alert in alerts:
        match alert.subject_kind:
            case SubjectKind.ORDER:
                order_ids.add(alert.subject_id)
            case SubjectKind.USER:
                buyers.setdefault(alert.session_id, set()).add(alert.subject_id)
            case SubjectKind.SESSION:
                session_ids.add(alert.subject_id)
            case SubjectKind.ORGANISATION:
                organisation_ids.add(alert.subject_id)
    terms: list[sa.ColumnElement[bool]] = []
    if order_ids:
        terms.append(Order.id.in_(sorted(order_ids)))
    if session_ids:
        terms.append(Order.session_id.in_(sorted(session_ids)))
    if organisation_ids:
        terms.append(Order.organisation_id.in_(sorted(organisation_ids)))
    for session_id, buyer_ids in sorted(buyers.items(), key=lambda kv: kv[0] or 0):
        show = Order.session_id.is_(None) if session_id is None else Order.session_id == session_id
        terms.append(sa.and_(show, Order.buyer_id.in_(sorted(buyer_ids))))
    return sa.or_(*terms) if terms else sa.false()


async def _gmv(s: AsyncSession, orders_where: sa.ColumnElement[bool], alerts: list[IntegrityAlert]) -> Gmv:
    """The figures summed in the database (one row, however many orders: a show may have 100,000)."""
    paid = Order.paid_at.is_not(None)
    flagged = sa.and_(paid, _flagged_where(alerts))

    def total(value: Any, when: sa.ColumnElement[bool] | None = None) -> sa.ColumnElement[int]:
        summed = value if when is None else sa.case((when, value), else_=0)
        return sa.func.coalesce(sa.func.sum(summed), 0)

    row = (
        await s.execute(
            sa.select(
                total(Order.total_fen),
                total(Order.total_fen, paid),
                total(Order.refunded_fen, paid),
                total(Order.total_fen - Order.refunded_fen, flagged),
                sa.func.count(Order.id),
                total(1, paid),
                total(1, flagged),
            ).where(orders_where)
        )
    ).one()
    raw, paid_fen, refunded, flagged_fen, orders, paid_orders, flagged_orders = (int(v) for v in row)
    return Gmv(raw, paid_fen, refunded, flagged_fen, orders, paid_orders, flagged_orders)


async def _orders(s: AsyncSession, where: sa.ColumnElement[bool]) -> Sequence[Any]:
    return (
        await s.execute(
            sa.select(
                Order.id,
                Order.buyer_id,
                Order.session_id,
                Order.organisation_id,
                Order.total_fen,
                Order.paid_at,
                Order.refunded_fen,
                Order.host_id,
            ).where(where)
        )
    ).all()


def _figures(orders: Sequence[Any], alerts: list[IntegrityAlert]) -> Gmv:
    paid = [o for o in orders if o.paid_at is not None]
    flagged = [o for o in paid if any(_flags(o, a) for a in alerts)]
    return Gmv(
        raw_fen=sum(o.total_fen for o in orders),
        paid_fen=sum(o.total_fen for o in paid),
        refunded_fen=sum(o.refunded_fen for o in paid),
        flagged_fen=sum(o.total_fen - o.refunded_fen for o in flagged),
        orders=len(orders),
        paid_orders=len(paid),
        flagged_orders=len(flagged),
    )


async def session_gmv(s: AsyncSession, session_id: int) -> Gmv:
    """The orders placed in the show, and the alerts raised about the show."""
    return await _gmv(s, Order.session_id == session_id, await standing_alerts(s, session_id))


async def organisation_gmv(s: AsyncSession, organisation_id: int) -> Gmv:
    """Every order of the organisation (its shows' and its storefront's), and every alert about it."""
    alerts = await _standing(s, IntegrityAlert.organisation_id == organisation_id)
    return await _gmv(s, Order.organisation_id == organisation_id, alerts)


async def sessions_gmv(s: AsyncSession, session_ids: list[int]) -> Gmv:
    """The orders placed in these shows (an event's rooms), and the alerts raised about them."""
    alerts = await _standing(s, IntegrityAlert.session_id.in_(session_ids))
    return await _gmv(s, Order.session_id.in_(session_ids), alerts)


async def gmv_by_session(s: AsyncSession, session_ids: list[int]) -> dict[int, Gmv]:
    """Each show's own figures (as session_gmv gives them), for a list of shows in two queries."""
    if not session_ids:
        return {}
    alerts = await _standing(s, IntegrityAlert.session_id.in_(session_ids))
    orders = await _orders(s, Order.session_id.in_(session_ids))
    by_show: dict[int, list[Any]] = {sid: [] for sid in session_ids}
    for o in orders:
        by_show[o.session_id].append(o)
    return {sid: _figures(rows, [a for a in alerts if a.session_id == sid]) for sid, rows in by_show.items()}


async def gmv_by_host(s: AsyncSession, session_id: int) -> dict[int | None, Gmv]:
    """One show's figures split by the host who was explaining what was bought (None: nobody),
    with the show's standing alerts (an alert on the show flags every host's part of it)."""
    by_host: dict[int | None, list[Any]] = {}
    for o in await _orders(s, Order.session_id == session_id):
        by_host.setdefault(o.host_id, []).append(o)
    alerts = await standing_alerts(s, session_id)
    return {host: _figures(rows, alerts) for host, rows in by_host.items()}
