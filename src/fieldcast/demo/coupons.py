"""Demo coupons: the 丰城 live room hands out a 满减 coupon (spend ¥50, get ¥5 off what is bought
in the show), issued by the demo organiser through the real action, marked demo. Run on every
`fieldcast demo`: a room whose demo coupons can no longer be claimed gets a fresh batch."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from fieldcast.accounts.models import Organisation, User
from fieldcast.commerce.coupons.actions import create_batch
from fieldcast.commerce.coupons.models import CouponBatch, CouponKind, CouponScope
from fieldcast.commerce.coupons.schemas import CouponBatchIn
from fieldcast.db.base import utcnow
from fieldcast.db.uow import UnitOfWork
from fieldcast.live.models import LiveSession, SessionState

ROOM_TITLE = "丰城富硒大米 产地直播间"
CLAIM_HOURS = 12


async def seed_coupons(uow: UnitOfWork, organiser: User) -> CouponBatch | None:
    """A claimable demo batch in the live 丰城 room (None when that room is not live)."""
    now = utcnow()
    room = await uow.session.scalar(
        sa.select(LiveSession).where(
            LiveSession.title == ROOM_TITLE, LiveSession.is_demo.is_(True), LiveSession.state == SessionState.LIVE
        )
    )
    if room is None:
        return None
    open_batch = await uow.session.scalar(
        sa.select(CouponBatch).where(
            CouponBatch.session_id == room.id, CouponBatch.is_demo.is_(True), CouponBatch.claim_ends_at > now
        )
    )
    if open_batch is not None:
        return open_batch
    org = await uow.session.get(Organisation, room.organisation_id)
    if org is None:
        return None
    data = CouponBatchIn(
        title="直播间专享 满50减5",
        kind=CouponKind.THRESHOLD,
        amount_off_fen=500,
        min_spend_fen=5_000,
        scope=CouponScope.SESSION,
        session_id=room.id,
        total=200,
        claim_ends_at=now + timedelta(hours=CLAIM_HOURS),
    )
    return await create_batch(uow, organiser, org, data, is_demo=True)
