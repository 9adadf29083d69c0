"""500 viewers claim a batch of 100 coupons at the same moment, on SQLite and on PostgreSQL (real
row locks there, many claims in flight at once): exactly 100 are claimed, the batch ends at 0 and
never below, every late viewer is told "all claimed", and the room hears each count. And one
viewer pressing Claim many times at once still gets one coupon."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.accounts.models import User
from fieldcast.commerce.coupons import actions as coupon_actions
from fieldcast.commerce.coupons import errors as ce
from fieldcast.commerce.coupons.models import CouponBatch, CouponClaim, CouponKind, CouponScope
from fieldcast.db.audit import AuditEntry
from fieldcast.db.base import utcnow
from fieldcast.db.outbox import OutboxMessage
from tests.commerce.shop import crowd, open_shop

VIEWERS = 500
COUPONS = 100
AT_ONCE = 64  # claims in flight at the same moment (the connection pool bounds the rest)

pytestmark = [pytest.mark.timeout(300)]


async def room_batch(app: FastAPI, total: int) -> tuple[int, int]:
    """A live room handing out `total` coupons; (room id, batch id)."""
    async with app.state.ctx.uow() as uow:
        shop = await open_shop(uow, buyers=1)
        now = utcnow()
        batch = CouponBatch(
            organisation_id=shop.org_id,
            title="满50减10",
            kind=CouponKind.THRESHOLD,
            amount_off_fen=1000,
            min_spend_fen=5000,
            scope=CouponScope.SESSION,
            session_id=shop.session_id,
            total=total,
            coupons_left=total,
            claim_starts_at=now - timedelta(minutes=1),
            claim_ends_at=now + timedelta(hours=1),
            use_until=now + timedelta(days=1),
        )
        uow.session.add(batch)
        await uow.session.flush()
        return shop.session_id, batch.id


async def claim_all(app: FastAPI, batch_id: int, user_ids: list[int]) -> dict[str, int]:
    slots = asyncio.Semaphore(AT_ONCE)
    outcome = {"claimed": 0, "all_claimed": 0, "already": 0}

    async def claim(user_id: int) -> None:
        async with slots, app.state.ctx.uow() as uow:
            actor = await uow.session.get(User, user_id)
            try:
                await coupon_actions.claim(uow, actor, batch_id)
            except ce.CouponsGone:
                await uow.rollback()
                outcome["all_claimed"] += 1
                return
            except ce.AlreadyClaimed:
                await uow.rollback()
                outcome["already"] += 1
                return
            outcome["claimed"] += 1

    await asyncio.gather(*(claim(u) for u in user_ids))
    return outcome


async def test_five_hundred_viewers_claim_exactly_the_hundred_coupons(app: FastAPI) -> None:
    room, batch_id = await room_batch(app, COUPONS)
    async with app.state.ctx.uow() as uow:
        people = (await crowd(uow, VIEWERS)).user_ids
    outcome = await claim_all(app, batch_id, people)
    assert outcome == {"claimed": COUPONS, "all_claimed": VIEWERS - COUPONS, "already": 0}
    async with app.state.ctx.uow(write=False) as uow:
        batch = await uow.session.get(CouponBatch, batch_id)
        assert batch is not None and batch.coupons_left == 0
        claims = list(await uow.session.scalars(sa.select(CouponClaim.user_id).where(CouponClaim.batch_id == batch_id)))
        assert len(claims) == len(set(claims)) == COUPONS
        audited = await uow.session.scalar(
            sa.select(sa.func.count(AuditEntry.id)).where(AuditEntry.action == "coupon.claim")
        )
        assert audited == COUPONS
        counts = [
            m.payload["left"]
            for m in await uow.session.scalars(
                sa.select(OutboxMessage).where(
                    OutboxMessage.event_type == "coupon.left", OutboxMessage.key == str(room)
                )
            )
        ]
        assert sorted(counts) == list(range(COUPONS))  # 99, 98, … 0: each count told once


async def test_one_viewer_pressing_claim_many_times_at_once_gets_one_coupon(app: FastAPI) -> None:
    _room, batch_id = await room_batch(app, COUPONS)
    async with app.state.ctx.uow() as uow:
        people = (await crowd(uow, 20)).user_ids
    outcome = await claim_all(app, batch_id, [u for u in people for _ in range(5)])
    assert outcome == {"claimed": 20, "all_claimed": 0, "already": 80}
    async with app.state.ctx.uow(write=False) as uow:
        batch = await uow.session.get(CouponBatch, batch_id)
        assert batch is not None and batch.coupons_left == COUPONS - 20
