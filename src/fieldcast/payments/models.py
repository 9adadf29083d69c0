"""Tables of payments: our side of each payment and the orders it pays, the notifications the
provider sent (each applied once), refunds, and the in-process provider's own ledger."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from fieldcast.db.base import Base, IdType, Timestamped, utcnow
from fieldcast.db.types import str_enum

TRADE_NO_MAX = 32  # WeChat Pay's out_trade_no is 6-32 characters
PROVIDER_MAX = 16
REF_MAX = 64
URL_MAX = 500
REASON_MAX = 200


class PaymentState(StrEnum):
    PENDING = "pending"  # created; waiting for the buyer
    PAID = "paid"
    CLOSED = "closed"  # expired or cancelled unpaid; the provider was told to close it
    REFUNDED = "refunded"  # paid, then refunded in full (a late payment for expired orders)


class RefundState(StrEnum):
    PENDING = "pending"  # recorded; the provider is asked by the relay (never under a row lock)
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class NotificationOutcome(StrEnum):
    APPLIED = "applied"  # the payment became paid
    REFUNDING = "refunding"  # paid after its orders closed: refunded automatically
    IGNORED = "ignored"  # nothing to change (already in that state)
    REFUSED = "refused"  # the amount did not match: recorded, never applied


class Payment(Timestamped, Base):
    __tablename__ = "payments"
    __table_args__ = (sa.CheckConstraint("amount_fen > 0", name="amount_positive"),)

    out_trade_no: Mapped[str] = mapped_column(sa.String(TRADE_NO_MAX), unique=True)
    buyer_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    provider: Mapped[str] = mapped_column(sa.String(PROVIDER_MAX))
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    state: Mapped[PaymentState] = mapped_column(str_enum(PaymentState), default=PaymentState.PENDING)
    description: Mapped[str] = mapped_column(sa.String(REASON_MAX), default="")
    expires_at: Mapped[datetime]
    # What the provider gave when the payment was opened (the page or code the buyer pays with).
    pay_url: Mapped[str] = mapped_column(sa.String(URL_MAX), default="")
    provider_txn_id: Mapped[str] = mapped_column(sa.String(REF_MAX), default="")
    paid_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    is_demo: Mapped[bool] = mapped_column(default=False)


class PaymentOrder(Base):
    """Which orders a payment pays (the orders of one checkout, one per supplier)."""

    __tablename__ = "payment_orders"
    __table_args__ = (sa.UniqueConstraint("order_id", name="uq_payment_order"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    payment_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("payments.id", ondelete="CASCADE"), index=True)
    order_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("orders.id", ondelete="CASCADE"))


class PaymentNotification(Base):
    """Every verified notification, once: a redelivered one finds its row and changes nothing."""

    __tablename__ = "payment_notifications"
    __table_args__ = (sa.UniqueConstraint("provider", "notification_id", name="uq_payment_notification"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(sa.String(PROVIDER_MAX))
    notification_id: Mapped[str] = mapped_column(sa.String(REF_MAX))
    payment_id: Mapped[int | None] = mapped_column(
        IdType, sa.ForeignKey("payments.id", ondelete="SET NULL"), index=True, default=None
    )
    event_type: Mapped[str] = mapped_column(sa.String(40))
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    outcome: Mapped[NotificationOutcome] = mapped_column(str_enum(NotificationOutcome))
    detail: Mapped[str] = mapped_column(sa.String(REASON_MAX), default="")
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    body: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)


class Refund(Timestamped, Base):
    __tablename__ = "refunds"
    __table_args__ = (sa.CheckConstraint("amount_fen > 0", name="amount_positive"),)

    out_refund_no: Mapped[str] = mapped_column(sa.String(TRADE_NO_MAX), unique=True)
    payment_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("payments.id", ondelete="RESTRICT"), index=True)
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    reason: Mapped[str] = mapped_column(sa.String(REASON_MAX))
    state: Mapped[RefundState] = mapped_column(str_enum(RefundState), default=RefundState.PENDING)
    provider_refund_id: Mapped[str] = mapped_column(sa.String(REF_MAX), default="")
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class SandboxState(StrEnum):
    NOTPAY = "NOTPAY"  # WeChat Pay's trade states
    SUCCESS = "SUCCESS"
    CLOSED = "CLOSED"
    REFUND = "REFUND"


class SandboxTransaction(Timestamped, Base):
    """The in-process provider's own record of a payment, as WeChat Pay keeps one on its side:
    it is not our payment row, and our code learns of it only through the provider's API and
    its signed notifications."""

    __tablename__ = "sandbox_transactions"

    out_trade_no: Mapped[str] = mapped_column(sa.String(TRADE_NO_MAX), unique=True)
    transaction_id: Mapped[str] = mapped_column(sa.String(REF_MAX), unique=True)
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    description: Mapped[str] = mapped_column(sa.String(REASON_MAX), default="")
    notify_url: Mapped[str] = mapped_column(sa.String(URL_MAX))
    expires_at: Mapped[datetime]
    trade_state: Mapped[SandboxState] = mapped_column(str_enum(SandboxState), default=SandboxState.NOTPAY)
    paid_at: Mapped[datetime | None] = mapped_column(default=None)
    refunded_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class SandboxRefund(Timestamped, Base):
    """A refund the in-process provider made, kept by its out_refund_no as WeChat Pay keeps one:
    a repeated request finds it and refunds nothing more."""

    __tablename__ = "sandbox_refunds"
    __table_args__ = (sa.CheckConstraint("amount_fen > 0", name="amount_positive"),)

    out_refund_no: Mapped[str] = mapped_column(sa.String(TRADE_NO_MAX), unique=True)
    sandbox_transaction_id: Mapped[int] = mapped_column(
        IdType, sa.ForeignKey("sandbox_transactions.id", ondelete="CASCADE"), index=True
    )
    refund_id: Mapped[str] = mapped_column(sa.String(REF_MAX), unique=True)
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)
