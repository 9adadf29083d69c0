"""Coupons over HTTP (JSON under /api/v1): issue and list an organisation's batches, a room's
coupons, claim one, the buyer's coupons and which apply to a checkout. Thin: parse, call one
action or query, answer. Writes take an Idempotency-Key (web/idempotency.py): a retried claim
answers the first claim, never a second one."""

from __future__ import annotations

from fastapi import APIRouter

from fieldcast.accounts.auth import CurrentUser
from fieldcast.accounts.routes import org_or_404
from fieldcast.commerce.coupons import actions as a
from fieldcast.commerce.coupons import queries as q
from fieldcast.commerce.coupons import schemas as s
from fieldcast.commerce.coupons.models import CouponBatch, CouponClaim
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import NotFound
from fieldcast.i18n import N_
from fieldcast.inputs import Id
from fieldcast.web.api import PROBLEMS, Limit, Offset, Page
from fieldcast.web.deps import Uow

api = APIRouter(prefix="/api/v1", responses=PROBLEMS, tags=["coupons"])


async def claim_out(uow: UnitOfWork, found: CouponClaim) -> s.ClaimOut:
    batch = await uow.session.get(CouponBatch, found.batch_id)
    if batch is None:
        raise NotFound(N_("No such coupon."))
    await uow.session.refresh(batch)
    return s.ClaimOut(
        id=found.id, state=found.state, claimed_at=found.claimed_at, used_at=found.used_at, batch=q.batch_out(batch)
    )


@api.post("/organisations/{slug}/coupons", response_model=s.CouponBatchOut, status_code=201)
async def api_create_batch(slug: str, data: s.CouponBatchIn, uow: Uow, user: CurrentUser) -> s.CouponBatchOut:
    """Issue a batch. Session coupons: the organisation's owners and organisers; store and product
    coupons: also its supplier-role members."""
    org = await org_or_404(uow, slug)
    return q.batch_out(await a.create_batch(uow, user, org, data))


@api.get("/organisations/{slug}/coupons", response_model=Page[s.CouponBatchOut])
async def api_organisation_batches(
    slug: str, uow: Uow, user: CurrentUser, limit: Limit = 20, offset: Offset = 0
) -> Page[s.CouponBatchOut]:
    org = await org_or_404(uow, slug)
    items, total = await q.organisation_batches(uow.session, user, org, limit=limit, offset=offset)
    return Page(items=items, total=total, limit=limit, offset=offset)


@api.get("/sessions/{session_id}/coupons", response_model=list[s.RoomCouponOut])
async def api_room_coupons(session_id: Id, uow: Uow, user: CurrentUser) -> list[s.RoomCouponOut]:
    """The coupons handed out in a live room that can still be claimed (or soon), with the
    viewer's claim of each."""
    return await q.room_coupons(uow.session, session_id, user.id if user else None)


@api.post("/coupons/{batch_id}/claim", response_model=s.ClaimOut, status_code=201)
async def api_claim(batch_id: Id, uow: Uow, user: CurrentUser) -> s.ClaimOut:
    """Claim one coupon of the batch: one per buyer, within its claim window, while any are left."""
    return await claim_out(uow, await a.claim(uow, user, batch_id))


@api.get("/me/coupons", response_model=list[s.ClaimOut])
async def api_my_coupons(uow: Uow, user: CurrentUser) -> list[s.ClaimOut]:
    return await q.claims_of(uow.session, user)
