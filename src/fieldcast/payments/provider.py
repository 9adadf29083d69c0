"""The payment provider behind one Protocol, like the bus: the in-process sandbox (sandbox.py),
WeChat Pay (wechatpay.py) and Alipay (alipay.py). providers.py picks one at start-up from
settings; no code path anywhere else asks which one runs.

The flow is WeChat Pay's Native one: the app creates a payment for an amount, an expiry and a
notify URL, and gets something the buyer pays with (a page or code URL, shown as a QR code); the
provider later POSTs a signed notification, which the app verifies and applies once. The app may
query a payment, close an unpaid one at expiry, and refund a paid one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class ProviderError(Exception):
    """The provider refused or could not be reached; the caller retries later."""


class ProviderConfigError(Exception):
    """The configured provider cannot run as set up (a missing setting, an unreadable key): raised
    while the app starts, never at the first payment."""


class BadNotification(Exception):
    """A notification that is not the provider's, or not now: bad signature, stale timestamp,
    malformed body. It is refused and changes nothing."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TradeState(StrEnum):
    NOTPAY = "NOTPAY"
    SUCCESS = "SUCCESS"
    CLOSED = "CLOSED"
    REFUND = "REFUND"


@dataclass(frozen=True)
class PaymentRequest:
    out_trade_no: str
    amount_fen: int
    description: str
    expires_at: datetime
    notify_url: str


@dataclass(frozen=True)
class OpenedPayment:
    """What the buyer pays with: a URL to show as a QR code or open (Native: code_url)."""

    pay_url: str


@dataclass(frozen=True)
class TradeStatus:
    out_trade_no: str
    state: TradeState
    amount_fen: int
    transaction_id: str
    paid_at: datetime | None


@dataclass(frozen=True)
class Notification:
    """A verified notification: its own id (a redelivery repeats it), what happened, and to which
    payment, for how much."""

    notification_id: str
    event_type: str  # "TRANSACTION.SUCCESS"
    out_trade_no: str
    transaction_id: str
    amount_fen: int
    paid_at: datetime | None
    body: Mapping[str, object]


@dataclass(frozen=True)
class RefundResult:
    refund_id: str
    succeeded: bool


@dataclass(frozen=True)
class Acknowledgement:
    """What the notify endpoint answers a verified notification with, in the provider's own form
    (WeChat Pay and the sandbox: JSON; Alipay: the plain text "success"): anything else makes the
    provider deliver it again."""

    body: bytes
    media_type: str


def json_acknowledgement(outcome: str) -> Acknowledgement:
    """WeChat Pay's form (HTTP 200, {"code": "SUCCESS"}), with our outcome beside it."""
    return Acknowledgement(
        body=b'{"code":"SUCCESS","outcome":"' + outcome.encode("ascii", "replace") + b'"}',
        media_type="application/json",
    )


class PaymentProvider(Protocol):
    name: str

    async def create(self, request: PaymentRequest) -> OpenedPayment:
        """Open a payment; idempotent per out_trade_no (a repeat returns the same payment)."""
        ...

    async def query(self, out_trade_no: str) -> TradeStatus: ...

    async def close(self, out_trade_no: str) -> None:
        """Close an unpaid payment (its orders expired or were cancelled)."""
        ...

    def verify(self, headers: Mapping[str, str], body: bytes) -> Notification:
        """Check the signature and the timestamp's window, then parse; BadNotification if not."""
        ...

    def acknowledge(self, outcome: str) -> Acknowledgement:
        """The answer to a verified notification, once recorded with `outcome`."""
        ...

    async def refund(self, out_trade_no: str, out_refund_no: str, amount_fen: int, reason: str) -> RefundResult:
        """Refund (part of) a paid payment; idempotent per out_refund_no."""
        ...
