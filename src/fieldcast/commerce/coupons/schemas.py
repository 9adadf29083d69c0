"""API shapes for coupons: a batch as issued, a claim as its buyer sees it, and the coupons that
apply to a checkout. Money is integer fen; times are UTC (ISO 8601 with an offset)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, Field

from fieldcast.commerce.coupons import models as m
from fieldcast.commerce.models import CART_LINES_MAX, QUANTITY_MAX
from fieldcast.inputs import Id
from fieldcast.web.api import In, Out, text

Fen = Annotated[int, Field(ge=0, le=m.AMOUNT_MAX_FEN)]


class CouponBatchIn(In):
    title: text(1, m.TITLE_MAX, one_line=True)  # type: ignore[valid-type]
    # The title goes through the claim checker; wording it flags needs a written reason (audited).
    claims_override_reason: text(0, m.CLAIMS_REASON_MAX) = ""  # type: ignore[valid-type]
    kind: m.CouponKind = Field(
        description="fixed: amount off; percent: percent_off % off up to cap_fen; "
        "threshold (满减): spend at least min_spend_fen, get amount_off_fen off."
    )
    amount_off_fen: Fen = 0
    percent_off: Annotated[int, Field(ge=0, le=99)] = 0
    cap_fen: Fen = Field(0, description="The most a percentage coupon takes off (required for percent).")
    min_spend_fen: Fen = Field(0, description="Minimum spend on what the coupon applies to (the 满减 threshold).")
    scope: m.CouponScope = Field(
        description="session: what is bought in that live room; store: the issuing "
        "organisation's orders; product: one product."
    )
    session_id: Id | None = Field(None, description="The live room it is handed out in (required for session).")
    product_id: Id | None = Field(None, description="The product (required for product).")
    total: Annotated[int, Field(ge=1, le=m.TOTAL_MAX)]
    claim_starts_at: AwareDatetime | None = Field(None, description="Default: now.")
    claim_ends_at: AwareDatetime
    use_until: AwareDatetime | None = Field(None, description="Default: a week after claiming ends.")


class CouponBatchOut(Out):
    id: int
    organisation_id: int
    title: str
    kind: m.CouponKind
    amount_off_fen: int
    percent_off: int
    cap_fen: int
    min_spend_fen: int
    scope: m.CouponScope
    session_id: int | None
    product_id: int | None
    total: int
    left: int = Field(validation_alias="coupons_left")
    claim_starts_at: datetime
    claim_ends_at: datetime
    use_until: datetime


class ClaimOut(BaseModel):
    id: int
    state: m.ClaimState
    claimed_at: datetime
    used_at: datetime | None
    batch: CouponBatchOut


class QuoteLineIn(In):
    sku_id: Id
    quantity: Annotated[int, Field(ge=1, le=QUANTITY_MAX)] = 1
    session_id: Id | None = None


class QuoteIn(In):
    items: Annotated[list[QuoteLineIn], Field(min_length=1, max_length=CART_LINES_MAX)]


class CouponOptionOut(BaseModel):
    claim_id: int
    batch: CouponBatchOut
    applies: bool
    discount_fen: int


class QuoteOut(BaseModel):
    """The buyer's coupons against these lines, the best saving first; `best_claim_id` is the one
    to preselect (None when none applies)."""

    subtotal_fen: int
    options: list[CouponOptionOut]
    best_claim_id: int | None
    best_discount_fen: int


class RoomCouponOut(BaseModel):
    """A coupon card of a live room; `claim_state` is the viewer's (None: not claimed, or anonymous)."""

    batch: CouponBatchOut
    claim_state: m.ClaimState | None
