"""The in-process payment provider: WeChat Pay's Native flow, played by this app for the demo,
development and tests. A real implementation, not a mock: it keeps its own ledger
(sandbox_transactions, sandbox_refunds) through its own units of work, as WeChat Pay keeps its
side, and our payments learn of it only through the provider's API and its signed notifications.

The buyer pays on the sandbox's pay page (sandbox_pages.py). Confirming writes the notification
to the outbox in the same transaction; the relay POSTs it, signed, to the payment's notify URL,
outside any transaction, until the app answers 2xx. Like WeChat Pay it now and then delivers a
notification twice (the same id) or late, on purpose, so the app's handling of both runs every
day and not only in tests (settings payment_sandbox_duplicate_rate, _late_rate, _late_s)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Self

import httpx
import orjson
import sqlalchemy as sa
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import IntegrityError

from fieldcast.config import Settings
from fieldcast.db.base import utcnow
from fieldcast.db.locks import lock_row
from fieldcast.db.outbox import Deliver, Envelope
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import Conflict, NotFound
from fieldcast.i18n import N_
from fieldcast.payments.models import (
    REF_MAX,
    TRADE_NO_MAX,
    SandboxRefund,
    SandboxState,
    SandboxTransaction,
)
from fieldcast.payments.provider import (
    Acknowledgement,
    BadNotification,
    Notification,
    OpenedPayment,
    PaymentRequest,
    ProviderError,
    RefundResult,
    TradeState,
    TradeStatus,
    json_acknowledgement,
)

log = logging.getLogger(__name__)

NAME = "sandbox"
PAY_PATH = "/sandbox-pay"
TOPIC_NOTIFY = "payments.sandbox.notify"  # key: out_trade_no; consumer: notify_delivery (outside)
EVENT_PAID = "TRANSACTION.SUCCESS"
TIMESTAMP_HEADER = "X-Sandbox-Timestamp"
NONCE_HEADER = "X-Sandbox-Nonce"
SIGNATURE_HEADER = "X-Sandbox-Signature"
WINDOW_S = 300  # a notification signed further from now than this, either way, is refused
DELIVERY_TIMEOUT_S = 5.0

_CHANCE = random.SystemRandom()  # seeded by the OS, so every process draws its own


# -- signing ----------------------------------------------------------------------------------------


def sandbox_secret(settings: Settings) -> bytes:
    """The key notifications are signed with: the configured one, or one derived from the site's
    secret key, so that every process of a deployment signs and verifies alike."""
    if settings.payment_sandbox_secret:
        return settings.payment_sandbox_secret.encode()
    return hmac.new(settings.resolved_secret_key.encode(), b"fieldcast payments sandbox", hashlib.sha256).digest()


def sign(secret: bytes, timestamp: str, nonce: str, body: bytes) -> str:
    """Hex HMAC-SHA256 over f"{timestamp}.{nonce}." and the raw body bytes."""
    return hmac.new(secret, f"{timestamp}.{nonce}.".encode() + body, hashlib.sha256).hexdigest()


def signed_headers(secret: bytes, body: bytes, *, now: datetime | None = None) -> dict[str, str]:
    """The headers of one delivery attempt: a new timestamp and nonce each time."""
    timestamp = str(int((now or utcnow()).timestamp()))
    nonce = secrets.token_hex(16)
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: timestamp,
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: sign(secret, timestamp, nonce, body),
    }


class _NotificationBody(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True)

    id: Annotated[str, Field(min_length=1, max_length=REF_MAX)]
    event_type: Annotated[str, Field(min_length=1, max_length=40)]
    out_trade_no: Annotated[str, Field(min_length=1, max_length=TRADE_NO_MAX)]
    transaction_id: Annotated[str, Field(min_length=1, max_length=REF_MAX)]
    amount_fen: Annotated[int, Field(gt=0)]
    paid_at: AwareDatetime | None = None


def notification_body(txn: SandboxTransaction, notification_id: str) -> dict[str, object]:
    """What a TRANSACTION.SUCCESS notification says (its JSON body)."""
    return {
        "id": notification_id,
        "event_type": EVENT_PAID,
        "out_trade_no": txn.out_trade_no,
        "transaction_id": txn.transaction_id,
        "amount_fen": txn.amount_fen,
        "paid_at": txn.paid_at.astimezone(UTC).isoformat() if txn.paid_at else None,
    }


# -- the provider -----------------------------------------------------------------------------------


def pay_url(base_url: str, out_trade_no: str) -> str:
    return f"{base_url.rstrip('/')}{PAY_PATH}/{out_trade_no}"


def _wechat_like_id(prefix: str, now: datetime) -> str:
    """28 digits, as WeChat Pay's ids look: a prefix, the date, random digits."""
    return f"{prefix}{now:%Y%m%d}{secrets.randbelow(10**16):016d}"


class SandboxProvider:
    """PaymentProvider over the sandbox's own ledger. `base_url` is the site's public base URL
    (Settings.resolved_public_url): the pay page is served by this app, so its link is absolute
    for QR codes and works in a browser on the same site."""

    name = NAME

    def __init__(
        self,
        new_uow: Callable[..., UnitOfWork],
        *,
        base_url: str,
        secret: bytes,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._new_uow = new_uow
        self._base_url = base_url
        self._secret = secret
        self._clock = clock

    def pay_url(self, out_trade_no: str) -> str:
        return pay_url(self._base_url, out_trade_no)

    async def create(self, request: PaymentRequest) -> OpenedPayment:
        """Open a payment once per out_trade_no; a repeat with the same amount gets the same
        payment, another amount under a used number is refused (WeChat Pay's OUT_TRADE_NO_USED)."""
        if request.amount_fen <= 0:
            raise ProviderError(f"PARAM_ERROR: amount_fen must be positive, not {request.amount_fen}")
        try:
            async with self._new_uow() as uow:
                found = await find_transaction(uow, request.out_trade_no)
                if found is None:
                    uow.session.add(
                        SandboxTransaction(
                            out_trade_no=request.out_trade_no,
                            transaction_id=_wechat_like_id("4200", self._clock()),
                            amount_fen=request.amount_fen,
                            description=request.description,
                            notify_url=request.notify_url,
                            expires_at=request.expires_at,
                        )
                    )
        except IntegrityError:  # a concurrent create of the same number committed first
            async with self._new_uow(write=False) as uow:
                found = await find_transaction(uow, request.out_trade_no)
            if found is None:
                raise
        if found is not None and found.amount_fen != request.amount_fen:
            raise ProviderError(f"OUT_TRADE_NO_USED: {request.out_trade_no} was opened for {found.amount_fen} fen")
        return OpenedPayment(pay_url=self.pay_url(request.out_trade_no))

    async def query(self, out_trade_no: str) -> TradeStatus:
        async with self._new_uow(write=False) as uow:
            txn = await find_transaction(uow, out_trade_no)
        if txn is None:
            raise ProviderError(f"ORDER_NOT_EXIST: {out_trade_no}")
        return TradeStatus(
            out_trade_no=txn.out_trade_no,
            state=TradeState(txn.trade_state.value),
            amount_fen=txn.amount_fen,
            transaction_id=txn.transaction_id,
            paid_at=txn.paid_at,
        )

    async def close(self, out_trade_no: str) -> None:
        """NOTPAY becomes CLOSED. A paid, closed or never opened payment is left as it is: the app
        closes every expired payment, opened at the provider or not, and must not retry forever."""
        async with self._new_uow() as uow:
            txn = await lock_transaction(uow, out_trade_no)
            if txn is not None and txn.trade_state == SandboxState.NOTPAY:
                txn.trade_state = SandboxState.CLOSED

    async def refund(self, out_trade_no: str, out_refund_no: str, amount_fen: int, reason: str) -> RefundResult:
        """Refund part or all of a paid payment, once per out_refund_no (a repeat answers the first
        result). Never more than was paid: a refund that would pass it is refused, as is one of an
        unpaid or unknown payment. Fully refunded, the trade's state is REFUND."""
        async with self._new_uow() as uow:
            txn = await lock_transaction(uow, out_trade_no)
            if txn is None:
                return RefundResult(refund_id="", succeeded=False)
            done = await uow.session.scalar(
                sa.select(SandboxRefund).where(SandboxRefund.out_refund_no == out_refund_no)
            )
            if done is not None:
                return RefundResult(refund_id=done.refund_id, succeeded=done.sandbox_transaction_id == txn.id)
            refundable = txn.trade_state in (SandboxState.SUCCESS, SandboxState.REFUND)
            if not refundable or amount_fen <= 0 or txn.refunded_fen + amount_fen > txn.amount_fen:
                return RefundResult(refund_id="", succeeded=False)
            refund = SandboxRefund(
                out_refund_no=out_refund_no,
                sandbox_transaction_id=txn.id,
                refund_id=_wechat_like_id("5030", self._clock()),
                amount_fen=amount_fen,
            )
            uow.session.add(refund)
            txn.refunded_fen += amount_fen
            if txn.refunded_fen == txn.amount_fen:
                txn.trade_state = SandboxState.REFUND
        return RefundResult(refund_id=refund.refund_id, succeeded=True)

    def verify(self, headers: Mapping[str, str], body: bytes) -> Notification:
        """A notification this sandbox signed within WINDOW_S of now, with a well-formed body; else
        BadNotification whose reason says which check failed."""
        lowered = {name.lower(): value for name, value in headers.items()}
        timestamp = lowered.get(TIMESTAMP_HEADER.lower())
        nonce = lowered.get(NONCE_HEADER.lower())
        signature = lowered.get(SIGNATURE_HEADER.lower())
        if not (timestamp and nonce and signature):
            raise BadNotification("missing_signature_headers")
        expected = sign(self._secret, timestamp, nonce, body)
        if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
            raise BadNotification("bad_signature")
        try:
            signed_at = int(timestamp)
        except ValueError:
            raise BadNotification("bad_timestamp") from None
        age_s = self._clock().timestamp() - signed_at
        if age_s > WINDOW_S:
            raise BadNotification("stale_timestamp")
        if age_s < -WINDOW_S:
            raise BadNotification("future_timestamp")
        try:
            parsed = _NotificationBody.model_validate_json(body)
        except ValidationError:
            raise BadNotification("malformed_body") from None
        return Notification(
            notification_id=parsed.id,
            event_type=parsed.event_type,
            out_trade_no=parsed.out_trade_no,
            transaction_id=parsed.transaction_id,
            amount_fen=parsed.amount_fen,
            paid_at=parsed.paid_at.astimezone(UTC) if parsed.paid_at else None,
            body=orjson.loads(body),
        )


    def acknowledge(self, outcome: str) -> Acknowledgement:
        return json_acknowledgement(outcome)


# -- the buyer's side: the ledger's reads and the payment itself -------------------------------------


class PaymentExpired(Conflict):
    code = "payment_expired"


class PaymentClosed(Conflict):
    code = "payment_closed"


async def find_transaction(uow: UnitOfWork, out_trade_no: str) -> SandboxTransaction | None:
    found: SandboxTransaction | None = await uow.session.scalar(
        sa.select(SandboxTransaction).where(SandboxTransaction.out_trade_no == out_trade_no)
    )
    return found


async def lock_transaction(uow: UnitOfWork, out_trade_no: str) -> SandboxTransaction | None:
    txn_id = await uow.session.scalar(
        sa.select(SandboxTransaction.id).where(SandboxTransaction.out_trade_no == out_trade_no)
    )
    return None if txn_id is None else await lock_row(uow.session, SandboxTransaction, txn_id)


@dataclass(frozen=True)
class DeliveryQuirks:
    """What WeChat Pay does now and then, done here on purpose: deliver a notification a second
    time after it was acknowledged (the same id), or hold back its first try."""

    duplicate_rate: float = 0.0
    late_rate: float = 0.0
    late_s: float = 0.0
    chance: random.Random = _CHANCE

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(
            duplicate_rate=settings.payment_sandbox_duplicate_rate,
            late_rate=settings.payment_sandbox_late_rate,
            late_s=settings.payment_sandbox_late_s,
        )

    def late_until(self, now: datetime) -> datetime | None:
        """When a notification written now may first be tried, if it is to be late."""
        return now + timedelta(seconds=self.late_s) if self.chance.random() < self.late_rate else None

    def twice(self) -> bool:
        return self.chance.random() < self.duplicate_rate


async def confirm_payment(
    uow: UnitOfWork, out_trade_no: str, *, now: datetime, quirks: DeliveryQuirks
) -> SandboxTransaction:
    """The buyer pays. An unpaid payment within its expiry becomes SUCCESS, and its notification
    is written to the outbox in this transaction (sometimes to be delivered late). Paying one
    already paid changes nothing and notifies nobody again; an expired or closed one is refused."""
    txn = await lock_transaction(uow, out_trade_no)
    if txn is None:
        raise NotFound(N_("No such payment."))
    if txn.trade_state in (SandboxState.SUCCESS, SandboxState.REFUND):
        return txn
    if txn.trade_state == SandboxState.CLOSED:
        raise PaymentClosed(N_("This payment was closed and can no longer be paid."))
    if txn.expires_at <= now:
        raise PaymentExpired(N_("This payment has expired and can no longer be paid."))
    txn.trade_state = SandboxState.SUCCESS
    txn.paid_at = now
    uow.publish(
        TOPIC_NOTIFY,
        txn.out_trade_no,
        "notify",
        {**notification_body(txn, str(uuid.uuid4())), "notify_url": txn.notify_url},
        available_at=quirks.late_until(now),
    )
    return txn


# -- delivery ---------------------------------------------------------------------------------------


class NotificationRefused(Exception):
    """The receiver did not answer 2xx: the relay tries again after a back-off."""


def notify_delivery(
    secret: bytes, quirks: DeliveryQuirks, transport: httpx.AsyncBaseTransport | None = None
) -> Deliver:
    """The outbox consumer of TOPIC_NOTIFY (an *outside* one: it calls the app back over HTTP).
    Each attempt is signed afresh; anything but 2xx raises, so the relay retries with back-off
    until the app acknowledges. `transport` is the network by default; tests pass an
    httpx.MockTransport or httpx.ASGITransport (it is closed with each delivery's client, which
    those two do not mind)."""

    async def post(client: httpx.AsyncClient, url: str, body: bytes) -> None:
        response = await client.post(url, content=body, headers=signed_headers(secret, body))
        if not response.is_success:
            raise NotificationRefused(f"{url} answered {response.status_code}")

    async def deliver(message: Envelope) -> None:
        fields = dict(message.payload)
        url = str(fields.pop("notify_url"))
        body = orjson.dumps(fields)
        # trust_env=False: the sandbox calls this app back directly, never through a proxy that
        # the environment may name for outgoing traffic.
        async with httpx.AsyncClient(transport=transport, timeout=DELIVERY_TIMEOUT_S, trust_env=False) as client:
            await post(client, url, body)
            if quirks.twice():
                try:
                    await post(client, url, body)
                except (httpx.HTTPError, NotificationRefused) as exc:  # the first one was acknowledged
                    log.info("sandbox notification %s: the deliberate repeat failed: %r", fields.get("id"), exc)

    return deliver
