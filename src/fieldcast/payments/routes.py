"""Checkout and payments over HTTP: the JSON API (`api`) and the provider's notify endpoint.
Thin: parse, call one action, answer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Protocol

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from fieldcast.accounts.auth import CurrentUser
from fieldcast.commerce.checkout import Wanted
from fieldcast.commerce.gate import StockGate
from fieldcast.commerce.models import Order
from fieldcast.config import Settings
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import NotFound
from fieldcast.i18n import N_, gettext
from fieldcast.inputs import Id
from fieldcast.payments import actions as a
from fieldcast.payments import schemas as s
from fieldcast.payments.models import Payment
from fieldcast.payments.provider import BadNotification, PaymentProvider
from fieldcast.web.api import PROBLEMS
from fieldcast.web.context import context_of
from fieldcast.web.deps import Uow
from fieldcast.web.problems import problem_response

api = APIRouter(prefix="/api/v1", responses=PROBLEMS, tags=["payments"])
NOTIFY_ROUTE = "/payments/notify/{provider}"
NOTIFY_PATH = "/api/v1" + NOTIFY_ROUTE


class PaymentServices(Protocol):
    """What checkout and payments need of the process (the composition root's context)."""

    settings: Settings
    gate: StockGate
    payment_provider: PaymentProvider

    def uow(self, *, write: bool = True) -> UnitOfWork: ...


def payment_services(request: Request) -> PaymentServices:
    ctx: PaymentServices = context_of(request)
    return ctx


Services = Annotated[PaymentServices, Depends(payment_services)]


def notify_url(settings: Settings, request: Request, provider: str) -> str:
    """Where the provider POSTs its notifications: the public URL when one is set."""
    base = settings.public_url.rstrip("/") or str(request.base_url).rstrip("/")
    return base + NOTIFY_PATH.format(provider=provider)


async def payment_out(uow: UnitOfWork, payment: Payment) -> s.PaymentOut:
    return payment_out_of(payment, await a.orders_of_payment(uow, payment.id))


def payment_out_of(payment: Payment, orders: Sequence[Order]) -> s.PaymentOut:
    """The payment with its orders, as the caller has them (in id order)."""
    orders = sorted(orders, key=lambda o: o.id)
    return s.PaymentOut(
        id=payment.id,
        state=payment.state.value,
        amount_fen=payment.amount_fen,
        provider=payment.provider,
        expires_at=payment.expires_at,
        paid_at=payment.paid_at,
        pay_url=payment.pay_url,
        orders=[s.OrderBriefOut.model_validate(o) for o in orders],
    )


def wanted_of(data: s.CheckoutIn) -> list[Wanted]:
    return [Wanted(line.sku_id, line.quantity, line.session_id) for line in data.items]


@api.post("/checkout", response_model=s.PaymentOut, status_code=201)
async def api_checkout(data: s.CheckoutIn, uow: Uow, ctx: Services, user: CurrentUser) -> s.PaymentOut:
    """Order what is given (one order per supplier, units reserved) and create the one payment
    that pays them. Send an Idempotency-Key: a retry then returns this same payment. Open the
    payment with POST /payments/{id}/open; it must be paid before `expires_at`."""
    done = await a.checkout(
        uow,
        ctx.gate,
        ctx.payment_provider,
        user,
        wanted_of(data),
        data.address_id,
        pay_minutes=ctx.settings.order_pay_minutes,
        coupon_claim_id=data.coupon_claim_id,
    )
    return payment_out_of(done.payment, done.placed.orders)  # just written: no need to read them back


@api.get("/payments/{payment_id}", response_model=s.PaymentOut)
async def api_payment(payment_id: Id, uow: Uow, user: CurrentUser) -> s.PaymentOut:
    return await payment_out(uow, await a.payment_of_buyer(uow, user, payment_id))


@api.post("/payments/{payment_id}/open", response_model=s.PaymentOut)
async def api_open(payment_id: Id, request: Request, uow: Uow, ctx: Services, user: CurrentUser) -> s.PaymentOut:
    """Ask the provider for what the buyer pays with (once; a repeat returns the same)."""
    # The request's own transaction (who is asking) ends before the provider is called: it must
    # not hold a lock (on SQLite: the database) while the provider answers.
    await uow.commit()
    provider = ctx.payment_provider
    payment = await a.open_payment(
        ctx.uow, provider, user, payment_id, notify_url(ctx.settings, request, provider.name)
    )
    async with ctx.uow(write=False) as uow:
        return await payment_out(uow, payment)


@api.post("/payments/{payment_id}/cancel", response_model=s.PaymentOut)
async def api_cancel(payment_id: Id, uow: Uow, ctx: Services, user: CurrentUser) -> s.PaymentOut:
    """Give up an unpaid checkout: its orders are cancelled and their units return."""
    return await payment_out(uow, await a.cancel_payment(uow, ctx.gate, user, payment_id))


@api.post(NOTIFY_ROUTE, response_model=s.NotificationAck, include_in_schema=False)
async def api_notify(provider: str, request: Request, uow: Uow, ctx: Services) -> Response:
    """The provider's signed notification. A stale or forged one is refused (401) and changes
    nothing. A verified one is recorded once and acknowledged (2xx: the provider stops
    redelivering), with its outcome: applied (the payment is paid), refunding (paid after its
    orders closed: refunded automatically), ignored (a repeat, or nothing to change), or refused
    (a wrong amount or a payment that is not ours: recorded for review, never applied)."""
    source = ctx.payment_provider
    if provider != source.name:
        raise NotFound(N_("No such payment provider."))
    body = await request.body()
    try:
        notification = source.verify({k.lower(): v for k, v in request.headers.items()}, body)
    except BadNotification as exc:
        return problem_response(
            401, "bad_notification", gettext(N_("The notification was refused: %(reason)s"), reason=exc.reason)
        )
    outcome = await a.apply_notification(uow, ctx.gate, source.name, notification)
    ack = source.acknowledge(outcome.value)  # in the provider's own form, so that it stops
    return Response(ack.body, media_type=ack.media_type)
