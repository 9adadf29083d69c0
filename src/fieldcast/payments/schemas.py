"""API shapes for checkout and payments."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from fieldcast.commerce.models import CART_LINES_MAX, QUANTITY_MAX
from fieldcast.inputs import Id
from fieldcast.web.api import In, Out


class CheckoutLineIn(In):
    sku_id: Id
    quantity: Annotated[int, Field(ge=1, le=QUANTITY_MAX)] = 1
    # The live room the line is bought in, at its live price (its flash sale, its show stock).
    session_id: Id | None = None


class CheckoutIn(In):
    items: Annotated[list[CheckoutLineIn], Field(min_length=1, max_length=CART_LINES_MAX)]
    address_id: Id
    # One of the buyer's claimed coupons (GET /me/coupons, POST /me/coupons/quote): taken off the
    # order it saves the most on.
    coupon_claim_id: Id | None = None


class OrderBriefOut(Out):
    id: int
    supplier_id: int
    session_id: int | None
    state: str
    total_fen: int  # after discount_fen; the payment's amount is the sum of its orders' total_fen
    discount_fen: int
    units: int


class PaymentOut(BaseModel):
    id: int
    state: str
    amount_fen: int
    provider: str
    expires_at: datetime
    paid_at: datetime | None
    # What the buyer pays with, once opened (POST /payments/{id}/open): show it as a QR code or
    # open it; in the room it opens in a sheet over the video.
    pay_url: str
    orders: list[OrderBriefOut]


class NotificationAck(BaseModel):
    code: str
    outcome: str
