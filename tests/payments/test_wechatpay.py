"""WeChat Pay through the real app against a local fake of its APIv3 (tests/payments/fakes.py):
the adapter signs its requests, checks the fake's answers, and the app's notify endpoint checks
each notification's signature and decrypts its resource, exactly as against WeChat Pay.

- a good notification pays the orders, once; its redelivery changes nothing;
- a bad signature, a tampered ciphertext, a stale timestamp, another merchant: refused (401),
  nothing recorded;
- a refund goes through the fake's refund API once (PROCESSING first: asked again, recorded once);
- JSAPI gives the bridge's parameters signed with the merchant key;
- bad settings stop the start with a message naming the setting."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from fastapi import FastAPI

from fieldcast.accounts.models import User
from fieldcast.commerce.checkout import Wanted
from fieldcast.commerce.models import Order, OrderState
from fieldcast.config import Settings
from fieldcast.db.base import utcnow
from fieldcast.db.outbox import OutboxMessage
from fieldcast.payments import actions
from fieldcast.payments.models import Payment, PaymentNotification, PaymentState, Refund, RefundState
from fieldcast.payments.provider import ProviderConfigError, ProviderError, TradeState
from fieldcast.payments.providers import make_payment_provider
from fieldcast.payments.tasks import expire_due
from fieldcast.payments.wechatpay import WeChatPayProvider
from tests.commerce.shop import Shop, check_invariants, open_shop
from tests.payments.conftest import changed, payment_request
from tests.payments.fakes import WeChatPayFake, new_key, rsa_sha256_ok

ON_BOTH_BACKENDS = True  # tests/conftest.py runs this module on SQLite and on PostgreSQL
NOTIFY = "/api/v1/payments/notify/wechatpay"


@pytest.fixture(scope="module")
def fake() -> WeChatPayFake:
    return WeChatPayFake()


@pytest.fixture(scope="module")
def gateway(fake: WeChatPayFake) -> Iterator[str]:
    with fake.serving() as url:
        yield url


@pytest.fixture
def settings(settings: Settings, fake: WeChatPayFake, gateway: str, tmp_path: Path) -> Settings:
    fake.refunds_processing_first = fake.forge_answers = False
    return changed(
        settings,
        **fake.write_keys(tmp_path),
        wechatpay_gateway_url=gateway,
        payment_notify_url="https://shop.test" + NOTIFY,
    )


@pytest.fixture
async def wechat(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """WeChat Pay's side of the wire, to the app's notify endpoint."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        yield c


async def eventually(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Wait for something the fake sees from its own thread (no event to wait on there)."""
    async with asyncio.timeout(timeout_s):
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


@dataclass
class Bought:
    shop: Shop
    payment: Payment


async def bought(app: FastAPI, fake: WeChatPayFake, quantity: int = 2) -> Bought:
    """A buyer ordered, the payment was opened at (the fake) WeChat Pay, and the buyer paid."""
    ctx = app.state.ctx
    async with ctx.uow() as uow:
        shop = await open_shop(uow, sku_stock=10, pool=5, per_buyer_limit=None)
    async with ctx.uow() as uow:
        buyer = await uow.session.get(User, shop.buyers[0])
        done = await actions.checkout(
            uow,
            ctx.gate,
            ctx.payment_provider,
            buyer,
            [Wanted(shop.skus[0], quantity, shop.session_id)],
            shop.addresses[shop.buyers[0]],
            pay_minutes=15,
        )
    async with ctx.uow(write=False) as uow:
        buyer = await uow.session.get(User, shop.buyers[0])
    payment = await actions.open_payment(ctx.uow, ctx.payment_provider, buyer, done.payment.id, "http://ignored/")
    fake.buyer_pays(payment.out_trade_no)
    return Bought(shop, payment)


async def state_of(app: FastAPI, payment_id: int) -> tuple[PaymentState, list[OrderState], int, int]:
    """The payment's state, its orders', how many notifications are recorded, units sold."""
    from fieldcast.catalog.models import Sku

    async with app.state.ctx.uow(write=False) as uow:
        payment = await uow.session.get(Payment, payment_id)
        assert payment is not None
        orders = [o.state for o in await actions.orders_of_payment(uow, payment_id)]
        recorded = await uow.session.scalar(sa.select(sa.func.count(PaymentNotification.id)))
        sold = await uow.session.scalar(sa.select(sa.func.sum(Sku.sold)))
        return payment.state, orders, int(recorded or 0), int(sold or 0)


async def test_opening_gives_the_code_url_and_a_good_notification_pays_once(
    app: FastAPI, fake: WeChatPayFake, wechat: httpx.AsyncClient
) -> None:
    b = await bought(app, fake, quantity=2)
    assert b.payment.pay_url.startswith("weixin://wxpay/bizpayurl?pr=")
    trade = fake.trades[b.payment.out_trade_no]
    assert (trade.amount_fen, trade.notify_url) == (b.payment.amount_fen, "https://shop.test" + NOTIFY)

    body = fake.payment_notification(b.payment.out_trade_no, "n-1")
    first = await wechat.post(NOTIFY, content=body, headers=fake.signed(body))
    assert (first.status_code, first.json()) == (200, {"code": "SUCCESS", "outcome": "applied"})
    assert await state_of(app, b.payment.id) == (PaymentState.PAID, [OrderState.PAID], 1, 2)

    again = await wechat.post(NOTIFY, content=body, headers=fake.signed(body))  # redelivered, signed anew
    assert (again.status_code, again.json()["outcome"]) == (200, "applied")  # its first outcome
    assert await state_of(app, b.payment.id) == (PaymentState.PAID, [OrderState.PAID], 1, 2)  # sold once
    async with app.state.ctx.uow(write=False) as uow:
        payment = await uow.session.get(Payment, b.payment.id)
        assert payment is not None and payment.provider_txn_id == trade.transaction_id
        await check_invariants(uow, b.shop)


@pytest.mark.parametrize("forgery", ["another key", "a changed body", "another serial"])
async def test_a_bad_signature_is_refused_and_changes_nothing(
    app: FastAPI, fake: WeChatPayFake, wechat: httpx.AsyncClient, forgery: str
) -> None:
    b = await bought(app, fake)
    body = fake.payment_notification(b.payment.out_trade_no)
    headers = fake.signed(body, key=new_key() if forgery == "another key" else None)
    if forgery == "a changed body":
        body = body.replace(b'"TRANSACTION.SUCCESS"', b'"TRANSACTION.SUCCESS" ')
    if forgery == "another serial":
        headers["Wechatpay-Serial"] = "PUB_KEY_ID_SOMEONE_ELSE"
    r = await wechat.post(NOTIFY, content=body, headers=headers)
    assert r.status_code == 401 and r.json()["code"] == "bad_notification"
    assert ("unknown_serial" if forgery == "another serial" else "bad_signature") in r.json()["detail"]
    assert await state_of(app, b.payment.id) == (PaymentState.PENDING, [OrderState.PENDING_PAYMENT], 0, 0)


async def test_a_tampered_ciphertext_is_refused_even_when_signed(
    app: FastAPI, fake: WeChatPayFake, wechat: httpx.AsyncClient
) -> None:
    """Signed well, but its resource does not decrypt (GCM's tag fails): refused, not applied."""
    b = await bought(app, fake)
    data = json.loads(fake.payment_notification(b.payment.out_trade_no))
    cipher = bytearray(data["resource"]["ciphertext"].encode())
    cipher[10] = ord("A") if cipher[10] != ord("A") else ord("B")
    data["resource"]["ciphertext"] = cipher.decode()
    body = json.dumps(data).encode()
    r = await wechat.post(NOTIFY, content=body, headers=fake.signed(body))
    assert r.status_code == 401 and "undecryptable_resource" in r.json()["detail"]
    # and associated_data is authenticated too
    data = json.loads(fake.payment_notification(b.payment.out_trade_no))
    data["resource"]["associated_data"] = "refund"
    body = json.dumps(data).encode()
    r = await wechat.post(NOTIFY, content=body, headers=fake.signed(body))
    assert r.status_code == 401 and "undecryptable_resource" in r.json()["detail"]
    assert await state_of(app, b.payment.id) == (PaymentState.PENDING, [OrderState.PENDING_PAYMENT], 0, 0)


async def test_a_stale_timestamp_is_refused_and_changes_nothing(
    app: FastAPI, fake: WeChatPayFake, wechat: httpx.AsyncClient
) -> None:
    b = await bought(app, fake)
    body = fake.payment_notification(b.payment.out_trade_no)
    r = await wechat.post(NOTIFY, content=body, headers=fake.signed(body, at=datetime.now(UTC) - timedelta(minutes=6)))
    assert r.status_code == 401 and "stale_timestamp" in r.json()["detail"]
    assert await state_of(app, b.payment.id) == (PaymentState.PENDING, [OrderState.PENDING_PAYMENT], 0, 0)


async def test_a_notification_for_another_merchant_is_refused(
    app: FastAPI, fake: WeChatPayFake, wechat: httpx.AsyncClient
) -> None:
    b = await bought(app, fake)
    data = json.loads(fake.payment_notification(b.payment.out_trade_no))
    resource = {**fake._transaction(fake.trades[b.payment.out_trade_no]), "mchid": "1900000999"}
    data["resource"] = fake.encrypt(resource, "transaction")
    body = json.dumps(data).encode()
    r = await wechat.post(NOTIFY, content=body, headers=fake.signed(body))
    assert r.status_code == 401 and "wrong_merchant" in r.json()["detail"]
    assert await state_of(app, b.payment.id) == (PaymentState.PENDING, [OrderState.PENDING_PAYMENT], 0, 0)


async def expire_then_notify(app: FastAPI, fake: WeChatPayFake, wechat: httpx.AsyncClient, b: Bought) -> None:
    """The pay-by time passes before the money arrives: the late payment is refunded in full."""
    ctx = app.state.ctx
    async with ctx.uow() as uow:
        await uow.session.execute(sa.update(Payment).values(expires_at=utcnow() - timedelta(seconds=1)))
        await uow.session.execute(sa.update(Order).values(pay_by=utcnow() - timedelta(seconds=1)))
    await expire_due(ctx.uow, ctx.gate)  # (the app's own upkeep, every few seconds, may have been first)
    assert (await state_of(app, b.payment.id))[:2] == (PaymentState.CLOSED, [OrderState.EXPIRED])
    body = fake.payment_notification(b.payment.out_trade_no, "n-late")
    late = await wechat.post(NOTIFY, content=body, headers=fake.signed(body))
    assert (late.status_code, late.json()["outcome"]) == (200, "refunding")


async def test_a_refund_goes_through_the_refund_api_once(
    app: FastAPI, fake: WeChatPayFake, wechat: httpx.AsyncClient
) -> None:
    b = await bought(app, fake)
    await expire_then_notify(app, fake, wechat, b)
    before = fake.refund_requests
    await app.state.ctx.relay.drain()  # the relay closes and refunds at WeChat Pay, outside any lock
    await app.state.ctx.relay.drain()
    assert fake.refund_requests == before + 1
    async with app.state.ctx.uow(write=False) as uow:
        refunds = list(await uow.session.scalars(sa.select(Refund)))
    assert len(refunds) == 1
    done = fake.refunds[refunds[0].out_refund_no]
    assert (refunds[0].state, refunds[0].provider_refund_id) == (RefundState.SUCCEEDED, done["refund_id"])
    assert done["amount"]["refund"] == b.payment.amount_fen
    assert fake.trades[b.payment.out_trade_no].state == "REFUND"

    # WeChat Pay's refund notification is verified, recorded once, and changes nothing.
    body = fake.refund_notification(refunds[0].out_refund_no, "r-1")
    for _ in range(2):
        r = await wechat.post(NOTIFY, content=body, headers=fake.signed(body))
        assert (r.status_code, r.json()["outcome"]) == (200, "ignored")
    async with app.state.ctx.uow(write=False) as uow:
        recorded = list(await uow.session.scalars(sa.select(PaymentNotification).order_by(PaymentNotification.id)))
    assert [(n.event_type, n.amount_fen) for n in recorded] == [
        ("TRANSACTION.SUCCESS", b.payment.amount_fen),
        ("REFUND.SUCCESS", b.payment.amount_fen),
    ]


async def test_a_refund_still_processing_is_asked_again_and_recorded_once(
    app: FastAPI, fake: WeChatPayFake, wechat: httpx.AsyncClient
) -> None:
    fake.refunds_processing_first = True
    b = await bought(app, fake)
    await expire_then_notify(app, fake, wechat, b)
    before = fake.refund_requests
    # The app's relay asks at once (in the background), and hears PROCESSING: not recorded yet.
    await eventually(lambda: fake.refund_requests == before + 1)
    async with asyncio.timeout(10):
        while True:
            async with app.state.ctx.uow() as uow:
                refund = await uow.session.scalar(sa.select(Refund))
                assert refund is not None and refund.state == RefundState.PENDING
                query = sa.select(OutboxMessage).where(OutboxMessage.event_type == "refund")
                message = await uow.session.scalar(query)
                assert message is not None
                if message.attempts:  # the relay recorded the try
                    assert "REFUND_PROCESSING" in message.last_error
                    message.available_at = None  # its back-off is over
                    break
            await asyncio.sleep(0.02)
    await app.state.ctx.relay.drain()
    async with app.state.ctx.uow(write=False) as uow:
        refund = await uow.session.scalar(sa.select(Refund))
        assert refund is not None and refund.state == RefundState.SUCCEEDED
    assert fake.refund_requests == before + 2  # the same out_refund_no twice: one refund at WeChat Pay
    assert len([r for r in fake.refunds.values() if r["out_trade_no"] == b.payment.out_trade_no]) == 1
    assert fake.trades[b.payment.out_trade_no].refunded_fen == b.payment.amount_fen


async def test_query_close_and_a_forged_answer(app: FastAPI, fake: WeChatPayFake) -> None:
    provider = app.state.ctx.payment_provider
    assert isinstance(provider, WeChatPayProvider)
    request = payment_request(880)
    await provider.create(request)
    status = await provider.query(request.out_trade_no)
    assert (status.state, status.amount_fen) == (TradeState.NOTPAY, 880)
    await provider.close(request.out_trade_no)
    assert (await provider.query(request.out_trade_no)).state == TradeState.CLOSED
    await provider.close("FC" + "9" * 30)  # never opened: nothing to do, no error
    with pytest.raises(ProviderError, match="ORDER_NOT_EXIST"):
        await provider.query("FC" + "9" * 30)
    with pytest.raises(ProviderError, match="OUT_TRADE_NO_USED"):
        await provider.create(payment_request(1, out_trade_no=request.out_trade_no))
    fake.forge_answers = True  # an answer not signed by WeChat Pay is not believed
    with pytest.raises(ProviderError, match="verify the signature"):
        await provider.query(request.out_trade_no)


async def test_jsapi_gives_the_bridge_parameters_signed_with_the_merchant_key(
    app: FastAPI, fake: WeChatPayFake
) -> None:
    provider = app.state.ctx.payment_provider
    assert isinstance(provider, WeChatPayProvider)
    jsapi = await provider.open_jsapi(payment_request(990), "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")
    p = jsapi.bridge_params
    assert (p["appId"], p["package"], p["signType"]) == (fake.appid, f"prepay_id={jsapi.prepay_id}", "RSA")
    message = f"{p['appId']}\n{p['timeStamp']}\n{p['nonceStr']}\n{p['package']}\n"
    assert rsa_sha256_ok(fake.merchant_key.public_key(), message, p["paySign"])


def test_bad_settings_stop_the_start_naming_what_is_wrong(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(ProviderConfigError) as missing:
        make_payment_provider(changed(settings, wechatpay_mchid="", wechatpay_apiv3_key="short"), db=None)  # type: ignore[arg-type]
    assert "FIELDCAST_WECHATPAY_MCHID is not set" in str(missing.value)
    assert "FIELDCAST_WECHATPAY_APIV3_KEY must be 32 bytes" in str(missing.value)
    (tmp_path / "broken.pem").write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ProviderConfigError, match="FIELDCAST_WECHATPAY_PRIVATE_KEY_PATH: not an unencrypted"):
        make_payment_provider(changed(settings, wechatpay_private_key_path=tmp_path / "broken.pem"), db=None)  # type: ignore[arg-type]
    with pytest.raises(ProviderConfigError, match="FIELDCAST_PUBLIC_URL"):
        make_payment_provider(changed(settings, payment_notify_url="", public_url=""), db=None)  # type: ignore[arg-type]
    assert isinstance(make_payment_provider(settings, db=None), WeChatPayProvider)  # type: ignore[arg-type]


def platform_certificate(fake: WeChatPayFake, folder: Path, *, days: int = 365, ago_days: int = 1) -> Path:
    """A WeChat Pay platform certificate for the fake's platform key (self-signed here)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA")])
    start = datetime.now(UTC) - timedelta(days=ago_days)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(fake.platform_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .sign(fake.platform_key, hashes.SHA256())
    )
    path = folder / f"wechatpay_{cert.serial_number:X}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


async def test_a_platform_certificate_instead_of_the_public_key(
    settings: Settings, fake: WeChatPayFake, tmp_path: Path
) -> None:
    """Older merchant accounts verify with the platform certificate: its serial is the key id."""
    path = platform_certificate(fake, tmp_path)
    cert_settings = changed(
        settings, wechatpay_platform_cert_path=path, wechatpay_public_key_path=None, wechatpay_public_key_id=""
    )
    provider = make_payment_provider(cert_settings, db=None)  # type: ignore[arg-type]
    key_id, fake.key_id = fake.key_id, path.stem.removeprefix("wechatpay_")  # WeChat Pay signs under the serial
    try:
        request = payment_request(500)
        await provider.create(request)  # its answer is verified with the certificate's key
        fake.buyer_pays(request.out_trade_no)
        body = fake.payment_notification(request.out_trade_no)
        notification = provider.verify(fake.signed(body), body)
        assert (notification.out_trade_no, notification.amount_fen) == (request.out_trade_no, 500)
    finally:
        fake.key_id = key_id
    expired = platform_certificate(fake, tmp_path, days=30, ago_days=60)
    with pytest.raises(ProviderConfigError, match="FIELDCAST_WECHATPAY_PLATFORM_CERT_PATH: the certificate is valid"):
        make_payment_provider(changed(cert_settings, wechatpay_platform_cert_path=expired), db=None)  # type: ignore[arg-type]
