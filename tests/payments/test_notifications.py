"""The app's notify endpoint against every notification a provider may send, on SQLite and on
PostgreSQL, through the real app: each is either refused (nothing changes, nothing is recorded)
or applied exactly once, and each test says which.

- bad signature, stale timestamp: refused with 401; nothing recorded, the payment still pending;
- a good one: applied (the orders are paid, the units sold, the room told);
- the same one again (a redelivery): acknowledged with its first outcome, changes nothing;
- paid after the orders expired (out of order): applied as money received, refunded at once;
- a wrong amount: recorded as refused and acknowledged; the payment stays pending."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import orjson
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.accounts.models import User
from fieldcast.catalog.models import Sku
from fieldcast.commerce.checkout import Wanted
from fieldcast.commerce.models import Order, OrderState
from fieldcast.db.audit import AuditEntry
from fieldcast.db.base import utcnow
from fieldcast.db.outbox import OutboxMessage
from fieldcast.payments import actions
from fieldcast.payments.models import (
    NotificationOutcome,
    Payment,
    PaymentNotification,
    PaymentState,
    Refund,
    RefundState,
    SandboxState,
    SandboxTransaction,
)
from fieldcast.payments.sandbox import notification_body, sandbox_secret, signed_headers
from fieldcast.payments.tasks import expire_due
from tests.commerce.shop import Shop, check_invariants, open_shop

ON_BOTH_BACKENDS = True  # tests/conftest.py runs this module on SQLite and on PostgreSQL
NOTIFY = "/api/v1/payments/notify/sandbox"


@dataclass
class Bought:
    shop: Shop
    payment: Payment
    txn: SandboxTransaction


@pytest.fixture
async def nginx(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The provider's side of the wire."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        yield c


async def bought(app: FastAPI, quantity: int = 2) -> Bought:
    """A buyer ordered in a live room and opened the payment at the provider."""
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
    payment = await actions.open_payment(ctx.uow, ctx.payment_provider, buyer, done.payment.id, "http://x/notify")
    async with ctx.uow() as uow:
        txn = await uow.session.scalar(
            sa.select(SandboxTransaction).where(SandboxTransaction.out_trade_no == payment.out_trade_no)
        )
        assert txn is not None
        txn.trade_state, txn.paid_at = SandboxState.SUCCESS, utcnow()  # the buyer paid at the provider
    return Bought(shop, payment, txn)


async def notify(
    client: httpx.AsyncClient, app: FastAPI, body: dict[str, object], *, secret: bytes | None = None, age_s: int = 0
) -> httpx.Response:
    raw = orjson.dumps(body)
    headers = signed_headers(
        secret or sandbox_secret(app.state.ctx.settings), raw, now=utcnow() - timedelta(seconds=age_s)
    )
    return await client.post(NOTIFY, content=raw, headers=headers)


async def state_of(app: FastAPI, payment_id: int) -> tuple[PaymentState, list[OrderState], int, int]:
    """The payment's state, its orders' states, how many notifications are recorded, and how many
    units of the SKU are sold."""
    async with app.state.ctx.uow(write=False) as uow:
        payment = await uow.session.get(Payment, payment_id)
        assert payment is not None
        orders = [o.state for o in await actions.orders_of_payment(uow, payment_id)]
        recorded = await uow.session.scalar(sa.select(sa.func.count(PaymentNotification.id)))
        sold = await uow.session.scalar(sa.select(sa.func.sum(Sku.sold)))
        return payment.state, orders, int(recorded or 0), int(sold or 0)


async def test_a_bad_signature_is_refused_and_changes_nothing(app: FastAPI, nginx: httpx.AsyncClient) -> None:
    b = await bought(app)
    r = await notify(nginx, app, notification_body(b.txn, "n-1"), secret=b"not the provider's key")
    assert r.status_code == 401 and r.json()["code"] == "bad_notification"
    assert await state_of(app, b.payment.id) == (PaymentState.PENDING, [OrderState.PENDING_PAYMENT], 0, 0)


async def test_a_stale_timestamp_is_refused_and_changes_nothing(app: FastAPI, nginx: httpx.AsyncClient) -> None:
    b = await bought(app)
    r = await notify(nginx, app, notification_body(b.txn, "n-1"), age_s=6 * 60)  # a replay: outside 5 minutes
    assert r.status_code == 401 and "stale" in r.json()["detail"]
    assert await state_of(app, b.payment.id) == (PaymentState.PENDING, [OrderState.PENDING_PAYMENT], 0, 0)


async def test_a_good_notification_is_applied_and_a_duplicate_once_more_changes_nothing(
    app: FastAPI, nginx: httpx.AsyncClient
) -> None:
    b = await bought(app, quantity=2)
    first = await notify(nginx, app, notification_body(b.txn, "n-1"))
    assert (first.status_code, first.json()["outcome"]) == (200, "applied")
    assert await state_of(app, b.payment.id) == (PaymentState.PAID, [OrderState.PAID], 1, 2)
    again = await notify(nginx, app, notification_body(b.txn, "n-1"))  # redelivered, same id
    assert (again.status_code, again.json()["outcome"]) == (200, "applied")
    other = await notify(nginx, app, notification_body(b.txn, "n-2"))  # a second id for the same payment
    assert (other.status_code, other.json()["outcome"]) == (200, "ignored")
    assert await state_of(app, b.payment.id) == (PaymentState.PAID, [OrderState.PAID], 2, 2)  # sold once
    async with app.state.ctx.uow(write=False) as uow:
        paid_audits = await uow.session.scalar(
            sa.select(sa.func.count(AuditEntry.id)).where(AuditEntry.action == "payment.paid")
        )
        purchases = await uow.session.scalar(
            sa.select(sa.func.count(OutboxMessage.id)).where(OutboxMessage.event_type == "room.purchase")
        )
        await check_invariants(uow, b.shop)
    assert (paid_audits, purchases) == (1, 1)


async def test_paid_after_the_orders_expired_is_refunded_never_lost(app: FastAPI, nginx: httpx.AsyncClient) -> None:
    b = await bought(app, quantity=2)
    ctx = app.state.ctx
    async with ctx.uow() as uow:  # the pay-by time passes before the money arrives
        await uow.session.execute(sa.update(Payment).values(expires_at=utcnow() - timedelta(seconds=1)))
        await uow.session.execute(sa.update(Order).values(pay_by=utcnow() - timedelta(seconds=1)))
    await expire_due(ctx.uow, ctx.gate)  # (the app's own upkeep, every few seconds, may have been first)
    assert await state_of(app, b.payment.id) == (PaymentState.CLOSED, [OrderState.EXPIRED], 0, 0)

    late = await notify(nginx, app, notification_body(b.txn, "n-late"))
    assert (late.status_code, late.json()["outcome"]) == (200, "refunding")
    assert await state_of(app, b.payment.id) == (PaymentState.REFUNDED, [OrderState.EXPIRED], 1, 0)
    await ctx.relay.drain()  # the relay asks the provider for the refund, outside any transaction
    async with ctx.uow(write=False) as uow:
        refund = await uow.session.scalar(sa.select(Refund))
        txn = await uow.session.get(SandboxTransaction, b.txn.id)
        assert refund is not None and txn is not None
        assert (refund.state, refund.amount_fen) == (RefundState.SUCCEEDED, b.payment.amount_fen)
        assert (txn.trade_state, txn.refunded_fen) == (SandboxState.REFUND, b.payment.amount_fen)
        await check_invariants(uow, b.shop)  # the expired order's units went back on sale
    again = await notify(nginx, app, notification_body(b.txn, "n-late"))
    assert again.json()["outcome"] == "refunding"  # its first outcome; no second refund
    async with ctx.uow(write=False) as uow:
        assert await uow.session.scalar(sa.select(sa.func.count(Refund.id))) == 1


async def test_a_wrong_amount_is_recorded_and_refused_never_applied(app: FastAPI, nginx: httpx.AsyncClient) -> None:
    b = await bought(app)
    body = {**notification_body(b.txn, "n-cheap"), "amount_fen": 1}
    r = await notify(nginx, app, body)
    assert (r.status_code, r.json()["outcome"]) == (200, NotificationOutcome.REFUSED.value)
    assert await state_of(app, b.payment.id) == (PaymentState.PENDING, [OrderState.PENDING_PAYMENT], 1, 0)
    async with app.state.ctx.uow(write=False) as uow:
        record = await uow.session.scalar(sa.select(PaymentNotification))
        assert record is not None and "amount" in record.detail
    right = await notify(nginx, app, notification_body(b.txn, "n-right"))  # the real one still applies
    assert right.json()["outcome"] == "applied"
    assert (await state_of(app, b.payment.id))[0] == PaymentState.PAID


async def test_a_notification_for_a_payment_that_is_not_ours_is_recorded_not_applied(
    app: FastAPI, nginx: httpx.AsyncClient
) -> None:
    b = await bought(app)
    body = {**notification_body(b.txn, f"n-{uuid.uuid4().hex}"), "out_trade_no": "FC" + "0" * 30}
    r = await notify(nginx, app, body)
    assert (r.status_code, r.json()["outcome"]) == (200, "refused")
    assert await state_of(app, b.payment.id) == (PaymentState.PENDING, [OrderState.PENDING_PAYMENT], 1, 0)
