"""The sandbox's notifications leave through the outbox as WeChat Pay's do: signed afresh on each
try, retried with back-off until the receiver answers 2xx, now and then twice (the same id) or
late, on purpose."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fieldcast.db.base import utcnow
from fieldcast.db.engine import Database
from fieldcast.db.outbox import OutboxMessage, OutboxRelay
from fieldcast.payments.provider import BadNotification, Notification, PaymentRequest
from fieldcast.payments.sandbox import (
    NONCE_HEADER,
    TOPIC_NOTIFY,
    DeliveryQuirks,
    SandboxProvider,
    confirm_payment,
    notify_delivery,
)
from tests.payments.conftest import NOTIFY_URL, payment_request

ON_BOTH_BACKENDS = True


class Receiver:
    """The app's notify endpoint, played by an httpx.MockTransport: records every POST and
    answers `status`."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.requests: list[httpx.Request] = []
        self.transport = httpx.MockTransport(self.answer)

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, json={"code": "SUCCESS" if self.status < 300 else "FAIL"})


def relay_of(db: Database, secret: bytes, transport: httpx.AsyncBaseTransport, quirks: DeliveryQuirks) -> OutboxRelay:
    return OutboxRelay(db.writer, {}, outside={TOPIC_NOTIFY: notify_delivery(secret, quirks, transport)})


async def pay(db: Database, provider: SandboxProvider, quirks: DeliveryQuirks = DeliveryQuirks()) -> PaymentRequest:
    request = payment_request(1234)
    await provider.create(request)
    async with db.uow() as uow:
        await confirm_payment(uow, request.out_trade_no, now=utcnow(), quirks=quirks)
    return request


async def the_message(db: Database) -> OutboxMessage:
    async with db.uow(write=False) as uow:
        [message] = (
            await uow.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.topic == TOPIC_NOTIFY))
        ).all()
        return message


async def make_due(db: Database) -> None:
    """Let the clock pass every wait (a back-off, a deliberately late first try)."""
    async with db.uow() as uow:
        await uow.session.execute(sa.update(OutboxMessage).values(available_at=utcnow() - timedelta(seconds=1)))


async def test_one_signed_notification_is_delivered(db: Database, provider: SandboxProvider, secret: bytes) -> None:
    request = await pay(db, provider)
    receiver = Receiver()
    await relay_of(db, secret, receiver.transport, DeliveryQuirks()).drain()

    [post] = receiver.requests
    assert (post.method, str(post.url)) == ("POST", NOTIFY_URL)
    assert post.headers["content-type"] == "application/json"
    notification = provider.verify(post.headers, post.content)
    status = await provider.query(request.out_trade_no)
    assert notification.event_type == "TRANSACTION.SUCCESS"
    assert (notification.out_trade_no, notification.amount_fen) == (request.out_trade_no, 1234)
    assert notification.transaction_id == status.transaction_id
    assert notification.paid_at == status.paid_at
    assert set(notification.body) == {"id", "event_type", "out_trade_no", "transaction_id", "amount_fen", "paid_at"}
    assert (await the_message(db)).published_at is not None


async def test_with_duplicate_rate_1_the_same_notification_comes_twice(
    db: Database, provider: SandboxProvider, secret: bytes
) -> None:
    await pay(db, provider)
    receiver = Receiver()
    await relay_of(db, secret, receiver.transport, DeliveryQuirks(duplicate_rate=1.0)).drain()

    first, second = (provider.verify(r.headers, r.content) for r in receiver.requests)
    assert first.notification_id == second.notification_id
    assert first.body == second.body
    assert receiver.requests[0].headers[NONCE_HEADER] != receiver.requests[1].headers[NONCE_HEADER]
    assert (await the_message(db)).published_at is not None


async def test_a_refused_delivery_is_retried_after_a_back_off(
    db: Database, provider: SandboxProvider, secret: bytes
) -> None:
    await pay(db, provider)
    receiver = Receiver(status=500)
    relay = relay_of(db, secret, receiver.transport, DeliveryQuirks())

    seen, failed = await relay.relay_once()
    assert (seen, failed, len(receiver.requests)) == (1, True, 1)
    pending = await the_message(db)
    assert pending.published_at is None
    assert pending.attempts == 1 and "500" in pending.last_error
    assert pending.available_at is not None and pending.available_at > utcnow()

    receiver.status = 200
    assert await relay.relay_once() == (0, False)  # still backing off
    assert len(receiver.requests) == 1
    await make_due(db)
    assert await relay.relay_once() == (1, False)
    retried = receiver.requests[1]
    first = receiver.requests[0]
    assert retried.content == first.content  # the same notification (the same id) ...
    assert retried.headers[NONCE_HEADER] != first.headers[NONCE_HEADER]  # ... signed afresh
    provider.verify(retried.headers, retried.content)
    assert (await the_message(db)).published_at is not None


async def test_an_unreachable_receiver_leaves_the_notification_pending(
    db: Database, provider: SandboxProvider, secret: bytes
) -> None:
    await pay(db, provider)

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    seen, failed = await relay_of(db, secret, httpx.MockTransport(unreachable), DeliveryQuirks()).relay_once()
    assert (seen, failed) == (1, True)
    assert (await the_message(db)).published_at is None


async def test_with_late_rate_1_the_first_try_waits(db: Database, provider: SandboxProvider, secret: bytes) -> None:
    before = utcnow()
    await pay(db, provider, DeliveryQuirks(late_rate=1.0, late_s=5.0))
    late = await the_message(db)
    assert late.available_at is not None
    assert before + timedelta(seconds=5) <= late.available_at <= utcnow() + timedelta(seconds=5)

    receiver = Receiver()
    relay = relay_of(db, secret, receiver.transport, DeliveryQuirks())
    await relay.drain()
    assert receiver.requests == []
    await make_due(db)
    await relay.drain()
    assert len(receiver.requests) == 1


async def test_with_late_rate_0_the_first_try_is_at_once(db: Database, provider: SandboxProvider) -> None:
    await pay(db, provider, DeliveryQuirks(late_rate=0.0, late_s=5.0))
    assert (await the_message(db)).available_at is None


async def test_notifications_reach_an_app_in_process_and_pass_its_verification(
    db: Database, provider: SandboxProvider, secret: bytes
) -> None:
    """Delivered through httpx.ASGITransport into an app whose endpoint verifies as the real one
    will (provider.verify on the headers and the raw body)."""
    accepted: list[Notification] = []

    async def notify(request: Request) -> Response:
        try:
            accepted.append(provider.verify(request.headers, await request.body()))
        except BadNotification as exc:
            return JSONResponse({"code": "FAIL", "message": exc.reason}, status_code=400)
        return Response(status_code=204)

    receiver_app = Starlette(routes=[Route("/api/v1/payments/notify/sandbox", notify, methods=["POST"])])
    request = await pay(db, provider)
    relay = relay_of(db, secret, httpx.ASGITransport(app=receiver_app), DeliveryQuirks(duplicate_rate=1.0))
    await relay.drain()
    assert [n.out_trade_no for n in accepted] == [request.out_trade_no] * 2
    assert len({n.notification_id for n in accepted}) == 1


@pytest.mark.parametrize("rate", [0.0, 1.0])
def test_quirk_rates_of_0_and_1_are_never_and_always(rate: float) -> None:
    quirks = DeliveryQuirks(duplicate_rate=rate, late_rate=rate, late_s=5.0)
    now = datetime.fromisoformat("2026-11-27T10:00:00+00:00")
    assert {quirks.twice() for _ in range(200)} == {rate == 1.0}
    assert {quirks.late_until(now) for _ in range(200)} == {now + timedelta(seconds=5) if rate else None}
