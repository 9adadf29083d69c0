"""The sandbox provider's API, as WeChat Pay's behaves: create once per out_trade_no, query, close
only what is unpaid, refund once per out_refund_no and never more than was paid, and verify a
notification's signature, time and body."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import orjson
import pytest
import sqlalchemy as sa

from fieldcast.config import Settings
from fieldcast.db.base import utcnow
from fieldcast.db.engine import Database
from fieldcast.db.uow import UnitOfWork
from fieldcast.payments.models import SandboxRefund, SandboxTransaction
from fieldcast.payments.provider import BadNotification, PaymentRequest, ProviderError, TradeState
from fieldcast.payments.sandbox import (
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    DeliveryQuirks,
    SandboxProvider,
    confirm_payment,
    sandbox_secret,
    signed_headers,
)
from tests.payments.conftest import SHOP, changed, payment_request

ON_BOTH_BACKENDS = True


async def paid(db: Database, provider: SandboxProvider, request: PaymentRequest) -> None:
    """Open `request` at the sandbox and pay it (what the pay page's Confirm does)."""
    await provider.create(request)
    async with db.uow() as uow:
        await confirm_payment(uow, request.out_trade_no, now=utcnow(), quirks=DeliveryQuirks())


async def transactions(db: Database) -> list[SandboxTransaction]:
    async with db.uow(write=False) as uow:
        return list(await uow.session.scalars(sa.select(SandboxTransaction)))


# == create, query, close =========================================================================


async def test_create_is_idempotent_per_out_trade_no(db: Database, provider: SandboxProvider) -> None:
    request = payment_request(1234)
    first = await provider.create(request)
    again = await provider.create(request)
    assert first == again
    assert first.pay_url == f"{SHOP}/sandbox-pay/{request.out_trade_no}"
    [txn] = await transactions(db)
    assert (txn.amount_fen, txn.description, txn.notify_url) == (1234, request.description, request.notify_url)
    assert txn.expires_at == request.expires_at
    assert txn.transaction_id.isdigit() and 28 <= len(txn.transaction_id) <= 32
    status = await provider.query(request.out_trade_no)
    assert (status.state, status.amount_fen, status.paid_at) == (TradeState.NOTPAY, 1234, None)
    assert status.transaction_id == txn.transaction_id


async def test_concurrent_creates_of_one_number_open_one_payment(db: Database, provider: SandboxProvider) -> None:
    request = payment_request()
    opened = await asyncio.gather(*(provider.create(request) for _ in range(4)))
    assert len(set(opened)) == 1
    assert len(await transactions(db)) == 1


async def test_a_used_number_is_refused_for_another_amount(provider: SandboxProvider) -> None:
    request = payment_request(1000)
    await provider.create(request)
    with pytest.raises(ProviderError, match="OUT_TRADE_NO_USED"):
        await provider.create(payment_request(999, out_trade_no=request.out_trade_no))


async def test_query_of_an_unknown_payment_is_a_provider_error(provider: SandboxProvider) -> None:
    with pytest.raises(ProviderError, match="ORDER_NOT_EXIST"):
        await provider.query("FCnosuchpayment")


async def test_close_closes_an_unpaid_payment_and_leaves_a_paid_one(db: Database, provider: SandboxProvider) -> None:
    unpaid, paid_one = payment_request(), payment_request()
    await provider.create(unpaid)
    await paid(db, provider, paid_one)

    await provider.close(unpaid.out_trade_no)
    await provider.close(unpaid.out_trade_no)
    await provider.close(paid_one.out_trade_no)
    await provider.close("FCneveropened")  # the app closes expired payments it never opened here

    assert (await provider.query(unpaid.out_trade_no)).state == TradeState.CLOSED
    status = await provider.query(paid_one.out_trade_no)
    assert status.state == TradeState.SUCCESS
    assert status.paid_at is not None


# == refund =======================================================================================


async def refunded_fen(db: Database, out_trade_no: str) -> int:
    async with db.uow(write=False) as uow:
        txn = await uow.session.scalar(
            sa.select(SandboxTransaction).where(SandboxTransaction.out_trade_no == out_trade_no)
        )
        assert txn is not None
        return txn.refunded_fen


async def test_refund_is_idempotent_per_out_refund_no(db: Database, provider: SandboxProvider) -> None:
    request = payment_request(1000)
    await paid(db, provider, request)
    first = await provider.refund(request.out_trade_no, "RF1", 400, "damaged")
    again = await provider.refund(request.out_trade_no, "RF1", 400, "damaged")
    assert first.succeeded and again == first
    assert first.refund_id
    assert await refunded_fen(db, request.out_trade_no) == 400
    assert (await provider.query(request.out_trade_no)).state == TradeState.SUCCESS  # partly refunded


async def test_refunds_never_exceed_the_paid_amount(db: Database, provider: SandboxProvider) -> None:
    request = payment_request(1000)
    await paid(db, provider, request)
    assert (await provider.refund(request.out_trade_no, "RF1", 400, "part")).succeeded
    too_much = await provider.refund(request.out_trade_no, "RF2", 601, "more than is left")
    assert not too_much.succeeded
    assert await refunded_fen(db, request.out_trade_no) == 400
    rest = await provider.refund(request.out_trade_no, "RF3", 600, "the rest")
    assert rest.succeeded and rest.refund_id != (await provider.refund(request.out_trade_no, "RF1", 400, "")).refund_id
    assert await refunded_fen(db, request.out_trade_no) == 1000
    assert (await provider.query(request.out_trade_no)).state == TradeState.REFUND
    assert not (await provider.refund(request.out_trade_no, "RF4", 1, "nothing left")).succeeded
    async with db.uow(write=False) as uow:
        assert await uow.session.scalar(sa.select(sa.func.sum(SandboxRefund.amount_fen))) == 1000


async def test_concurrent_refunds_cannot_pass_the_paid_amount(db: Database, provider: SandboxProvider) -> None:
    request = payment_request(1000)
    await paid(db, provider, request)
    results = await asyncio.gather(
        *(provider.refund(request.out_trade_no, f"RF{i}", 300, "race") for i in range(5)),
        provider.refund(request.out_trade_no, "RF0", 300, "race, repeated"),
    )
    assert sum(r.succeeded for r in results[:5]) == 3
    assert await refunded_fen(db, request.out_trade_no) == 900


async def test_unpaid_and_unknown_payments_are_not_refunded(db: Database, provider: SandboxProvider) -> None:
    request = payment_request(1000)
    await provider.create(request)
    assert not (await provider.refund(request.out_trade_no, "RF1", 100, "unpaid")).succeeded
    assert not (await provider.refund("FCneveropened", "RF2", 100, "unknown")).succeeded
    assert await refunded_fen(db, request.out_trade_no) == 0


# == verify =======================================================================================


def _no_database(**_: object) -> UnitOfWork:
    raise AssertionError("verify needs no database")


@pytest.fixture
def verifier(settings: Settings) -> SandboxProvider:
    return SandboxProvider(_no_database, base_url=SHOP, secret=sandbox_secret(settings))


def body(**overrides: object) -> bytes:
    fields: dict[str, object] = {
        "id": "5f0c3d52-6f46-4a58-9b0c-4b1f2f0f0a11",
        "event_type": "TRANSACTION.SUCCESS",
        "out_trade_no": "FC0123456789abcdef0123456789abcd",
        "transaction_id": "4200000000202611270123456789",
        "amount_fen": 1234,
        "paid_at": "2026-11-27T10:00:00+00:00",
    }
    fields.update(overrides)
    return orjson.dumps(fields)


def refusal(verifier: SandboxProvider, headers: dict[str, str], raw: bytes) -> str:
    with pytest.raises(BadNotification) as refused:
        verifier.verify(headers, raw)
    return refused.value.reason


def test_a_signed_notification_is_verified_and_parsed(verifier: SandboxProvider, settings: Settings) -> None:
    raw = body()
    notification = verifier.verify(signed_headers(sandbox_secret(settings), raw), raw)
    assert notification.notification_id == "5f0c3d52-6f46-4a58-9b0c-4b1f2f0f0a11"
    assert notification.event_type == "TRANSACTION.SUCCESS"
    assert (notification.out_trade_no, notification.amount_fen) == ("FC0123456789abcdef0123456789abcd", 1234)
    assert notification.transaction_id == "4200000000202611270123456789"
    assert notification.paid_at is not None and notification.paid_at.isoformat() == "2026-11-27T10:00:00+00:00"
    assert notification.body == orjson.loads(raw)


def test_header_names_are_case_insensitive_and_4_minutes_is_in_time(verifier: SandboxProvider, secret: bytes) -> None:
    raw = body()
    headers = signed_headers(secret, raw, now=utcnow() - timedelta(minutes=4))
    assert verifier.verify({name.lower(): value for name, value in headers.items()}, raw).amount_fen == 1234


def test_a_wrong_signature_is_refused(verifier: SandboxProvider, secret: bytes) -> None:
    raw = body()
    headers = signed_headers(secret, raw)
    forged = headers[SIGNATURE_HEADER]
    headers[SIGNATURE_HEADER] = ("0" if forged[0] != "0" else "1") + forged[1:]
    assert refusal(verifier, headers, raw) == "bad_signature"
    assert refusal(verifier, signed_headers(b"someone else's secret", raw), raw) == "bad_signature"
    assert refusal(verifier, {**signed_headers(secret, raw), SIGNATURE_HEADER: "签名"}, raw) == "bad_signature"


def test_a_tampered_body_is_refused(verifier: SandboxProvider, secret: bytes) -> None:
    headers = signed_headers(secret, body(amount_fen=1))
    assert refusal(verifier, headers, body(amount_fen=1234)) == "bad_signature"


def test_a_changed_timestamp_or_nonce_is_refused(verifier: SandboxProvider, secret: bytes) -> None:
    raw = body()
    headers = signed_headers(secret, raw)
    later = {**headers, TIMESTAMP_HEADER: str(int(headers[TIMESTAMP_HEADER]) + 1)}
    assert refusal(verifier, later, raw) == "bad_signature"
    assert refusal(verifier, {**headers, NONCE_HEADER: "another"}, raw) == "bad_signature"


def test_a_stale_notification_is_refused(verifier: SandboxProvider, secret: bytes) -> None:
    raw = body()
    assert refusal(verifier, signed_headers(secret, raw, now=utcnow() - timedelta(minutes=6)), raw) == "stale_timestamp"


def test_a_notification_from_the_future_is_refused(verifier: SandboxProvider, secret: bytes) -> None:
    raw = body()
    ahead = signed_headers(secret, raw, now=utcnow() + timedelta(minutes=6))
    assert refusal(verifier, ahead, raw) == "future_timestamp"


def test_missing_headers_are_refused(verifier: SandboxProvider, secret: bytes) -> None:
    raw = body()
    headers = signed_headers(secret, raw)
    for name in (TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER):
        partial = {k: v for k, v in headers.items() if k != name}
        assert refusal(verifier, partial, raw) == "missing_signature_headers"


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"[]",
        b"",
        body(amount_fen="1234"),
        body(amount_fen=0),
        body(amount_fen=True),
        body(paid_at="2026-11-27T10:00:00"),  # no offset: not a UTC instant
        orjson.dumps({"id": "x", "event_type": "TRANSACTION.SUCCESS"}),
    ],
    ids=["broken-json", "not-an-object", "empty", "amount-as-text", "zero-amount", "bool", "naive-time", "missing"],
)
def test_a_malformed_body_is_refused(verifier: SandboxProvider, secret: bytes, raw: bytes) -> None:
    assert refusal(verifier, signed_headers(secret, raw), raw) == "malformed_body"


def test_the_secret_is_stable_and_derived_unless_configured(settings: Settings) -> None:
    derived = sandbox_secret(settings)
    assert derived == sandbox_secret(Settings(secret_key=settings.secret_key, data_dir=settings.data_dir))
    assert settings.resolved_secret_key.encode() not in (derived, b"")
    assert derived != sandbox_secret(Settings(secret_key="another key", data_dir=settings.data_dir))
    configured = changed(settings, payment_sandbox_secret="shared with the receiver")
    assert sandbox_secret(configured) == b"shared with the receiver"
