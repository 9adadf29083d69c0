"""Checkout and payments over HTTP: the JSON API (`api`) and the provider's notify endpoint.
Thin: parse, call one action, answer."""

from __future__ import annotations

from typing import Annotated, Protocol

import orjson
from fastapi import APIRouter, Depends, Request
from pydantic import StringConstraints
from starlette.responses import Response

from fieldcast.accounts.auth import CurrentUser
from fieldcast.accounts.permissions import require_user
from fieldcast.commerce.checkout import Wanted
from fieldcast.commerce.gate import RedisGate, StockGate
from fieldcast.config import Settings
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import NotFound
from fieldcast.i18n import N_, gettext
from fieldcast.inputs import Id
from fieldcast.payments import actions as a
from fieldcast.payments import claims
from fieldcast.payments import schemas as s
from fieldcast.payments.models import Payment
from fieldcast.payments.provider import BadNotification, PaymentProvider
from fieldcast.payments.schemas import payment_out_of
from fieldcast.web.api import PROBLEMS
from fieldcast.web.context import context_of
from fieldcast.web.deps import Uow
from fieldcast.web.problems import problem_response

api = APIRouter(prefix="/api/v1", responses=PROBLEMS, tags=["payments"])
# A claim id as the fast path makes them (payments/claims.py): anything else is no claim.
ClaimId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
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


def wanted_of(data: s.CheckoutIn) -> list[Wanted]:
    return [Wanted(line.sku_id, line.quantity, line.session_id) for line in data.items]


@api.post(
    "/checkout",
    response_model=s.PaymentOut,
    status_code=201,
    responses={
        202: {
            "model": s.ClaimOut,
            "description": "A flash sale's unit is yours (servers with Redis, a bearer token and an "
            "Idempotency-Key): the order is being written. Poll the Location (GET /checkout/claims/{claim_id}).",
        }
    },
)
async def api_checkout(data: s.CheckoutIn, uow: Uow, ctx: Services, user: CurrentUser) -> s.PaymentOut:
    """Order what is given (one order per supplier, units reserved) and create the one payment
    that pays them. Send an Idempotency-Key: a retry then returns this same payment. Open the
    payment with POST /payments/{id}/open; it must be paid before `expires_at`. In a flash sale
    the answer may be 202 with a claim instead: the unit is the buyer's and the order follows in
    a moment (payments/claims.py); a retry with the key then gets the claim, or the payment once
    it is written."""
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


@api.get(
    "/checkout/claims/{claim_id}",
    response_model=s.ClaimOut,
    responses={202: {"model": s.ClaimOut, "description": "Still being written: ask again in a second."}},
)
async def api_claim(claim_id: ClaimId, response: Response, ctx: Services, user: CurrentUser) -> s.ClaimOut:
    """A flash-sale claim (the 202 of POST /checkout): "pending" (202) while its order is being
    written, then "ordered" with the payment POST /checkout would have answered, or "failed" with
    the problem (the units went back on sale). The buyer's own claims only; kept for a day."""
    buyer = require_user(user)
    gate = ctx.gate
    record = await gate.claim_record(claim_id) if isinstance(gate, RedisGate) else None
    if record is None or record.get("user") != str(buyer.id):
        raise NotFound(N_("No such claim."))
    state = record.get("state", claims.PENDING)
    if state == claims.ORDERED:
        return s.ClaimOut(claim_id=claim_id, state=state, payment=s.PaymentOut.model_validate_json(record["result"]))
    if state == claims.FAILED:
        return s.ClaimOut(claim_id=claim_id, state=state, problem=orjson.loads(record["result"]))
    response.status_code = 202
    response.headers["Retry-After"] = "1"
    return s.ClaimOut(claim_id=claim_id, state=claims.PENDING)


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
