"""Alipay through the real app against a local fake of its OpenAPI gateway (tests/payments/fakes.py):
the adapter signs its requests RSA2, checks the fake's signed answers, and the app's notify
endpoint checks each notification's RSA2 signature over its sorted parameters.

- a good notification pays the orders, once, and is answered "success"; its redelivery (the same
  notify_id) and a later one for the same trade (TRADE_FINISHED) change nothing;
- a bad signature, a tampered field, another app's notification: refused (401), nothing recorded;
- a refund goes through the fake's refund API once, by out_request_no;
- bad settings stop the start with a message naming the setting."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from typer.testing import CliRunner

from fieldcast.accounts.models import User
from fieldcast.catalog.models import Sku
from fieldcast.cli import cli
from fieldcast.commerce.checkout import Wanted
from fieldcast.commerce.models import Order, OrderState
from fieldcast.config import Settings
from fieldcast.db.base import utcnow
from fieldcast.payments import actions
from fieldcast.payments.alipay import AlipayProvider, fen, yuan
from fieldcast.payments.models import Payment, PaymentNotification, PaymentState, Refund, RefundState
from fieldcast.payments.provider import ProviderConfigError, ProviderError, TradeState
from fieldcast.payments.providers import make_payment_provider
from fieldcast.payments.tasks import expire_due
from tests.commerce.shop import Shop, check_invariants, open_shop
from tests.payments.conftest import changed, payment_request
from tests.payments.fakes import AlipayFake, form, new_key

ON_BOTH_BACKENDS = True  # tests/conftest.py runs this module on SQLite and on PostgreSQL
NOTIFY = "/api/v1/payments/notify/alipay"
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


@pytest.fixture(scope="module")
def fake() -> AlipayFake:
    return AlipayFake()


@pytest.fixture(scope="module")
def gateway(fake: AlipayFake) -> Iterator[str]:
    with fake.serving() as url:
        yield url + "/gateway.do"


@pytest.fixture
def settings(settings: Settings, fake: AlipayFake, gateway: str, tmp_path: Path) -> Settings:
    return changed(settings, **fake.write_keys(tmp_path), alipay_gateway_url=gateway, public_url="https://shop.test")


@pytest.fixture
async def alipay(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Alipay's side of the wire, to the app's notify endpoint."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        yield c


@dataclass
class Bought:
    shop: Shop
    payment: Payment


async def bought(app: FastAPI, fake: AlipayFake, quantity: int = 2) -> Bought:
    """A buyer ordered, the trade was precreated at (the fake) Alipay, and the buyer paid."""
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
    async with app.state.ctx.uow(write=False) as uow:
        payment = await uow.session.get(Payment, payment_id)
        assert payment is not None
        orders = [o.state for o in await actions.orders_of_payment(uow, payment_id)]
        recorded = await uow.session.scalar(sa.select(sa.func.count(PaymentNotification.id)))
        sold = await uow.session.scalar(sa.select(sa.func.sum(Sku.sold)))
        return payment.state, orders, int(recorded or 0), int(sold or 0)


PENDING = (PaymentState.PENDING, [OrderState.PENDING_PAYMENT], 0, 0)


async def test_a_good_notification_pays_once_and_is_answered_success(
    app: FastAPI, fake: AlipayFake, alipay: httpx.AsyncClient
) -> None:
    b = await bought(app, fake, quantity=2)
    trade = fake.trades[b.payment.out_trade_no]
    assert b.payment.pay_url.startswith("https://qr.alipay.com/")
    assert fen(trade.total_amount) == b.payment.amount_fen

    notice = fake.notification(b.payment.out_trade_no)
    first = await alipay.post(NOTIFY, content=form(notice), headers=FORM)
    assert (first.status_code, first.text) == (200, "success")
    assert await state_of(app, b.payment.id) == (PaymentState.PAID, [OrderState.PAID], 1, 2)

    again = await alipay.post(NOTIFY, content=form(notice), headers=FORM)  # redelivered: same notify_id
    assert (again.status_code, again.text) == (200, "success")
    finished = fake.notification(b.payment.out_trade_no, status="TRADE_FINISHED")  # a later one, a new id
    assert (await alipay.post(NOTIFY, content=form(finished), headers=FORM)).text == "success"
    assert await state_of(app, b.payment.id) == (PaymentState.PAID, [OrderState.PAID], 2, 2)  # sold once
    async with app.state.ctx.uow(write=False) as uow:
        payment = await uow.session.get(Payment, b.payment.id)
        assert payment is not None and payment.provider_txn_id == trade.trade_no
        outcomes = [n.outcome.value for n in await uow.session.scalars(sa.select(PaymentNotification))]
        await check_invariants(uow, b.shop)
    assert sorted(outcomes) == ["applied", "ignored"]


async def test_a_bad_signature_is_refused_and_changes_nothing(
    app: FastAPI, fake: AlipayFake, alipay: httpx.AsyncClient
) -> None:
    b = await bought(app, fake)
    forged = fake.notification(b.payment.out_trade_no, key=new_key())
    r = await alipay.post(NOTIFY, content=form(forged), headers=FORM)
    assert r.status_code == 401 and "bad_signature" in r.json()["detail"]
    unsigned = {k: v for k, v in fake.notification(b.payment.out_trade_no).items() if k != "sign"}
    r = await alipay.post(NOTIFY, content=form(unsigned), headers=FORM)
    assert r.status_code == 401 and "missing_signature" in r.json()["detail"]
    assert await state_of(app, b.payment.id) == PENDING


@pytest.mark.parametrize(
    ("field", "value"),
    [("total_amount", "0.01"), ("trade_status", "TRADE_SUCCESS "), ("out_trade_no", "FC" + "1" * 30)],
)
async def test_a_tampered_field_is_refused_and_changes_nothing(
    app: FastAPI, fake: AlipayFake, alipay: httpx.AsyncClient, field: str, value: str
) -> None:
    b = await bought(app, fake)
    notice = {**fake.notification(b.payment.out_trade_no), field: value}
    r = await alipay.post(NOTIFY, content=form(notice), headers=FORM)
    assert r.status_code == 401 and "bad_signature" in r.json()["detail"]
    assert await state_of(app, b.payment.id) == PENDING


async def test_another_apps_notification_is_refused(app: FastAPI, fake: AlipayFake, alipay: httpx.AsyncClient) -> None:
    """Alipay signs every merchant's notifications with the same key: the app id must be ours."""
    b = await bought(app, fake)
    notice = fake.notification(b.payment.out_trade_no, app_id="2021000000009999")
    r = await alipay.post(NOTIFY, content=form(notice), headers=FORM)
    assert r.status_code == 401 and "wrong_app" in r.json()["detail"]
    assert await state_of(app, b.payment.id) == PENDING


async def test_a_refund_goes_through_the_refund_api_once(
    app: FastAPI, fake: AlipayFake, alipay: httpx.AsyncClient
) -> None:
    b = await bought(app, fake, quantity=2)
    ctx = app.state.ctx
    async with ctx.uow() as uow:  # the pay-by time passes before the money arrives
        await uow.session.execute(sa.update(Payment).values(expires_at=utcnow() - timedelta(seconds=1)))
        await uow.session.execute(sa.update(Order).values(pay_by=utcnow() - timedelta(seconds=1)))
    await expire_due(ctx.uow, ctx.gate)  # (the app's own upkeep, every few seconds, may have been first)
    assert (await state_of(app, b.payment.id))[:2] == (PaymentState.CLOSED, [OrderState.EXPIRED])
    late = await alipay.post(NOTIFY, content=form(fake.notification(b.payment.out_trade_no)), headers=FORM)
    assert late.text == "success"
    assert (await state_of(app, b.payment.id))[:2] == (PaymentState.REFUNDED, [OrderState.EXPIRED])
    await ctx.relay.drain()  # the relay closes and refunds at Alipay, outside any lock
    await ctx.relay.drain()
    async with ctx.uow(write=False) as uow:
        refunds = list(await uow.session.scalars(sa.select(Refund)))
        await check_invariants(uow, b.shop)
    assert len(refunds) == 1 and refunds[0].state == RefundState.SUCCEEDED
    # The fake lives for the module, on both backends: this payment's refunds are the ones to count.
    mine = {key: fen for key, fen in fake.refunds.items() if key[0] == b.payment.out_trade_no}
    assert mine == {(b.payment.out_trade_no, refunds[0].out_refund_no): yuan(b.payment.amount_fen)}
    assert fake.trades[b.payment.out_trade_no].status == "TRADE_CLOSED"

    # Asked again (a relay that died before marking it done): Alipay refunds nothing more.
    provider = ctx.payment_provider
    again = await provider.refund(b.payment.out_trade_no, refunds[0].out_refund_no, b.payment.amount_fen, "x")
    assert again.succeeded
    assert fake.trades[b.payment.out_trade_no].refunded_fen == b.payment.amount_fen
    # More than was paid, under a new number: refused for good, not retried.
    assert not (await provider.refund(b.payment.out_trade_no, "FC" + "2" * 30, 1, "x")).succeeded


async def test_query_close_and_a_forged_answer(app: FastAPI, fake: AlipayFake, gateway: str, tmp_path: Path) -> None:
    provider = app.state.ctx.payment_provider
    assert isinstance(provider, AlipayProvider)
    request = payment_request(1234)
    await provider.create(request)
    status = await provider.query(request.out_trade_no)
    assert (status.state, status.amount_fen) == (TradeState.NOTPAY, 1234)
    await provider.close(request.out_trade_no)
    assert (await provider.query(request.out_trade_no)).state == TradeState.CLOSED
    await provider.close(request.out_trade_no)  # already closed: nothing to do
    await provider.close("FC" + "9" * 30)  # never scanned: nothing to do
    with pytest.raises(ProviderError, match="ORDER_NOT_EXIST"):
        await provider.query("FC" + "9" * 30)
    # An adapter that trusts another Alipay key does not believe the fake's answers.
    other = AlipayFake(app_id=fake.app_id, app_key=fake.app_key)
    settings = changed(app.state.ctx.settings, **other.write_keys(tmp_path), alipay_gateway_url=gateway)
    with pytest.raises(ProviderError, match="AliPayValidationError"):
        await make_payment_provider(settings, db=None).query(request.out_trade_no)  # type: ignore[arg-type]


def test_amounts_are_exact_fen() -> None:
    assert [yuan(1), yuan(1234), yuan(100)] == ["0.01", "12.34", "1.00"]
    assert [fen("0.01"), fen("12.34"), fen("88")] == [1, 1234, 8800]
    for bad in ("0.001", "-1.00", "abc"):
        with pytest.raises(ValueError, match="amount"):
            fen(bad)


def test_bad_settings_stop_the_start_naming_what_is_wrong(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(ProviderConfigError) as missing:
        make_payment_provider(changed(settings, alipay_app_id="", alipay_public_key_path=None), db=None)  # type: ignore[arg-type]
    assert "FIELDCAST_ALIPAY_APP_ID is not set" in str(missing.value)
    assert "FIELDCAST_ALIPAY_PUBLIC_KEY_PATH is not set" in str(missing.value)
    with pytest.raises(ProviderConfigError, match="FIELDCAST_ALIPAY_PRIVATE_KEY_PATH: cannot read"):
        make_payment_provider(changed(settings, alipay_private_key_path=tmp_path / "nowhere.pem"), db=None)  # type: ignore[arg-type]
    assert isinstance(make_payment_provider(settings, db=None), AlipayProvider)  # type: ignore[arg-type]


def test_serve_stops_at_once_on_bad_payment_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`fieldcast serve` says what is wrong and exits 2, before any worker starts."""
    served: list[object] = []
    monkeypatch.setattr("fieldcast.cli._serve", lambda *args, **kwargs: served.append(args))
    env = {"FIELDCAST_DATA_DIR": str(tmp_path), "FIELDCAST_PAYMENT_PROVIDER": "alipay"}
    result = CliRunner().invoke(cli, ["serve"], env=env)
    assert result.exit_code == 2 and not served
    assert "FIELDCAST_ALIPAY_APP_ID is not set" in result.output
    assert "FIELDCAST_PUBLIC_URL" in result.output
