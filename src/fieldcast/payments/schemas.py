"""API shapes for checkout and payments."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, Field

from fieldcast.commerce.models import CART_LINES_MAX, QUANTITY_MAX
from fieldcast.inputs import Id
from fieldcast.web.api import In, Out

if TYPE_CHECKING:
    from fieldcast.commerce.models import Order
    from fieldcast.payments.models import Payment


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


class ClaimOut(BaseModel):
    """A flash-sale claim (202 from POST /checkout): the units are the buyer's and the order is
    being written. Poll GET /checkout/claims/{claim_id} until `state` is "ordered" (then `payment`
    is what POST /checkout answers: open it and pay) or "failed" (`problem` says why; the units
    went back on sale)."""

    claim_id: str
    state: str  # pending | ordered | failed
    payment: PaymentOut | None = None
    problem: dict[str, Any] | None = None


def payment_out_of(payment: Payment, orders: Sequence[Order]) -> PaymentOut:
    """The payment with its orders, as the caller has them (in id order)."""
    orders = sorted(orders, key=lambda o: o.id)
    return PaymentOut(
        id=payment.id,
        state=payment.state.value,
        amount_fen=payment.amount_fen,
        provider=payment.provider,
        expires_at=payment.expires_at,
        paid_at=payment.paid_at,
        pay_url=payment.pay_url,
        orders=[OrderBriefOut.model_validate(o) for o in orders],
    )


class NotificationAck(BaseModel):
    code: str
    outcome: str
