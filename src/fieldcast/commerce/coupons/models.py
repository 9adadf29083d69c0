"""Tables of coupons: a batch (what it takes off, what it applies to, when it may be claimed, how
many) and a buyer's claim of one coupon of a batch (one per buyer, used by at most one order at a
time). Money is integer fen."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from fieldcast.db.base import Base, IdType, Timestamped
from fieldcast.db.types import str_enum

TITLE_MAX = 40
CLAIMS_REASON_MAX = 500
TOTAL_MAX = 1_000_000  # coupons in one batch
AMOUNT_MAX_FEN = 10_000_000  # 100,000 yuan


class CouponKind(StrEnum):
    """What a coupon takes off the subtotal it applies to (rounded down to the fen)."""

    FIXED = "fixed"  # amount_off_fen off (无门槛 with no minimum spend)
    PERCENT = "percent"  # percent_off % off, at most cap_fen
    THRESHOLD = "threshold"  # 满减: spend at least min_spend_fen, get amount_off_fen off


class CouponScope(StrEnum):
    """What a coupon applies to: what was bought in one live room, anything of one store (the
    organisation whose supplier ships the order), or one product."""

    SESSION = "session"
    STORE = "store"
    PRODUCT = "product"


class ClaimState(StrEnum):
    AVAILABLE = "available"  # claimed and not used (again available after its order closed unpaid)
    USED = "used"  # taken off an order that is pending payment or went through


class CouponBatch(Timestamped, Base):
    """`left` counts the coupons not yet claimed: 0 <= left <= total, enforced by a CHECK and by
    the guarded UPDATE that claims one."""

    __tablename__ = "coupon_batches"
    __table_args__ = (
        sa.CheckConstraint("coupons_left >= 0", name="left_not_negative"),
        sa.CheckConstraint("coupons_left <= total", name="left_within_total"),
        sa.CheckConstraint("total > 0", name="total_positive"),
        sa.CheckConstraint("amount_off_fen >= 0 AND cap_fen >= 0 AND min_spend_fen >= 0", name="money_not_negative"),
        sa.CheckConstraint("percent_off >= 0 AND percent_off < 100", name="percent_range"),
        sa.CheckConstraint("claim_starts_at < claim_ends_at", name="claim_window"),
        sa.CheckConstraint("claim_ends_at <= use_until", name="use_after_claim"),
    )

    # The issuer; for a store coupon also the store whose orders it applies to.
    organisation_id: Mapped[int] = mapped_column(
        IdType, sa.ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    created_by_id: Mapped[int | None] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(sa.String(TITLE_MAX))
    kind: Mapped[CouponKind] = mapped_column(str_enum(CouponKind))
    amount_off_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    percent_off: Mapped[int] = mapped_column(default=0)
    cap_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    min_spend_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    scope: Mapped[CouponScope] = mapped_column(str_enum(CouponScope))
    # The live room it is handed out in (and, for a session coupon, the room it applies to).
    session_id: Mapped[int | None] = mapped_column(
        IdType, sa.ForeignKey("live_sessions.id", ondelete="CASCADE"), index=True, default=None
    )
    product_id: Mapped[int | None] = mapped_column(
        IdType, sa.ForeignKey("products.id", ondelete="CASCADE"), default=None
    )
    total: Mapped[int]
    coupons_left: Mapped[int]
    claim_starts_at: Mapped[datetime]
    claim_ends_at: Mapped[datetime]
    use_until: Mapped[datetime]
    is_demo: Mapped[bool] = mapped_column(default=False)


class CouponClaim(Base):
    """One buyer's coupon of a batch: unique per (batch, buyer), so nobody claims two. The order
    that uses it records its id (orders.coupon_claim_id); `state` says whether it is taken."""

    __tablename__ = "coupon_claims"
    __table_args__ = (sa.UniqueConstraint("batch_id", "user_id", name="uq_coupon_claim"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    batch_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("coupon_batches.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    state: Mapped[ClaimState] = mapped_column(str_enum(ClaimState), default=ClaimState.AVAILABLE)
    claimed_at: Mapped[datetime] = mapped_column(index=True)  # the analytics roll-up reads from its mark
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    is_demo: Mapped[bool] = mapped_column(default=False)
