"""Campaigns and the roll-up reports over HTTP (/api/v1/campaigns, /api/v1/reports/...).

Filters are query parameters: `from`, `to` (YYYY-MM-DD, Beijing days of the shows' schedule),
`host_kind` (a HostKind) and `region` (a division code to drill into). Who may read what:
analytics/campaigns.py."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, StringConstraints
from starlette.responses import Response

from fieldcast.accounts.auth import CurrentUser
from fieldcast.accounts.routes import org_or_404
from fieldcast.analytics import campaigns as c
from fieldcast.analytics import reports as r
from fieldcast.analytics.campaign_models import (
    CAMPAIGN_DESCRIPTION_MAX,
    CAMPAIGN_NAME_MAX,
    CAMPAIGN_PARTICIPANTS_MAX,
    CAMPAIGN_SLUG_MAX,
    Campaign,
)
from fieldcast.analytics.rollups import Figures
from fieldcast.db.base import utcnow
from fieldcast.db.uow import UnitOfWork
from fieldcast.inputs import Id
from fieldcast.web.api import PROBLEMS, In, text
from fieldcast.web.deps import Uow

api = APIRouter(prefix="/api/v1", responses=PROBLEMS, tags=["campaigns"])


class ReportQuery(BaseModel):
    """The filters every report takes (read again by reports.parse_filter, which names a bad one)."""

    model_config = {"populate_by_name": True}

    date_from: str | None = Field(default=None, alias="from", description="First day (Beijing), YYYY-MM-DD.")
    date_to: str | None = Field(default=None, alias="to", description="Last day (Beijing), YYYY-MM-DD, included.")
    host_kind: str | None = Field(default=None, description="Only shows with a verified host of this kind.")
    region: str | None = Field(default=None, description="A division code to drill into.")


Filters = Annotated[ReportQuery, Query()]


def _filter(q: ReportQuery) -> r.ReportFilter:
    raw = {"from": q.date_from, "to": q.date_to, "host_kind": q.host_kind, "region": q.region}
    return r.parse_filter({k: v for k, v in raw.items() if v is not None})


Slug = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        min_length=3,
        max_length=CAMPAIGN_SLUG_MAX,
        pattern=r"^[a-z0-9][a-z0-9-]*[a-z0-9]$",
    ),
]
Participants = Annotated[list[Id], Field(max_length=CAMPAIGN_PARTICIPANTS_MAX)]


class CampaignIn(In):
    organisation_id: Id = Field(description="The organisation running the campaign (a verified government office).")
    slug: Slug
    name: text(2, CAMPAIGN_NAME_MAX, one_line=True)  # type: ignore[valid-type]
    description: text(0, CAMPAIGN_DESCRIPTION_MAX) = ""  # type: ignore[valid-type]
    starts_on: date = Field(description="First day (Beijing) of the period.")
    ends_on: date = Field(description="Last day (Beijing) of the period, included.")
    organisation_ids: Participants = Field(
        default_factory=list, description="The organisations taking part: their shows in the period count."
    )


class CampaignPatch(In):
    name: text(2, CAMPAIGN_NAME_MAX, one_line=True) | None = None  # type: ignore[valid-type]
    description: text(0, CAMPAIGN_DESCRIPTION_MAX) | None = None  # type: ignore[valid-type]
    starts_on: date | None = None
    ends_on: date | None = None
    organisation_ids: Participants | None = None


class CampaignOut(BaseModel):
    id: int
    organisation_id: int
    slug: str
    name: str
    description: str
    starts_on: date
    ends_on: date
    starts_at: datetime
    ends_at: datetime
    organisation_ids: list[int]
    is_demo: bool


class FiguresOut(BaseModel):
    shows: int
    hosts: int
    orders: int
    paid_orders: int
    raw_fen: int
    paid_fen: int
    refunded_fen: int
    flagged_fen: int
    verified_fen: int
    refunded_orders: int
    refund_rate: float = Field(description="Refunded money ÷ paid money.")
    refund_order_rate: float = Field(description="Orders with money refunded ÷ paid orders.")
    suppliers: int
    farmers: int
    delivered_orders: int
    avg_delivery_h: float | None = Field(description="Mean hours from payment to delivery; null: none delivered.")
    clip_views: int = Field(description="Views of the shoppable clips cut from these shows' replays.")
    clip_orders: int = Field(description="Orders placed from those clips (at the shop price; not in `orders`).")
    clip_paid_fen: int = Field(description="Those orders' paid money, before refunds.")


class RowOut(BaseModel):
    key: str
    label: str
    figures: FiguresOut


class ReportOut(BaseModel):
    kind: str
    title: str
    date_from: date | None
    date_to: date | None
    host_kind: str | None
    region: str | None
    totals: FiguresOut
    regions: list[RowOut]
    organisations: list[RowOut]
    events: list[RowOut]
    shows: list[RowOut]
    shows_cut: bool
    generated_at: datetime


def figures_out(f: Figures) -> FiguresOut:
    return FiguresOut(
        shows=f.shows,
        hosts=len(f.hosts),
        orders=f.orders,
        paid_orders=f.paid_orders,
        raw_fen=f.raw_fen,
        paid_fen=f.paid_fen,
        refunded_fen=f.refunded_fen,
        flagged_fen=f.flagged_fen,
        verified_fen=f.verified_fen,
        refunded_orders=f.refunded_orders,
        refund_rate=round(f.refund_rate, 4),
        refund_order_rate=round(f.refund_order_rate, 4),
        suppliers=len(f.suppliers),
        farmers=len(f.farmers),
        delivered_orders=f.delivered_orders,
        avg_delivery_h=None if f.avg_delivery_h is None else round(f.avg_delivery_h, 2),
        clip_views=f.clip_views,
        clip_orders=f.clip_orders,
        clip_paid_fen=f.clip_paid_fen,
    )


def report_out(rep: r.Report) -> ReportOut:
    def rows(items: list[r.Row]) -> list[RowOut]:
        return [RowOut(key=x.key, label=x.label, figures=figures_out(x.figures)) for x in items]

    return ReportOut(
        kind=rep.kind,
        title=rep.title,
        date_from=rep.filters.date_from,
        date_to=rep.filters.date_to,
        host_kind=rep.filters.host_kind.value if rep.filters.host_kind else None,
        region=rep.filters.region,
        totals=figures_out(rep.totals),
        regions=rows(rep.regions),
        organisations=rows(rep.organisations),
        events=rows(rep.events),
        shows=rows(rep.shows),
        shows_cut=rep.shows_cut,
        generated_at=utcnow(),
    )


async def campaign_out(uow: UnitOfWork, campaign: Campaign) -> CampaignOut:
    return CampaignOut(
        id=campaign.id,
        organisation_id=campaign.organisation_id,
        slug=campaign.slug,
        name=campaign.name,
        description=campaign.description,
        starts_on=c.local_day(campaign.starts_at),
        ends_on=c.local_day(campaign.ends_at - timedelta(days=1)),
        starts_at=campaign.starts_at,
        ends_at=campaign.ends_at,
        organisation_ids=await c.participant_ids_of(uow, campaign.id),
        is_demo=campaign.is_demo,
    )


@api.get("/campaigns", response_model=list[CampaignOut])
async def api_campaigns(uow: Uow, user: CurrentUser) -> list[CampaignOut]:
    """The campaigns the caller may read (platform admins: all)."""
    return [await campaign_out(uow, x) for x in await c.visible_campaigns(uow, user)]


@api.post("/campaigns", response_model=CampaignOut, status_code=201)
async def api_create_campaign(data: CampaignIn, uow: Uow, user: CurrentUser) -> CampaignOut:
    """Platform admins, or owners and organisers of a verified government organisation (which may
    list only organisations inside its jurisdiction). Send an Idempotency-Key to retry safely."""
    campaign = await c.create_campaign(
        uow,
        user,
        c.CampaignData(
            organisation_id=data.organisation_id,
            slug=data.slug,
            name=data.name,
            description=data.description,
            starts_on=data.starts_on,
            ends_on=data.ends_on,
            participant_ids=list(data.organisation_ids),
        ),
    )
    return await campaign_out(uow, campaign)


@api.get("/campaigns/{campaign_id}", response_model=CampaignOut)
async def api_campaign(campaign_id: Id, uow: Uow, user: CurrentUser) -> CampaignOut:
    campaign = await c.campaign_or_404(uow, campaign_id)
    await c.require_campaign_reader(uow, user, campaign)
    return await campaign_out(uow, campaign)


@api.patch("/campaigns/{campaign_id}", response_model=CampaignOut)
async def api_update_campaign(campaign_id: Id, data: CampaignPatch, uow: Uow, user: CurrentUser) -> CampaignOut:
    campaign = await c.campaign_or_404(uow, campaign_id)
    campaign = await c.update_campaign(
        uow,
        user,
        campaign,
        name=data.name,
        description=data.description,
        starts_on=data.starts_on,
        ends_on=data.ends_on,
        participant_ids=None if data.organisation_ids is None else list(data.organisation_ids),
    )
    return await campaign_out(uow, campaign)


@api.delete("/campaigns/{campaign_id}", status_code=204)
async def api_delete_campaign(campaign_id: Id, uow: Uow, user: CurrentUser) -> Response:
    campaign = await c.campaign_or_404(uow, campaign_id)
    await c.delete_campaign(uow, user, campaign)
    return Response(status_code=204)


@api.get("/campaigns/{campaign_id}/report", response_model=ReportOut)
async def api_campaign_report(campaign_id: Id, q: Filters, uow: Uow, user: CurrentUser) -> ReportOut:
    """Shows and hosts, orders, raw and verified GMV, suppliers and farmers reached, refund rate and
    average delivery time, in all and by region, organisation and show. The campaign's organisation's
    owners, organisers and supervisors (and platform admins)."""
    campaign = await c.campaign_or_404(uow, campaign_id)
    await c.require_campaign_reader(uow, user, campaign)
    flt = _filter(q)
    participants = await c.participant_ids_of(uow, campaign.id)
    return report_out(await r.campaign_report(uow.session, campaign, participants, flt))


@api.get("/reports/regions", response_model=ReportOut)
async def api_country_report(q: Filters, uow: Uow, user: CurrentUser) -> ReportOut:
    """The whole country by province (platform admins), or with `region`, that region."""
    flt = _filter(q)
    await c.require_region_reader(uow, user, flt.region)
    return report_out(await r.region_report(uow.session, None, flt))


@api.get("/reports/organisations/{slug}", response_model=ReportOut)
async def api_organisation_report(slug: str, q: Filters, uow: Uow, user: CurrentUser) -> ReportOut:
    """One organisation's shows in all, by event and by show: its owners, organisers and supervisors."""
    org = await org_or_404(uow, slug)
    await c.require_organisation_reader(uow, user, org)
    return report_out(await r.organisation_report(uow.session, org, _filter(q)))
