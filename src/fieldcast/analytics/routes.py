"""A show's figures over HTTP: minute by minute, and the totals with verified GMV beside raw."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query
from pydantic import BaseModel

from fieldcast.accounts.auth import CurrentUser
from fieldcast.accounts.models import Role
from fieldcast.accounts.permissions import require_org_role
from fieldcast.accounts.queries import roles_in_org
from fieldcast.analytics.report import session_report
from fieldcast.inputs import Id
from fieldcast.integrity.actions import DECIDERS, session_or_404
from fieldcast.integrity.gmv import standing_alerts
from fieldcast.integrity.routes import gmv_out
from fieldcast.integrity.schemas import GmvOut
from fieldcast.web.api import PROBLEMS
from fieldcast.web.deps import Uow

api = APIRouter(prefix="/api/v1", responses=PROBLEMS, tags=["analytics"])

# Who reads a show's figures: those who run it and those who oversee it (and platform admins).
READERS = (Role.OWNER, Role.ORGANISER, Role.HOST, Role.SUPERVISOR)


class _Audience(BaseModel):
    unique_viewers: int
    views: int
    likes: int
    flowers: int


class _Counted(BaseModel):
    """The figures counted from the rows beneath (rollup.COUNTED)."""

    comments: int
    orders: int
    units: int
    gmv_fen: int
    paid_orders: int
    paid_fen: int
    refunded_fen: int
    coupon_claims: int


class MinuteOut(_Counted, _Audience):
    minute: datetime
    viewers: int
    watch_s: float


class TotalsOut(_Counted, _Audience):
    peak_viewers: int
    buyers: int
    conversion: float
    avg_watch_s: float


class ProductOut(BaseModel):
    sku_id: int
    title: str
    spec_label: str
    units: int
    paid_fen: int
    available: int | None


class HostOut(BaseModel):
    host_id: int | None
    display_name: str
    orders: int
    paid_fen: int


class MetricsOut(BaseModel):
    session_id: int
    minutes: list[MinuteOut]
    totals: TotalsOut
    gmv: GmvOut
    products: list[ProductOut]
    hosts: list[HostOut]
    alerts_standing: int | None  # for those who decide alerts; None for the others


@api.get("/sessions/{session_id}/metrics", response_model=MetricsOut)
async def api_session_metrics(
    session_id: Id, uow: Uow, user: CurrentUser, since: datetime | None = Query(default=None)
) -> MetricsOut:
    """A show's figures minute by minute (from `since`, if given) and in all: viewers, likes,
    comments, orders, units, raw and paid GMV, refunds, coupon claims, buyers and conversion,
    with verified GMV beside raw; the shelf ranked by paid sales with the stock left; paid sales by
    the host explaining at the time; and, for those who decide alerts, how many stand. The
    organisation's owners, organisers, hosts and supervisors."""
    live = await session_or_404(uow, session_id)
    await require_org_role(uow.session, user, live.organisation_id, *READERS)
    report = await session_report(uow.session, live.id, since)
    t = report.totals
    totals = TotalsOut(
        peak_viewers=t.peak_viewers,
        unique_viewers=t.unique_viewers,
        views=t.views,
        likes=t.likes,
        flowers=t.flowers,
        buyers=t.buyers,
        conversion=round(t.conversion, 4),
        avg_watch_s=round(t.avg_watch_s, 1),
        **t.counted,
    )
    roles = await roles_in_org(uow.session, user.id, live.organisation_id) if user is not None else set()
    decides = user is not None and (user.is_platform_admin or bool(roles & set(DECIDERS)))
    return MetricsOut(
        session_id=live.id,
        minutes=[MinuteOut(**m) for m in report.minutes],
        totals=totals,
        gmv=gmv_out(report.gmv, session_id=live.id),
        products=[ProductOut(**vars(p)) for p in report.products],
        hosts=[HostOut(**vars(h)) for h in report.hosts],
        alerts_standing=len(await standing_alerts(uow.session, live.id)) if decides else None,
    )
