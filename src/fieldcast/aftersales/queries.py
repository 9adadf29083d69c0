"""Reads of after-sales for the pages and the API: an order's requests (its buyer, and those who
decide), a supplier organisation's queue, an organiser's escalations. Each list is two queries
(the requests, then their photos), whatever its length."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.accounts.models import Organisation, Role, User
from fieldcast.accounts.permissions import require_org_role, require_user
from fieldcast.aftersales import schemas as s
from fieldcast.aftersales.models import RefundPhoto, RefundRequest, RefundRequestState
from fieldcast.catalog.models import Supplier
from fieldcast.commerce.models import Order
from fieldcast.errors import NotFound
from fieldcast.i18n import N_
from fieldcast.live.models import LiveSession

QUEUE_STATES = (RefundRequestState.REQUESTED, RefundRequestState.RETURNING, RefundRequestState.AWAITING_RETURN)
DECIDERS = (Role.SUPPLIER, Role.OWNER, Role.ORGANISER, Role.SUPERVISOR)


def media_url(path: str) -> str:
    return f"/media/{path}"


async def _outs(session: AsyncSession, rows: Sequence[RefundRequest]) -> list[s.RefundRequestOut]:
    photos: dict[int, list[s.PhotoOut]] = defaultdict(list)
    if rows:
        for p in await session.scalars(
            sa.select(RefundPhoto).where(RefundPhoto.request_id.in_([r.id for r in rows])).order_by(RefundPhoto.id)
        ):
            photos[p.request_id].append(s.PhotoOut(id=p.id, url=media_url(p.path), thumb_url=media_url(p.thumb_path)))
    return [
        s.RefundRequestOut(
            id=r.id,
            order_id=r.order_id,
            order_line_id=r.order_line_id,
            kind=r.kind,
            reason=r.reason,
            note=r.note,
            amount_fen=r.amount_fen,
            quantity=r.quantity,
            state=r.state,
            supplier_reason=r.supplier_reason,
            escalation_note=r.escalation_note,
            organiser_reason=r.organiser_reason,
            return_carrier=r.return_carrier,
            return_tracking_no=r.return_tracking_no,
            seconds_after_show_end=r.seconds_after_show_end,
            units_back=sum(int(v) for v in (r.returned_lines or {}).values()),
            created_at=r.created_at,
            decided_at=r.decided_at,
            escalated_at=r.escalated_at,
            arbitrated_at=r.arbitrated_at,
            returned_at=r.returned_at,
            refunded_at=r.refunded_at,
            auto_approved=r.decided_at is not None and r.decided_by is None,
            photos=photos[r.id],
        )
        for r in rows
    ]


async def request_out(session: AsyncSession, req: RefundRequest) -> s.RefundRequestOut:
    return (await _outs(session, [req]))[0]


async def order_requests(session: AsyncSession, actor: User | None, order_id: int) -> list[s.RefundRequestOut]:
    """An order's requests, oldest first: for its buyer and its organisation's deciders."""
    user = require_user(actor)
    order = await session.get(Order, order_id)
    if order is None:
        raise NotFound(N_("No such order."))
    if order.buyer_id != user.id:
        await require_org_role(session, user, order.organisation_id, *DECIDERS)
    rows = await session.scalars(
        sa.select(RefundRequest).where(RefundRequest.order_id == order_id).order_by(RefundRequest.id)
    )
    return await _outs(session, list(rows))


async def viewable_request(session: AsyncSession, actor: User | None, request_id: int) -> RefundRequest:
    user = require_user(actor)
    req = await session.get(RefundRequest, request_id)
    if req is None:
        raise NotFound(N_("No such refund request."))
    if req.buyer_id != user.id:
        await require_org_role(session, user, req.organisation_id, *DECIDERS)
    return req


async def supplier_queue(session: AsyncSession, actor: User | None, org: Organisation) -> list[s.RefundRequestOut]:
    """Requests waiting for the organisation's suppliers (an answer, or a return to receive),
    oldest first: the ones the upkeep approves soonest come first."""
    await require_org_role(session, actor, org.id, Role.SUPPLIER, Role.OWNER)
    rows = await session.scalars(
        sa.select(RefundRequest)
        .join(Supplier, Supplier.id == RefundRequest.supplier_id)
        .where(Supplier.organisation_id == org.id, RefundRequest.state.in_(QUEUE_STATES))
        .order_by(RefundRequest.created_at, RefundRequest.id)
        .limit(200)
    )
    return await _outs(session, list(rows))


async def escalations(session: AsyncSession, actor: User | None, org: Organisation) -> list[s.RefundRequestOut]:
    """Escalated requests on orders of the organisation's shows, oldest first."""
    await require_org_role(session, actor, org.id, Role.ORGANISER, Role.OWNER)
    rows = await session.scalars(
        sa.select(RefundRequest)
        .outerjoin(LiveSession, LiveSession.id == RefundRequest.session_id)
        .where(
            RefundRequest.state == RefundRequestState.ESCALATED,
            sa.func.coalesce(LiveSession.organisation_id, RefundRequest.organisation_id) == org.id,
        )
        .order_by(RefundRequest.escalated_at, RefundRequest.id)
        .limit(200)
    )
    return await _outs(session, list(rows))
