"""Pages of campaigns and the roll-up reports.

- /campaigns: the campaigns the reader may open; /campaigns/new: the form (errors shown on it);
- /campaigns/<slug>: the campaign's report with its filters, by region (click to drill down
  province → city → county), organisation and show; /campaigns/<slug>/report.<csv|xlsx> and
  /campaigns/<slug>/print (for PDF through the browser);
- /reports/regions[?region=<code>]: a region's report, with the same exports and print view;
- /reports/organisations/<slug>: an organisation's report, by event and show.
Who may read which: analytics/campaigns.py."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from starlette.responses import Response

from fieldcast.accounts.auth import CurrentUser
from fieldcast.accounts.models import HostKind, Organisation, User
from fieldcast.accounts.routes import org_or_404
from fieldcast.analytics import campaigns as c
from fieldcast.analytics import reports as r
from fieldcast.analytics.campaign_routes import CampaignIn
from fieldcast.catalog import regions
from fieldcast.db.base import utcnow
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import Invalid, NotAllowed, NotAuthenticated, NotFound
from fieldcast.i18n import N_, gettext
from fieldcast.integrity.exports import FORMATS, download_tables
from fieldcast.web.deps import Uow
from fieldcast.web.forms import Form, read_raw_form, safe_next, see_other, submit, validate_into
from fieldcast.web.templating import render

pages = APIRouter(include_in_schema=False)


def _sign_in_first(request: Request) -> Response:
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return see_other(f"/signin?next={safe_next(path, '/')}")


def _filters(request: Request) -> tuple[r.ReportFilter, dict[str, str]]:
    """The report's filters, or none and the message per field when one is unreadable."""
    try:
        return r.parse_filter(dict(request.query_params)), {}
    except Invalid as exc:
        return r.ReportFilter(), {exc.field or "": gettext(exc.message, **exc.params)}


def _format_or_404(fmt: str) -> str:
    if fmt not in FORMATS:
        raise NotFound(N_("No such format."))
    return fmt


def _show_report(
    request: Request,
    user: User,
    report: r.Report,
    errors: dict[str, str],
    base: str,
    *,
    print_view: bool = False,
    floors: list[str] | None = None,
) -> Response:
    """`floors`: for a region report read through a jurisdiction, the regions the reader may open
    (the region path links only those and what lies under them)."""
    status = 422 if errors else 200
    path = report.region_path
    if floors is not None and not user.is_platform_admin:
        path = [x for x in path if any(x.code in regions.descendant_codes(f) for f in floors)]
    return render(
        request,
        "analytics/report_print.html" if print_view else "analytics/report.html",
        {
            "user": user,
            "rep": report,
            "region_path": path,
            "all_regions": user.is_platform_admin or report.kind == "campaign",
            "errors": errors,
            "base": base,
            "query": report.filters.query(),
            "values": dict(request.query_params),
            "host_kinds": list(HostKind),
            "generated_at": utcnow(),
            "bare": print_view,
        },
        status_code=status,
    )


# -- campaigns -------------------------------------------------------------------------------------


@pages.get("/campaigns")
async def campaigns_page(request: Request, uow: Uow, user: CurrentUser) -> Response:
    if user is None:
        return _sign_in_first(request)
    campaigns = await c.visible_campaigns(uow, user)
    jurisdictions = await c.jurisdictions_of(uow, user)
    days = {x.id: (c.local_day(x.starts_at), c.local_day(x.ends_at - timedelta(days=1))) for x in campaigns}
    return render(
        request,
        "analytics/campaigns.html",
        {
            "user": user,
            "campaigns": campaigns,
            "days": days,
            "may_create": bool(await c.campaign_organisations(uow, user)),
            "regions_link": user.is_platform_admin or bool(jurisdictions),
            "jurisdictions": [(code, regions.full_name(code)) for code in jurisdictions],
            "own_organisations": await c.readable_organisations(uow, user),
        },
    )


async def _form_view(
    request: Request, uow: UnitOfWork, user: User, form: Form[Any], status_code: int = 200
) -> Response:
    orgs = await c.campaign_organisations(uow, user)
    others = await _participant_choices(uow)
    return render(
        request,
        "analytics/campaign_form.html",
        {"user": user, "form": form, "orgs": orgs, "participants": others},
        status_code=status_code,
    )


async def _participant_choices(uow: UnitOfWork) -> list[Organisation]:
    return list((await uow.session.scalars(sa.select(Organisation).order_by(Organisation.name))).all())


@pages.get("/campaigns/new")
async def campaign_new_page(request: Request, uow: Uow, user: CurrentUser) -> Response:
    if user is None:
        return _sign_in_first(request)
    return await _form_view(request, uow, user, Form())


@pages.post("/campaigns/new")
async def campaign_new_submit(request: Request, uow: Uow, user: CurrentUser) -> Response:
    raw, values = await read_raw_form(request)
    if user is None:
        return _sign_in_first(request)
    form: Form[CampaignIn] = Form(values=values)
    picked = [str(v) for v in raw.getlist("organisation_ids")]
    form.values["organisation_ids"] = ",".join(picked)
    data = {
        "organisation_id": values.get("organisation_id", ""),
        "slug": values.get("slug", ""),
        "name": values.get("name", ""),
        "description": values.get("description", ""),
        "starts_on": values.get("starts_on", ""),
        "ends_on": values.get("ends_on", ""),
        "organisation_ids": picked,
    }
    validate_into(form, CampaignIn, data)
    body = form.data
    if body is not None and not form.errors:
        made = c.CampaignData(
            organisation_id=body.organisation_id,
            slug=body.slug,
            name=body.name,
            description=body.description,
            starts_on=body.starts_on,
            ends_on=body.ends_on,
            participant_ids=list(body.organisation_ids),
        )
        done = await submit(
            uow, form, lambda: c.create_campaign(uow, user, made), reraise=(NotAllowed, NotAuthenticated)
        )
        if done:
            return see_other(f"/campaigns/{done.value.slug}")
    return await _form_view(request, uow, user, form, status_code=422)


async def _campaign_report(request: Request, uow: UnitOfWork, user: User, slug: str) -> tuple[r.Report, dict[str, str]]:
    campaign = await c.campaign_by_slug(uow, slug)
    await c.require_campaign_reader(uow, user, campaign)
    flt, errors = _filters(request)
    participants = await c.participant_ids_of(uow, campaign.id)
    return await r.campaign_report(uow.session, campaign, participants, flt), errors


@pages.get("/campaigns/{slug}")
async def campaign_page(slug: str, request: Request, uow: Uow, user: CurrentUser) -> Response:
    if user is None:
        return _sign_in_first(request)
    report, errors = await _campaign_report(request, uow, user, slug)
    return _show_report(request, user, report, errors, f"/campaigns/{slug}")


@pages.get("/campaigns/{slug}/print")
async def campaign_print(slug: str, request: Request, uow: Uow, user: CurrentUser) -> Response:
    if user is None:
        return _sign_in_first(request)
    report, errors = await _campaign_report(request, uow, user, slug)
    return _show_report(request, user, report, errors, f"/campaigns/{slug}", print_view=True)


@pages.get("/campaigns/{slug}/report.{fmt}")
async def campaign_export(slug: str, fmt: str, request: Request, uow: Uow, user: CurrentUser) -> Response:
    if user is None:
        return _sign_in_first(request)
    _format_or_404(fmt)
    report, errors = await _campaign_report(request, uow, user, slug)
    if errors:
        raise Invalid(N_("Give a date as YYYY-MM-DD."), field=next(iter(errors)))
    return download_tables(r.report_tables(report), fmt, f"campaign-{slug}-{date.today().isoformat()}")


# -- regions ---------------------------------------------------------------------------------------


async def _region_report(request: Request, uow: UnitOfWork, user: User) -> tuple[r.Report, dict[str, str]]:
    flt, errors = _filters(request)
    if flt.region is None and not user.is_platform_admin:
        # Not the whole country: the reader's own jurisdiction, if there is exactly one to start from.
        mine = await c.jurisdictions_of(uow, user)
        if mine:
            flt = r.ReportFilter(flt.date_from, flt.date_to, flt.host_kind, mine[0])
    await c.require_region_reader(uow, user, flt.region)
    return await r.region_report(uow.session, None, flt), errors


@pages.get("/reports/regions")
async def region_page(request: Request, uow: Uow, user: CurrentUser) -> Response:
    if user is None:
        return _sign_in_first(request)
    report, errors = await _region_report(request, uow, user)
    floors = await c.jurisdictions_of(uow, user)
    return _show_report(request, user, report, errors, "/reports/regions", floors=floors)


@pages.get("/reports/regions/print")
async def region_print(request: Request, uow: Uow, user: CurrentUser) -> Response:
    if user is None:
        return _sign_in_first(request)
    report, errors = await _region_report(request, uow, user)
    floors = await c.jurisdictions_of(uow, user)
    return _show_report(request, user, report, errors, "/reports/regions", print_view=True, floors=floors)


@pages.get("/reports/regions.{fmt}")
async def region_export(fmt: str, request: Request, uow: Uow, user: CurrentUser) -> Response:
    if user is None:
        return _sign_in_first(request)
    _format_or_404(fmt)
    report, _errors = await _region_report(request, uow, user)
    name = report.filters.region or "china"
    return download_tables(r.report_tables(report), fmt, f"region-{name}-{date.today().isoformat()}")


# -- an organisation -------------------------------------------------------------------------------


async def _organisation_report(
    request: Request, uow: UnitOfWork, user: User, slug: str
) -> tuple[r.Report, dict[str, str]]:
    org = await org_or_404(uow, slug)
    await c.require_organisation_reader(uow, user, org)
    flt, errors = _filters(request)
    return await r.organisation_report(uow.session, org, flt), errors


@pages.get("/reports/organisations/{slug}")
async def organisation_page(slug: str, request: Request, uow: Uow, user: CurrentUser) -> Response:
    if user is None:
        return _sign_in_first(request)
    report, errors = await _organisation_report(request, uow, user, slug)
    return _show_report(request, user, report, errors, f"/reports/organisations/{slug}")


@pages.get("/reports/organisations/{slug}/report.{fmt}")
async def organisation_export(slug: str, fmt: str, request: Request, uow: Uow, user: CurrentUser) -> Response:
    if user is None:
        return _sign_in_first(request)
    _format_or_404(fmt)
    report, _errors = await _organisation_report(request, uow, user, slug)
    return download_tables(r.report_tables(report), fmt, f"organisation-{slug}-{date.today().isoformat()}")
