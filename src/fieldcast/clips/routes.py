"""Clips over the JSON API under /api/v1. Thin: parse, call one action or query, answer. Writes
take an Idempotency-Key (web/idempotency.py): a retried cut asks for one clip, a retried checkout
places one order."""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from starlette.responses import Response

from fieldcast.accounts.auth import CurrentUser
from fieldcast.clips import actions as a
from fieldcast.clips import queries as q
from fieldcast.clips import schemas as s
from fieldcast.clips.models import Clip
from fieldcast.clips.tasks import ClipCutter
from fieldcast.commerce.gate import StockGate
from fieldcast.config import Settings
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import NotFound
from fieldcast.i18n import N_
from fieldcast.inputs import Id
from fieldcast.live.actions import require_session_operator
from fieldcast.live.routes import session_or_404
from fieldcast.payments import schemas as payment_schemas
from fieldcast.payments.provider import PaymentProvider
from fieldcast.payments.routes import wanted_of
from fieldcast.payments.schemas import payment_out_of
from fieldcast.realtime.room_feed import viewer_key
from fieldcast.web.api import PROBLEMS
from fieldcast.web.context import context_of
from fieldcast.web.deps import Uow

api = APIRouter(prefix="/api/v1", responses=PROBLEMS, tags=["clips"])


class ClipServices(Protocol):
    """What clips need of the process (the composition root's context)."""

    settings: Settings
    gate: StockGate
    payment_provider: PaymentProvider
    clip_cutter: ClipCutter

    def uow(self, *, write: bool = True) -> UnitOfWork: ...


def clip_services(request: Request) -> ClipServices:
    ctx: ClipServices = context_of(request)
    return ctx


Services = Annotated[ClipServices, Depends(clip_services)]


class ViewOut(BaseModel):
    counted: bool


async def clip_or_404(uow: UnitOfWork, key: str) -> Clip:
    clip = await q.load_clip(uow.session, key)
    if clip is None:
        raise NotFound(N_("No such clip."))
    return clip


async def visible_clip(uow: UnitOfWork, key: str, user: CurrentUser) -> tuple[Clip, bool]:
    """A clip the caller may see (public, or one they manage: pending, failed, unpublished) and
    whether they manage it; 404 for anyone else, so an unpublished clip's existence stays private."""
    clip = await clip_or_404(uow, key)
    manages = user is not None and await a.may_manage(uow, user, clip)
    if not manages and not q.is_public(clip):
        raise NotFound(N_("No such clip."))
    return clip, manages


@api.post("/sessions/{session_id}/clips", response_model=s.ClipOut, status_code=201)
async def api_create_clip(session_id: Id, data: s.ClipIn, uow: Uow, ctx: Services, user: CurrentUser) -> s.ClipOut:
    """Cut a clip from the show's replay: between start_s and end_s (5-180 s, inside the replay), or
    around mark_id. Answers at once with the clip `pending`; poll GET /clips/{id} until `ready`
    (or `failed`). Send an Idempotency-Key."""
    clip = await a.create_clip(
        uow,
        user,
        session_id,
        data,
        lead_s=ctx.settings.clip_lead_s,
        around_s=ctx.settings.clip_around_length_s,
        wake=ctx.clip_cutter.wake,
    )
    return q.clip_out(clip)


@api.get("/sessions/{session_id}/clips", response_model=s.SessionClipsOut)
async def api_session_clips(session_id: Id, uow: Uow, user: CurrentUser) -> s.SessionClipsOut:
    """The show's clips with their views, orders and paid GMV, and the totals (its operators)."""
    live = await session_or_404(uow, session_id)
    await require_session_operator(uow.session, user, live)
    return await q.clip_figures(uow.session, live.id)


@api.get("/clips/{key}", response_model=s.ClipFiguresOut | s.ClipOut)
async def api_clip(key: str, uow: Uow, user: CurrentUser) -> s.ClipOut:
    """A clip by id or share slug. Its operators also get its figures (views, orders, paid GMV)."""
    clip, manages = await visible_clip(uow, key, user)
    if not manages:
        return q.clip_out(clip)
    figures = await q.clip_figures(uow.session, clip.session_id)
    return next(x for x in figures.clips if x.id == clip.id)


@api.patch("/clips/{key}", response_model=s.ClipOut)
async def api_update_clip(key: str, data: s.ClipPatch, uow: Uow, user: CurrentUser) -> s.ClipOut:
    """Change the clip's product (a SKU of the show's shelf) or title, or unpublish / publish it."""
    clip = await clip_or_404(uow, key)
    return q.clip_out(await a.update_clip(uow, user, clip, data))


@api.delete("/clips/{key}", status_code=204)
async def api_delete_clip(key: str, uow: Uow, ctx: Services, user: CurrentUser) -> Response:
    """Delete the clip: its page and files go; the orders it brought stay counted for the show."""
    clip = await clip_or_404(uow, key)
    await a.delete_clip(uow, user, clip, media_dir=ctx.settings.resolved_media_dir)
    return Response(status_code=204)


@api.post("/clips/{key}/views", response_model=ViewOut)
async def api_clip_view(key: str, request: Request, uow: Uow, ctx: Services, user: CurrentUser) -> ViewOut:
    """The clip's page was opened: counted once per viewer (signed in, or the anonymous viewer id
    the page put in the session cookie) per FIELDCAST_CLIP_VIEW_WINDOW_S. A client with neither
    is not a viewer and is not counted."""
    clip = await clip_or_404(uow, key)
    who = f"u:{user.id}" if user is not None else viewer_key(request.session)
    counted = await a.record_view(uow, clip, who or "", window_s=ctx.settings.clip_view_window_s)
    return ViewOut(counted=counted)


@api.post("/clips/{key}/checkout", response_model=payment_schemas.PaymentOut, status_code=201)
async def api_clip_checkout(
    key: str, data: payment_schemas.CheckoutIn, uow: Uow, ctx: Services, user: CurrentUser
) -> payment_schemas.PaymentOut:
    """POST /checkout for the clip's product (storefront price), the orders attributed to the
    clip. Send an Idempotency-Key; open the payment with POST /payments/{id}/open."""
    clip = await clip_or_404(uow, key)
    done = await a.checkout_from_clip(
        uow,
        ctx.gate,
        ctx.payment_provider,
        user,
        clip,
        wanted_of(data),
        data.address_id,
        pay_minutes=ctx.settings.order_pay_minutes,
        coupon_claim_id=data.coupon_claim_id,
    )
    return payment_out_of(done.payment, done.placed.orders)
