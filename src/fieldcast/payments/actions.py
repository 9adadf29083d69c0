"""Writes of payments: pay for a checkout, open the payment at the provider, apply the provider's
notifications exactly once, close what expired, and refund what arrived too late.

The provider is never called while a row lock is held, nor inside the transaction that records
the outcome: checkout commits the orders and the payment first; `open_payment` reads, calls the
provider, then stores what it gave; closes and refunds go through the outbox (topic
"payments.provider"), whose relay calls the provider outside any transaction and retries until
it answers."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from fieldcast.accounts.models import User
from fieldcast.accounts.permissions import require_user
from fieldcast.commerce import orders as order_actions
from fieldcast.commerce.checkout import Placed, Wanted, prepare_orders, reserve_orders
from fieldcast.commerce.gate import StockGate
from fieldcast.commerce.models import Order, OrderState
from fieldcast.db.audit import record_audit
from fieldcast.db.base import utcnow
from fieldcast.db.locks import lock_row
from fieldcast.db.outbox import Deliver, Envelope
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import NotAllowed, NotFound
from fieldcast.i18n import N_
from fieldcast.payments.models import (
    NotificationOutcome,
    Payment,
    PaymentNotification,
    PaymentOrder,
    PaymentState,
    Refund,
    RefundState,
)
from fieldcast.payments.provider import Notification, PaymentProvider, PaymentRequest

TOPIC_PROVIDER = "payments.provider"  # calls to the provider that must happen, outside any lock
TOPIC_REFUND = "payments.refund"  # a refund's outcome (refund.finished), for after-sales
LATE_PAYMENT_REASON = "paid after the order closed"


def new_trade_no() -> str:
    return "FC" + secrets.token_hex(15)  # 32 characters, WeChat Pay's limit


def audit_payment(uow: UnitOfWork, actor_id: int | None, action: str, payment: Payment, **details: object) -> None:
    record_audit(
        uow, actor_id=actor_id, action=action, target_type="payment", target_id=payment.id, details=dict(details)
    )


@dataclass
class Checkout:
    placed: Placed
    payment: Payment


async def checkout(
    uow: UnitOfWork,
    gate: StockGate,
    provider: PaymentProvider,
    actor: User | None,
    wanted: Sequence[Wanted],
    address_id: int,
    *,
    pay_minutes: int,
    is_demo: bool = False,
    coupon_claim_id: int | None = None,
) -> Checkout:
    """Orders (one per supplier) and the one payment that pays them, in one transaction. The
    units are reserved last, so the stock rows stay locked only until the commit that follows. The
    payment's amount is the sum of the orders' totals, each after its coupon's discount: the
    provider's notification must carry exactly that amount."""
    placed = await prepare_orders(
        uow,
        gate,
        actor,
        wanted,
        address_id,
        pay_minutes=pay_minutes,
        is_demo=is_demo,
        coupon_claim_id=coupon_claim_id,
    )
    buyer = require_user(actor)
    payment = Payment(
        out_trade_no=new_trade_no(),
        buyer_id=buyer.id,
        provider=provider.name,
        amount_fen=placed.total_fen,
        description=f"Fieldcast {len(placed.orders)} order(s)",
        expires_at=placed.pay_by,
        is_demo=is_demo,
    )
    uow.session.add(payment)
    await uow.session.flush()
    for order in placed.orders:
        uow.session.add(PaymentOrder(payment_id=payment.id, order_id=order.id))
    audit_payment(uow, buyer.id, "payment.create", payment, amount_fen=payment.amount_fen, orders=len(placed.orders))
    await reserve_orders(uow, placed)
    return Checkout(placed, payment)


async def payment_of_buyer(uow: UnitOfWork, actor: User | None, payment_id: int) -> Payment:
    user = require_user(actor)
    payment = await uow.session.get(Payment, payment_id)
    if payment is None:
        raise NotFound(N_("No such payment."))
    if payment.buyer_id != user.id and not user.is_platform_admin:
        raise NotAllowed(N_("This is someone else's payment."))
    return payment


async def payment_of_order(uow: UnitOfWork, actor: User | None, order_id: int) -> Payment:
    """The payment that pays this order (the buyer's own)."""
    payment_id = await uow.session.scalar(sa.select(PaymentOrder.payment_id).where(PaymentOrder.order_id == order_id))
    if payment_id is None:
        raise NotFound(N_("No such payment."))
    return await payment_of_buyer(uow, actor, payment_id)


async def order_ids_of(uow: UnitOfWork, payment_id: int) -> list[int]:
    rows = await uow.session.scalars(
        sa.select(PaymentOrder.order_id).where(PaymentOrder.payment_id == payment_id).order_by(PaymentOrder.order_id)
    )
    return list(rows)


async def open_payment(
    new_uow: Callable[..., UnitOfWork], provider: PaymentProvider, actor: User | None, payment_id: int, notify_url: str
) -> Payment:
    """What the buyer pays with: asked of the provider once (idempotent by out_trade_no there),
    with no transaction open while it answers."""
    async with new_uow(write=False) as uow:
        payment = await payment_of_buyer(uow, actor, payment_id)
    if payment.pay_url or payment.state != PaymentState.PENDING:
        return payment
    opened = await provider.create(
        PaymentRequest(
            out_trade_no=payment.out_trade_no,
            amount_fen=payment.amount_fen,
            description=payment.description,
            expires_at=payment.expires_at,
            notify_url=notify_url,
        )
    )
    async with new_uow() as uow:
        stored = await uow.session.get(Payment, payment.id)
        if stored is None:
            raise NotFound(N_("No such payment."))
        if not stored.pay_url:
            stored.pay_url = opened.pay_url
        return stored


async def apply_notification(
    uow: UnitOfWork, gate: StockGate, provider_name: str, notification: Notification
) -> NotificationOutcome:
    """Apply a verified notification once. A repeat of one already recorded changes nothing and
    answers its first outcome; the amount must be the payment's; money for orders that closed
    first (expired, cancelled) is refunded, never lost."""
    payment = await uow.session.scalar(sa.select(Payment).where(Payment.out_trade_no == notification.out_trade_no))
    if payment is None:  # not ours: recorded (once) and acknowledged, so the provider stops
        return await _record_unknown(uow, provider_name, notification)
    # The payment's lock orders concurrent deliveries: the second finds the first's record.
    locked = await lock_row(uow.session, Payment, payment.id)
    if locked is None:  # payments are never deleted; only a broken database gets here
        raise NotFound(N_("No such payment."), field="out_trade_no")
    payment = locked
    existing = await uow.session.scalar(
        sa.select(PaymentNotification).where(
            PaymentNotification.provider == provider_name,
            PaymentNotification.notification_id == notification.notification_id,
        )
    )
    if existing is not None:
        return existing.outcome
    record = PaymentNotification(
        provider=provider_name,
        notification_id=notification.notification_id,
        payment_id=payment.id,
        event_type=notification.event_type,
        amount_fen=notification.amount_fen,
        outcome=NotificationOutcome.IGNORED,
        body=dict(notification.body),
    )
    uow.session.add(record)
    if notification.event_type != "TRANSACTION.SUCCESS":
        record.detail = "not a payment"
    elif notification.amount_fen != payment.amount_fen:
        record.outcome = NotificationOutcome.REFUSED
        record.detail = f"amount {notification.amount_fen} != {payment.amount_fen}"
        audit_payment(uow, None, "payment.amount_mismatch", payment, notified_fen=notification.amount_fen)
    elif payment.state in (PaymentState.PAID, PaymentState.REFUNDED):
        record.detail = f"already {payment.state.value}"
    else:
        record.outcome = await _paid(uow, gate, payment, notification.transaction_id, notification.paid_at or utcnow())
    await uow.session.flush()  # the unique key is the backstop of the lock above
    return record.outcome


async def _record_unknown(uow: UnitOfWork, provider_name: str, notification: Notification) -> NotificationOutcome:
    existing = await uow.session.scalar(
        sa.select(PaymentNotification.outcome).where(
            PaymentNotification.provider == provider_name,
            PaymentNotification.notification_id == notification.notification_id,
        )
    )
    if existing is not None:
        return existing
    uow.session.add(
        PaymentNotification(
            provider=provider_name,
            notification_id=notification.notification_id,
            event_type=notification.event_type,
            amount_fen=notification.amount_fen,
            outcome=NotificationOutcome.REFUSED,
            detail=f"unknown out_trade_no {notification.out_trade_no}"[:200],
            body=dict(notification.body),
        )
    )
    record_audit(
        uow,
        actor_id=None,
        action="payment.unknown_notification",
        target_type="payment",
        target_id=notification.out_trade_no[:64],
        details={"provider": provider_name, "amount_fen": notification.amount_fen},
    )
    await uow.session.flush()
    return NotificationOutcome.REFUSED


async def _paid(
    uow: UnitOfWork, gate: StockGate, payment: Payment, transaction_id: str, paid_at: datetime
) -> NotificationOutcome:
    """The money arrived. Pending orders become paid; orders that closed meanwhile get it back."""
    was_closed = payment.state == PaymentState.CLOSED
    payment.state = PaymentState.PAID
    payment.paid_at = paid_at
    payment.provider_txn_id = transaction_id
    audit_payment(uow, None, "payment.paid", payment, late=was_closed)
    too_late = await order_actions.pay_orders(uow, await order_ids_of(uow, payment.id), paid_at)
    refund_fen = sum(o.total_fen for o in too_late)
    if refund_fen <= 0:
        return NotificationOutcome.APPLIED
    request_refund(uow, payment, refund_fen, LATE_PAYMENT_REASON)
    if refund_fen == payment.amount_fen:
        payment.state = PaymentState.REFUNDED
    return NotificationOutcome.REFUNDING


def request_refund(
    uow: UnitOfWork, payment: Payment, amount_fen: int, reason: str, *, actor_id: int | None = None
) -> Refund:
    """Record a refund; the relay asks the provider for it after the commit, once per
    out_refund_no (the provider keeps each by that number, so a repeated call refunds nothing
    more), and its outcome is published on TOPIC_REFUND for whoever asked (after-sales)."""
    refund = Refund(out_refund_no=new_trade_no(), payment_id=payment.id, amount_fen=amount_fen, reason=reason)
    uow.session.add(refund)
    audit_payment(uow, actor_id, "payment.refund_requested", payment, amount_fen=amount_fen, reason=reason)
    uow.publish(
        TOPIC_PROVIDER,
        payment.out_trade_no,
        "refund",
        {
            "out_trade_no": payment.out_trade_no,
            "out_refund_no": refund.out_refund_no,
            "amount_fen": amount_fen,
            "reason": reason,
        },
    )
    return refund


async def close_expired(uow: UnitOfWork, gate: StockGate, now: datetime, limit: int = 100) -> int:
    """Pending payments past their expiry: their orders close, and the provider is told to close
    the payment too (after commit, through the outbox). Returns how many closed."""
    due = list(
        await uow.session.scalars(
            sa.select(Payment.id)
            .where(Payment.state == PaymentState.PENDING, Payment.expires_at <= now)
            .order_by(Payment.id)
            .limit(limit)
        )
    )
    closed = 0
    for payment_id in due:
        payment = await lock_row(uow.session, Payment, payment_id)
        if payment is None or payment.state != PaymentState.PENDING:
            continue
        for order_id in await order_ids_of(uow, payment.id):
            await order_actions.expire_order(uow, gate, order_id, now)
        payment.state = PaymentState.CLOSED
        payment.closed_at = now
        audit_payment(uow, None, "payment.close", payment)
        uow.publish(TOPIC_PROVIDER, payment.out_trade_no, "close", {"out_trade_no": payment.out_trade_no})
        closed += 1
    return closed


async def cancel_payment(uow: UnitOfWork, gate: StockGate, actor: User | None, payment_id: int) -> Payment:
    """The buyer gives up an unpaid checkout: its orders are cancelled, the payment closed."""
    found = await payment_of_buyer(uow, actor, payment_id)
    payment = await lock_row(uow.session, Payment, found.id)
    if payment is None:
        raise NotFound(N_("No such payment."))
    if payment.state != PaymentState.PENDING:
        return payment
    buyer = require_user(actor)
    for order in await order_actions.lock_orders(uow, await order_ids_of(uow, payment.id)):
        if order.state == OrderState.PENDING_PAYMENT:
            await order_actions.cancel_order(uow, gate, buyer, order, "buyer")
    payment.state = PaymentState.CLOSED
    payment.closed_at = utcnow()
    audit_payment(uow, buyer.id, "payment.cancel", payment)
    uow.publish(TOPIC_PROVIDER, payment.out_trade_no, "close", {"out_trade_no": payment.out_trade_no})
    return payment


def provider_calls(provider: PaymentProvider, new_uow: Callable[..., UnitOfWork]) -> Deliver:
    """The outbox consumer of TOPIC_PROVIDER: close and refund at the provider, then record the
    refund's outcome. A provider error leaves the message pending; the relay retries."""

    async def call(message: Envelope) -> None:
        data = message.payload
        if message.event_type == "close":
            await provider.close(str(data["out_trade_no"]))
            return
        if message.event_type != "refund":
            return
        result = await provider.refund(
            str(data["out_trade_no"]), str(data["out_refund_no"]), int(str(data["amount_fen"])), str(data["reason"])
        )
        async with new_uow() as uow:
            refund = await uow.session.scalar(sa.select(Refund).where(Refund.out_refund_no == data["out_refund_no"]))
            if refund is not None and refund.state == RefundState.PENDING:
                refund.state = RefundState.SUCCEEDED if result.succeeded else RefundState.FAILED
                refund.provider_refund_id = result.refund_id
                refund.finished_at = utcnow()
                # Told once, when the outcome is first recorded; a consumer applies it once anyway.
                uow.publish(
                    TOPIC_REFUND,
                    refund.out_refund_no,
                    "refund.finished",
                    {
                        "refund_id": refund.id,
                        "out_refund_no": refund.out_refund_no,
                        "amount_fen": refund.amount_fen,
                        "succeeded": result.succeeded,
                        "provider_refund_id": result.refund_id,
                    },
                )

    return call


async def payment_paying(uow: UnitOfWork, order_id: int) -> Payment | None:
    """The payment that paid this order, if it was paid (for refunds of it)."""
    payment: Payment | None = await uow.session.scalar(
        sa.select(Payment)
        .join(PaymentOrder, PaymentOrder.payment_id == Payment.id)
        .where(PaymentOrder.order_id == order_id, Payment.state.in_([PaymentState.PAID, PaymentState.REFUNDED]))
    )
    return payment


async def orders_of_payment(uow: UnitOfWork, payment_id: int) -> list[Order]:
    rows = await uow.session.scalars(
        sa.select(Order)
        .join(PaymentOrder, PaymentOrder.order_id == Order.id)
        .where(PaymentOrder.payment_id == payment_id)
        .order_by(Order.id)
    )
    return list(rows)
