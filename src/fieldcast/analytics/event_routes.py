"""An event's figures over HTTP (`GET /api/v1/events/<slug>/metrics`), read by the big screen
every few seconds: the rooms with their counters and sales, the totals with verified GMV beside
raw, the leaderboard, the products sold and the buyers by province (analytics/event.py)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel

from fieldcast.accounts.auth import CurrentUser
from fieldcast.accounts.models import User
from fieldcast.accounts.permissions import require_org_role
from fieldcast.analytics.event import EventReport, RoomFigures, event_report
from fieldcast.analytics.routes import READERS, TotalsOut, totals_out
from fieldcast.analytics.screen_links import granted
from fieldcast.db.base import utcnow
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import NotFound
from fieldcast.i18n import N_
from fieldcast.integrity.routes import gmv_out
from fieldcast.integrity.schemas import GmvOut
from fieldcast.live.models import LiveEvent
from fieldcast.live.queries import load_event
from fieldcast.web.api import PROBLEMS
from fieldcast.web.context import context_of
from fieldcast.web.deps import Uow

api = APIRouter(prefix="/api/v1", responses=PROBLEMS, tags=["analytics"])

KEY_MAX = 100  # an event's slug or id as the path gives it
ID_MAX = 2**63 - 1


class EventRef(BaseModel):
    id: int
    slug: str
    title: str
    starts_at: datetime
    ends_at: datetime


class EventTotalsOut(TotalsOut):
    rooms: int
    live_rooms: int
    viewers: int | None  # on now in the live rooms; None when the counters could not be read


class RoomOut(BaseModel):
    session_id: int
    title: str
    state: str
    started_at: datetime | None
    ended_at: datetime | None
    hosts: list[str]
    viewers: int | None  # on now (live rooms); None otherwise or when unreadable
    totals: TotalsOut
    gmv: GmvOut


class RankOut(BaseModel):
    rank: int
    session_id: int
    title: str
    paid_fen: int
    verified_fen: int
    paid_orders: int


class EventProductOut(BaseModel):
    sku_id: int
    title: str
    spec_label: str
    units: int
    paid_fen: int


class ProvinceOut(BaseModel):
    code: str
    name: str
    buyers: int
    paid_orders: int
    paid_fen: int


class PurchaseOut(BaseModel):
    """A purchase as the ticker shows it: the buyer's province only, never a name."""

    paid_at: datetime
    session_id: int
    province: str
    title: str
    quantity: int


class EventMetricsOut(BaseModel):
    event: EventRef
    as_of: datetime
    totals: EventTotalsOut
    gmv: GmvOut
    rooms: list[RoomOut]
    leaderboard: list[RankOut]
    products: list[EventProductOut]
    provinces: list[ProvinceOut]
    purchases: list[PurchaseOut]  # the last few, newest first


def _room_out(r: RoomFigures) -> RoomOut:
    return RoomOut(
        session_id=r.session_id,
        title=r.title,
        state=r.state.value,
        started_at=r.started_at,
        ended_at=r.ended_at,
        hosts=r.hosts,
        viewers=r.viewers,
        totals=totals_out(r.totals),
        gmv=gmv_out(r.gmv, session_id=r.session_id),
    )


def metrics_out(report: EventReport) -> EventMetricsOut:
    e = report.event
    return EventMetricsOut(
        event=EventRef(id=e.id, slug=e.slug, title=e.title, starts_at=e.starts_at, ends_at=e.ends_at),
        as_of=utcnow(),
        totals=EventTotalsOut(
            **totals_out(report.totals).model_dump(),
            rooms=len(report.rooms),
            live_rooms=report.live_rooms,
            viewers=report.viewers,
        ),
        gmv=gmv_out(report.gmv),
        rooms=[_room_out(r) for r in report.rooms],
        leaderboard=[
            RankOut(
                rank=n,
                session_id=r.session_id,
                title=r.title,
                paid_fen=r.gmv.paid_fen,
                verified_fen=r.gmv.verified_fen,
                paid_orders=r.gmv.paid_orders,
            )
            for n, r in enumerate(report.leaderboard, start=1)
        ],
        products=[EventProductOut(**vars(p)) for p in report.products],
        provinces=[ProvinceOut(**vars(p)) for p in report.provinces],
        purchases=[PurchaseOut(**vars(p)) for p in report.purchases],
    )


async def readable_event(
    uow: UnitOfWork, user: User | None, key: str, cookie: Mapping[str, object] | None = None
) -> LiveEvent:
    """The event (by slug or id) if its figures may be read here: by the event organisation's
    owners, organisers, hosts and supervisors, platform admins, or a browser that opened the
    event's projector link while it stands (its session `cookie`). NotFound / NotAllowed."""
    if len(key) > KEY_MAX or (key.isdigit() and int(key) > ID_MAX):
        raise NotFound(N_("No such event."))  # no slug is that long, no id that large
    event = await load_event(uow.session, key)
    if event is None:
        raise NotFound(N_("No such event."))
    if cookie is not None and await granted(uow.session, cookie, event.id):
        return event
    await require_org_role(uow.session, user, event.organisation_id, *READERS)
    return event


async def event_metrics(request: Request, uow: UnitOfWork, event: LiveEvent) -> EventMetricsOut:
    counters = context_of(request).room_hub.counters
    return metrics_out(await event_report(uow.session, event, counters))


@api.get("/events/{key}/metrics", response_model=EventMetricsOut)
async def api_event_metrics(key: str, request: Request, uow: Uow, user: CurrentUser) -> EventMetricsOut:
    """An event's figures: every room (state, viewers on now, peak, unique viewers, likes, orders,
    units, raw/paid/refunded/flagged/verified GMV, buyers, conversion), the event's totals (sums
    of the rooms'; buyers distinct across the event), the rooms ranked by paid GMV, the top
    products across the event and paying buyers and paid money by province (province only). The
    event organisation's owners, organisers, hosts and supervisors, and platform admins."""
    event = await readable_event(uow, user, key, request.session)
    return await event_metrics(request, uow, event)
