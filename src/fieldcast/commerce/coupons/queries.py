"""The reads coupons need: a room's coupons (with whether the viewer has one), an organisation's
batches, a buyer's coupons, and which of them apply to a checkout (the best first)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.accounts.models import Organisation, User
from fieldcast.accounts.permissions import require_org_role, require_user
from fieldcast.commerce.coupons import schemas as s
from fieldcast.commerce.coupons.actions import STORE_ISSUERS, options_for
from fieldcast.commerce.coupons.discount import BasketOrder
from fieldcast.commerce.coupons.models import ClaimState, CouponBatch, CouponClaim
from fieldcast.db.base import utcnow


def batch_out(batch: CouponBatch) -> s.CouponBatchOut:
    return s.CouponBatchOut.model_validate(batch)


async def room_coupons(
    session: AsyncSession, session_id: int, user_id: int | None, now: datetime | None = None
) -> list[s.RoomCouponOut]:
    """Batches handed out in this room whose claim window has not ended, soonest-ending first;
    with the viewer's claim, in one query."""
    moment = now or utcnow()
    mine = (
        sa.select(CouponClaim.batch_id, CouponClaim.state).where(CouponClaim.user_id == user_id).subquery()
        if user_id is not None
        else None
    )
    stmt = (
        sa.select(CouponBatch, mine.c.state if mine is not None else sa.null())
        .where(CouponBatch.session_id == session_id, CouponBatch.claim_ends_at > moment)
        .order_by(CouponBatch.claim_ends_at, CouponBatch.id)
    )
    if mine is not None:
        stmt = stmt.outerjoin(mine, mine.c.batch_id == CouponBatch.id)
    rows = (await session.execute(stmt)).all()
    return [s.RoomCouponOut(batch=batch_out(b), claim_state=ClaimState(state) if state else None) for b, state in rows]


async def organisation_batches(
    session: AsyncSession, actor: User | None, org: Organisation, *, limit: int = 50, offset: int = 0
) -> tuple[list[s.CouponBatchOut], int]:
    """An organisation's batches, newest first, for those who may issue them."""
    await require_org_role(session, actor, org.id, *STORE_ISSUERS)
    cond = CouponBatch.organisation_id == org.id
    total = await session.scalar(sa.select(sa.func.count(CouponBatch.id)).where(cond)) or 0
    rows = await session.scalars(
        sa.select(CouponBatch).where(cond).order_by(CouponBatch.id.desc()).limit(limit).offset(offset)
    )
    return [batch_out(b) for b in rows], int(total)


async def claims_of(session: AsyncSession, actor: User | None) -> list[s.ClaimOut]:
    """The buyer's coupons, newest first."""
    user = require_user(actor)
    rows = await session.execute(
        sa.select(CouponClaim, CouponBatch)
        .join(CouponBatch, CouponBatch.id == CouponClaim.batch_id)
        .where(CouponClaim.user_id == user.id)
        .order_by(CouponClaim.id.desc())
    )
    return [
        s.ClaimOut(id=c.id, state=c.state, claimed_at=c.claimed_at, used_at=c.used_at, batch=batch_out(b))
        for c, b in rows
    ]


async def usable_claims(session: AsyncSession, user_id: int, now: datetime) -> list[tuple[CouponClaim, CouponBatch]]:
    rows = await session.execute(
        sa.select(CouponClaim, CouponBatch)
        .join(CouponBatch, CouponBatch.id == CouponClaim.batch_id)
        .where(
            CouponClaim.user_id == user_id,
            CouponClaim.state == ClaimState.AVAILABLE,
            CouponBatch.use_until > now,
        )
        .order_by(CouponClaim.id)
    )
    return [(c, b) for c, b in rows]


async def quote_orders(session: AsyncSession, user_id: int, orders: Sequence[BasketOrder]) -> s.QuoteOut:
    """The buyer's usable coupons against these orders, best first."""
    options = options_for(await usable_claims(session, user_id, utcnow()), orders)
    best = next((o for o in options if o.order_key is not None), None)
    return s.QuoteOut(
        subtotal_fen=sum(x.total_fen for o in orders for x in o.lines),
        options=[
            s.CouponOptionOut(
                claim_id=o.claim.id,
                batch=batch_out(o.batch),
                applies=o.order_key is not None,
                discount_fen=o.discount_fen,
            )
            for o in options
        ],
        best_claim_id=best.claim.id if best else None,
        best_discount_fen=best.discount_fen if best else 0,
    )
