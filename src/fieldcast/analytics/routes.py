"""A show's figures over HTTP: minute by minute, and the totals with verified GMV beside raw."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from fieldcast.accounts.auth import CurrentUser
from fieldcast.accounts.models import Role, User
from fieldcast.accounts.permissions import require_org_role
from fieldcast.accounts.queries import roles_in_org
from fieldcast.analytics.postshow import PostShowReport, post_show_report
from fieldcast.analytics.report import Totals, session_report
from fieldcast.clips.schemas import SessionClipsOut
from fieldcast.db.base import utcnow
from fieldcast.db.uow import UnitOfWork
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
    totals = totals_out(report.totals)
    decides = await decides_alerts(uow, user, live.organisation_id)
    return MetricsOut(
        session_id=live.id,
        minutes=[MinuteOut(**m) for m in report.minutes],
        totals=totals,
        gmv=gmv_out(report.gmv, session_id=live.id),
        products=[ProductOut(**vars(p)) for p in report.products],
        hosts=[HostOut(**vars(h)) for h in report.hosts],
        alerts_standing=len(await standing_alerts(uow.session, live.id)) if decides else None,
    )


# -- the post-show report (analytics/postshow.py) ----------------------------------------------------


class MarkOut(BaseModel):
    sku_id: int
    product_title: str
    at: datetime
    until: datetime | None
    offset_s: float


class ProvinceOut(BaseModel):
    code: str
    name: str
    buyers: int
    orders: int
    paid_fen: int


class QuoteOut(BaseModel):
    text: str
    at: datetime
    positive: bool | None


class TagFeedbackOut(BaseModel):
    tag: str
    good: int
    bad: int
    quotes: list[QuoteOut]


class ReasonFeedbackOut(BaseModel):
    reason: str
    requests: int
    amount_fen: int
    refunded_fen: int
    quotes: list[QuoteOut]


class DeliveriesOut(BaseModel):
    paid: int
    shipped: int
    shipped_on_time: int
    shipped_late: int
    unshipped_overdue: int
    unshipped_due: int
    refunded_unshipped: int
    delivered: int
    on_the_way: int
    ship_hours_p50: float | None
    ship_hours_p90: float | None
    deliver_hours_p50: float | None
    deliver_hours_p90: float | None


class AlertTallyOut(BaseModel):
    rule: str
    severity: str
    open: int
    acknowledged: int
    false_alarm: int


class IntegrityOut(BaseModel):
    gmv: GmvOut
    alerts: list[AlertTallyOut] | None  # for those who decide alerts; None for the others
    report_url: str | None


class ReportOut(BaseModel):
    session_id: int
    title: str
    state: str
    started_at: datetime | None
    ended_at: datetime | None
    minutes: list[MinuteOut]
    marks: list[MarkOut]
    totals: TotalsOut
    products: list[ProductOut]
    hosts: list[HostOut]
    provinces: list[ProvinceOut]
    review_tags: list[TagFeedbackOut]
    refund_reasons: list[ReasonFeedbackOut]
    deliveries: DeliveriesOut
    integrity: IntegrityOut
    clips: SessionClipsOut = Field(
        description="The shoppable clips cut from the replay, each with its views, orders and paid GMV; "
        "their orders are at the shop price and are not in the show's own sales above."
    )


def totals_out(t: Totals) -> TotalsOut:
    return TotalsOut(
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


def report_out(r: PostShowReport, decides: bool) -> ReportOut:
    """The report as the API gives it (and as the page hands it to its charts)."""
    live, base, d = r.live, r.base, r.deliveries
    return ReportOut(
        session_id=live.id,
        title=live.title,
        state=live.state.value,
        started_at=live.started_at,
        ended_at=live.ended_at,
        minutes=[MinuteOut(**m) for m in base.minutes],
        marks=[MarkOut(**vars(m)) for m in r.marks],
        totals=totals_out(base.totals),
        products=[ProductOut(**vars(p)) for p in base.products],
        hosts=[HostOut(**vars(h)) for h in base.hosts],
        provinces=[ProvinceOut(**vars(p)) for p in r.provinces],
        review_tags=[
            TagFeedbackOut(tag=g.tag.value, good=g.good, bad=g.bad, quotes=[QuoteOut(**vars(q)) for q in g.quotes])
            for g in r.review_tags
        ],
        refund_reasons=[
            ReasonFeedbackOut(
                reason=g.reason.value,
                requests=g.requests,
                amount_fen=g.amount_fen,
                refunded_fen=g.refunded_fen,
                quotes=[QuoteOut(**vars(q)) for q in g.quotes],
            )
            for g in r.refund_reasons
        ],
        deliveries=DeliveriesOut(shipped=d.shipped, **vars(d)),
        integrity=IntegrityOut(
            gmv=gmv_out(base.gmv, session_id=live.id),
            alerts=[
                AlertTallyOut(
                    rule=a.rule,
                    severity=a.severity.value,
                    open=a.open,
                    acknowledged=a.acknowledged,
                    false_alarm=a.false_alarm,
                )
                for a in r.alerts
            ]
            if decides
            else None,
            report_url=f"/integrity/sessions/{live.id}" if decides else None,
        ),
        clips=r.clips,
    )


async def decides_alerts(uow: UnitOfWork, user: User | None, organisation_id: int) -> bool:
    """Whether this reader may see the show's alerts (and its integrity report)."""
    if user is None:
        return False
    roles = await roles_in_org(uow.session, user.id, organisation_id)
    return user.is_platform_admin or bool(roles & set(DECIDERS))


async def readable_report(uow: UnitOfWork, user: User | None, session_id: int) -> tuple[PostShowReport, bool]:
    """The show's report for one of READERS (others: refused); and whether they decide alerts."""
    live = await session_or_404(uow, session_id)
    await require_org_role(uow.session, user, live.organisation_id, *READERS)
    report = await post_show_report(uow.session, live, utcnow())
    return report, await decides_alerts(uow, user, live.organisation_id)


@api.get("/sessions/{session_id}/report", response_model=ReportOut)
async def api_session_report(session_id: Id, uow: Uow, user: CurrentUser) -> ReportOut:
    """The post-show report: the minutes with the "explaining now" marks, the totals, the shelf
    ranked, sales by host, buyers and paid money by province, review tags and after-sales reasons
    with counts and quotes, shipping against the ship-by promise, and the integrity summary (the
    alerts by rule and state only for those who decide them). The organisation's owners,
    organisers, hosts and supervisors, and platform admins."""
    report, decides = await readable_report(uow, user, session_id)
    return report_out(report, decides)
