"""After-sales over HTTP: the JSON API under /api/v1 for refund requests (the buyer's, the
supplier's queue, the organiser's escalations). Thin: parse, call one action or query, answer.
Every write takes an Idempotency-Key (web/idempotency.py): a retried request gets the first
answer and never asks for a second refund."""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import APIRouter, Depends, File, Request, UploadFile

from fieldcast.accounts.auth import CurrentUser
from fieldcast.accounts.routes import org_or_404
from fieldcast.aftersales import actions as a
from fieldcast.aftersales import queries as q
from fieldcast.aftersales import schemas as s
from fieldcast.catalog.images import MAX_IMAGE_BYTES
from fieldcast.commerce.gate import StockGate
from fieldcast.config import Settings
from fieldcast.inputs import Id
from fieldcast.web.api import PROBLEMS
from fieldcast.web.context import context_of
from fieldcast.web.deps import Uow

api = APIRouter(prefix="/api/v1", responses=PROBLEMS, tags=["after-sales"])


class AftersalesServices(Protocol):
    settings: Settings
    gate: StockGate


def aftersales_services(request: Request) -> AftersalesServices:
    ctx: AftersalesServices = context_of(request)
    return ctx


Services = Annotated[AftersalesServices, Depends(aftersales_services)]


def asked_of(data: s.RefundRequestIn) -> a.Asked:
    return a.Asked(
        kind=data.kind,
        reason=data.reason,
        amount_fen=data.amount_fen,
        quantity=data.quantity,
        order_line_id=data.order_line_id,
        note=data.note,
        return_carrier=data.return_carrier,
        return_tracking_no=data.return_tracking_no,
    )


@api.get("/orders/{order_id}/refund-requests", response_model=list[s.RefundRequestOut])
async def api_order_requests(order_id: Id, uow: Uow, user: CurrentUser) -> list[s.RefundRequestOut]:
    """An order's refund requests, oldest first (its buyer, and its organisation's deciders)."""
    return await q.order_requests(uow.session, user, order_id)


@api.post("/orders/{order_id}/refund-requests", response_model=s.RefundRequestOut, status_code=201)
async def api_open_request(order_id: Id, data: s.RefundRequestIn, uow: Uow, user: CurrentUser) -> s.RefundRequestOut:
    """The buyer asks for money back: `refund_only` while paid (units not shipped go back on
    sale) or shipped and never came; `return_and_refund` once delivered. One open request per
    order; `amount_fen` at most what is left to refund (of `order_line_id`'s line when given)."""
    return await q.request_out(uow.session, await a.open_request(uow, user, order_id, asked_of(data)))


@api.get("/refund-requests/{request_id}", response_model=s.RefundRequestOut)
async def api_request(request_id: Id, uow: Uow, user: CurrentUser) -> s.RefundRequestOut:
    return await q.request_out(uow.session, await q.viewable_request(uow.session, user, request_id))


@api.post("/refund-requests/{request_id}/photos", response_model=s.RefundRequestOut, status_code=201)
async def api_add_photo(
    request_id: Id,
    uow: Uow,
    ctx: Services,
    user: CurrentUser,
    photo: Annotated[UploadFile, File(description="JPEG, PNG or WebP, at most 8 MB; at most 3 per request")],
) -> s.RefundRequestOut:
    """A photo of the goods, re-encoded without its metadata (location, device)."""
    data = await photo.read(MAX_IMAGE_BYTES + 1)
    await a.add_photo(uow, user, request_id, data, ctx.settings.resolved_media_dir)
    return await q.request_out(uow.session, await a.request_or_404(uow, request_id))


@api.post("/refund-requests/{request_id}/approve", response_model=s.RefundRequestOut)
async def api_approve(request_id: Id, uow: Uow, ctx: Services, user: CurrentUser) -> s.RefundRequestOut:
    """The supplier agrees (supplier or owner role in the supplier's organisation)."""
    return await q.request_out(uow.session, await a.approve(uow, ctx.gate, user, request_id))


@api.post("/refund-requests/{request_id}/reject", response_model=s.RefundRequestOut)
async def api_reject(request_id: Id, data: s.RejectIn, uow: Uow, user: CurrentUser) -> s.RefundRequestOut:
    """The supplier refuses, saying why; the buyer may then escalate to the show's organiser."""
    return await q.request_out(uow.session, await a.reject(uow, user, request_id, data.reason))


@api.post("/refund-requests/{request_id}/escalate", response_model=s.RefundRequestOut)
async def api_escalate(
    request_id: Id, uow: Uow, user: CurrentUser, data: s.EscalateIn | None = None
) -> s.RefundRequestOut:
    """The buyer takes a rejected request to the organiser."""
    note = data.note if data is not None else ""
    return await q.request_out(uow.session, await a.escalate(uow, user, request_id, note))


@api.post("/refund-requests/{request_id}/arbitrate", response_model=s.RefundRequestOut)
async def api_arbitrate(
    request_id: Id, data: s.ArbitrateIn, uow: Uow, ctx: Services, user: CurrentUser
) -> s.RefundRequestOut:
    """The organiser (or owner) of the show's organisation decides an escalated request."""
    req = await a.arbitrate(uow, ctx.gate, user, request_id, grant=data.grant, reason=data.reason)
    return await q.request_out(uow.session, req)


@api.post("/refund-requests/{request_id}/return", response_model=s.RefundRequestOut)
async def api_send_return(request_id: Id, data: s.ReturnIn, uow: Uow, user: CurrentUser) -> s.RefundRequestOut:
    """The buyer sent the goods back: the carrier and its tracking number."""
    req = await a.send_return(uow, user, request_id, data.return_carrier, data.return_tracking_no)
    return await q.request_out(uow.session, req)


@api.post("/refund-requests/{request_id}/return-received", response_model=s.RefundRequestOut)
async def api_return_received(request_id: Id, uow: Uow, ctx: Services, user: CurrentUser) -> s.RefundRequestOut:
    """The supplier received the goods back: they go back on sale, the money back to the buyer."""
    return await q.request_out(uow.session, await a.confirm_return(uow, ctx.gate, user, request_id))


@api.get("/organisations/{slug}/refund-requests", response_model=list[s.RefundRequestOut])
async def api_supplier_queue(slug: str, uow: Uow, user: CurrentUser) -> list[s.RefundRequestOut]:
    """Requests waiting for the organisation's suppliers, oldest first."""
    org = await org_or_404(uow, slug)
    return await q.supplier_queue(uow.session, user, org)


@api.get("/organisations/{slug}/refund-escalations", response_model=list[s.RefundRequestOut])
async def api_escalations(slug: str, uow: Uow, user: CurrentUser) -> list[s.RefundRequestOut]:
    """Escalated requests on orders of the organisation's shows, for its organisers."""
    org = await org_or_404(uow, slug)
    return await q.escalations(uow.session, user, org)
