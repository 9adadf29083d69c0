"""The post-show report as a page, its print view and its downloads.

- /live/<id>/report: charts over time with the "explaining now" marks, the shelf ranked, sales by
  host, buyers by province on a map of China, feedback grouped by tag with quotes, shipping against
  the promise and the integrity summary. `?print=1` is the same report without the site's header
  and footer, charts drawn as SVG and a page per section, for "Print → Save as PDF".
- /live/<id>/report.csv and .xlsx: its tables (a sheet each in XLSX), money in yuan, totals rows.

Who may read it: as the metrics API (routes.READERS); nobody signed in is sent to sign in first."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from fieldcast.accounts.auth import CurrentUser
from fieldcast.analytics.postshow import PostShowReport
from fieldcast.analytics.rollup import MINUTE
from fieldcast.analytics.routes import readable_report, report_out
from fieldcast.errors import NotFound
from fieldcast.i18n import N_, gettext
from fieldcast.inputs import Id
from fieldcast.integrity.exports import FORMATS, Column, Table, download_tables
from fieldcast.labels import label
from fieldcast.web.deps import Uow
from fieldcast.web.forms import safe_next, see_other
from fieldcast.web.templating import _local_time, render

pages = APIRouter(include_in_schema=False)


def _sign_in_first(request: Request) -> Response:
    return see_other(f"/signin?next={safe_next(request.url.path, '/')}")


@pages.get("/live/{session_id:int}/report")
async def report_page(session_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    if user is None:
        return _sign_in_first(request)
    report, decides = await readable_report(uow, user, session_id)
    printing = request.query_params.get("print") == "1"
    return render(
        request,
        "analytics/postshow.html",
        {
            "user": user,
            "r": report,
            "data": report_out(report, decides).model_dump(mode="json"),
            "decides": decides,
            "printing": printing,
            "bare": printing,
            "tables": report_tables(report),
        },
    )


@pages.get("/live/{session_id:int}/report.{fmt}")
async def report_download(session_id: Id, fmt: str, request: Request, uow: Uow, user: CurrentUser) -> Response:
    if fmt not in FORMATS:
        raise NotFound(N_("There is nothing at this address."))
    if user is None:
        return _sign_in_first(request)
    report, _decides = await readable_report(uow, user, session_id)
    return download_tables(report_tables(report), fmt, f"report-{report.live.id}")


# -- the tables (the page's and the downloads') ------------------------------------------------------


def _hours(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def report_tables(r: PostShowReport) -> list[Table]:
    """The report's tables: sales, minutes, products, hosts, provinces, feedback, deliveries."""
    base, t = r.base, r.base.totals
    g = base.gmv
    sales = Table(
        gettext(N_("Sales")),
        [
            Column(gettext(N_("Raw GMV (orders placed)")), money=True),
            Column(gettext(N_("Paid GMV")), money=True),
            Column(gettext(N_("Refunded")), money=True),
            Column(gettext(N_("Under alert")), money=True),
            Column(gettext(N_("Verified GMV")), money=True),
            Column(gettext(N_("Orders")), total=True),
            Column(gettext(N_("Paid orders"))),
            Column(gettext(N_("Buyers"))),
            Column(gettext(N_("Viewers in all"))),
            Column(gettext(N_("Most at once"))),
        ],
        [
            [
                g.raw_fen,
                g.paid_fen,
                g.refunded_fen,
                g.flagged_fen,
                g.verified_fen,
                g.orders,
                g.paid_orders,
                t.buyers,
                t.unique_viewers,
                t.peak_viewers,
            ]
        ],
        notes=[r.live.title],
    )
    explaining = _explaining_by_minute(r)
    minutes = Table(
        gettext(N_("Minutes")),
        [
            Column(gettext(N_("Minute"))),
            Column(gettext(N_("Explaining"))),
            Column(gettext(N_("Viewers"))),
            Column(gettext(N_("Viewers in all"))),
            Column(gettext(N_("Likes"))),
            Column(gettext(N_("Comments")), total=True),
            Column(gettext(N_("Orders")), total=True),
            Column(gettext(N_("Units")), total=True),
            Column(gettext(N_("Raw GMV (orders placed)")), money=True, total=True),
            Column(gettext(N_("Paid orders")), total=True),
            Column(gettext(N_("Paid GMV")), money=True, total=True),
            Column(gettext(N_("Refunded")), money=True, total=True),
            Column(gettext(N_("Coupons claimed")), total=True),
        ],
        [
            [
                _local_time(m["minute"], "yyyy-MM-dd HH:mm"),
                explaining.get(m["minute"], ""),
                m["viewers"],
                m["unique_viewers"],
                m["likes"],
                m["comments"],
                m["orders"],
                m["units"],
                m["gmv_fen"],
                m["paid_orders"],
                m["paid_fen"],
                m["refunded_fen"],
                m["coupon_claims"],
            ]
            for m in base.minutes
        ],
        totals_label=gettext(N_("Total")),
    )
    products = Table(
        gettext(N_("Products")),
        [
            Column(gettext(N_("Product"))),
            Column(gettext(N_("Specification"))),
            Column(gettext(N_("Units paid")), total=True),
            Column(gettext(N_("Paid sales")), money=True, total=True),
            Column(gettext(N_("Left"))),
        ],
        [[p.title, p.spec_label, p.units, p.paid_fen, p.available] for p in base.products],
        totals_label=gettext(N_("Total")),
    )
    hosts = Table(
        gettext(N_("Hosts")),
        [
            Column(gettext(N_("Host"))),
            Column(gettext(N_("Paid orders")), total=True),
            Column(gettext(N_("Paid sales")), money=True, total=True),
        ],
        [[h.display_name or gettext(N_("Nobody was explaining")), h.orders, h.paid_fen] for h in base.hosts],
        totals_label=gettext(N_("Total")),
    )
    provinces = Table(
        gettext(N_("Provinces")),
        [
            Column(gettext(N_("Province"))),
            Column(gettext(N_("Buyers")), total=True),
            Column(gettext(N_("Paid orders")), total=True),
            Column(gettext(N_("Paid sales")), money=True, total=True),
        ],
        [[p.name, p.buyers, p.orders, p.paid_fen] for p in r.provinces],
        totals_label=gettext(N_("Total")),
    )
    feedback_rows: list[list[Any]] = []
    for tag in r.review_tags:
        feedback_rows.append(
            [
                gettext(N_("Review tag")),
                label("review_tag", tag.tag.value),
                f"{label('review_tag_good', tag.tag.value)} / {label('review_tag_bad', tag.tag.value)}",
                tag.good,
                tag.bad,
                None,
                " | ".join(q.text for q in tag.quotes),
            ]
        )
    for reason in r.refund_reasons:
        feedback_rows.append(
            [
                gettext(N_("After-sales reason")),
                label("refund_reason", reason.reason.value),
                "",
                None,
                reason.requests,
                reason.amount_fen,
                " | ".join(q.text for q in reason.quotes),
            ]
        )
    feedback = Table(
        gettext(N_("Feedback")),
        [
            Column(gettext(N_("Kind"))),
            Column(gettext(N_("Group"))),
            Column(gettext(N_("Good / bad"))),
            Column(gettext(N_("Good")), total=True),
            Column(gettext(N_("Bad or requests")), total=True),
            Column(gettext(N_("Money asked back")), money=True, total=True),
            Column(gettext(N_("What buyers wrote"))),
        ],
        feedback_rows,
        totals_label=gettext(N_("Total")),
    )
    d = r.deliveries
    deliveries = Table(
        gettext(N_("Deliveries")),
        [Column(gettext(N_("Paid orders"))), Column(gettext(N_("Orders")), total=True)],
        [
            [gettext(N_("Shipped within the deadline")), d.shipped_on_time],
            [gettext(N_("Shipped late")), d.shipped_late],
            [gettext(N_("Not shipped, past the deadline")), d.unshipped_overdue],
            [gettext(N_("Not shipped, within the deadline")), d.unshipped_due],
            [gettext(N_("Refunded before shipping")), d.refunded_unshipped],
        ],
        totals_label=gettext(N_("Total")),
        notes=[
            gettext(
                N_("Hours to ship: median %(p50)s, 90%% within %(p90)s"),
                p50=_hours(d.ship_hours_p50),
                p90=_hours(d.ship_hours_p90),
            ),
            gettext(
                N_("Hours from payment to delivery: median %(p50)s, 90%% within %(p90)s"),
                p50=_hours(d.deliver_hours_p50),
                p90=_hours(d.deliver_hours_p90),
            ),
            gettext(
                N_("Delivered: %(delivered)s · on the way: %(on_the_way)s"),
                delivered=d.delivered,
                on_the_way=d.on_the_way,
            ),
        ],
    )
    c = r.clips
    clips = Table(
        gettext(N_("Clips")),
        [
            Column(gettext(N_("Clip"))),
            Column(gettext(N_("Link"))),
            Column(gettext(N_("Views")), total=True),
            Column(gettext(N_("Orders")), total=True),
            Column(gettext(N_("Paid orders")), total=True),
            Column(gettext(N_("Paid sales")), money=True, total=True),
            Column(gettext(N_("Refunded")), money=True, total=True),
        ],
        [[x.title, x.page_url, x.views, x.orders, x.paid_orders, x.paid_gmv_fen, x.refunded_fen] for x in c.clips],
        totals_label=gettext(N_("Total")),
    )
    return [sales, minutes, products, hosts, provinces, feedback, deliveries, clips]


def _explaining_by_minute(r: PostShowReport) -> dict[Any, str]:
    """What was being explained during each minute (every product explained in it, in order)."""
    out: dict[Any, str] = {}
    for m in r.base.minutes:
        start = m["minute"]
        end = start + MINUTE
        titles = [x.product_title for x in r.marks if x.at < end and (x.until is None or x.until > start)]
        out[start] = " / ".join(dict.fromkeys(titles))
    return out
