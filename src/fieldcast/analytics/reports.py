"""The campaign, region and organisation reports: filters, breakdown rows, totals, and the same
report as tables for CSV/XLSX (integrity.exports). The figures come from rollups.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.accounts.models import HostKind, Organisation
from fieldcast.analytics.campaign_models import Campaign
from fieldcast.analytics.campaigns import local_day, period
from fieldcast.analytics.rollups import UNKNOWN_REGION, Figures, Rollup, ShowFilter, organisation_region, rollup
from fieldcast.catalog import regions
from fieldcast.catalog.regions import Region
from fieldcast.errors import Invalid
from fieldcast.i18n import N_, gettext
from fieldcast.integrity.exports import Column, Table
from fieldcast.labels import label
from fieldcast.live.models import LiveEvent

MAX_SHOW_ROWS = 5000  # shows listed one by one on a page and in a download; the totals take all


@dataclass(frozen=True)
class ReportFilter:
    """What the reader narrowed the report to: days (Beijing) and a kind of host; `region` drills
    into a province, city or county."""

    date_from: date | None = None
    date_to: date | None = None
    host_kind: HostKind | None = None
    region: str | None = None

    def query(self, **changes: str | None) -> str:
        values: dict[str, str | None] = {
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
            "host_kind": self.host_kind.value if self.host_kind else None,
            "region": self.region,
        }
        values.update(changes)
        return urlencode({k: v for k, v in values.items() if v})

    def notes(self) -> list[str]:
        out = []
        if self.date_from or self.date_to:
            out.append(
                gettext(
                    N_("Shows scheduled from %(start)s to %(end)s"),
                    start=self.date_from or "…",
                    end=self.date_to or "…",
                )
            )
        if self.host_kind:
            out.append(gettext(N_("Kind of host: %(kind)s"), kind=label("host_kind", self.host_kind.value)))
        if self.region:
            out.append(gettext(N_("Region: %(name)s"), name=regions.full_name(self.region)))
        return out


def parse_filter(params: dict[str, str]) -> ReportFilter:
    """Query parameters `from`, `to` (YYYY-MM-DD), `host_kind`, `region` (a division code); an
    unreadable one is refused naming its field."""
    days: dict[str, date | None] = {}
    for name in ("from", "to"):
        raw = (params.get(name) or "").strip()
        try:
            days[name] = date.fromisoformat(raw) if raw else None
        except ValueError:
            raise Invalid(N_("Give a date as YYYY-MM-DD."), field=name) from None
    if days["from"] and days["to"] and days["to"] < days["from"]:
        raise Invalid(N_("The last day must not be before the first."), field="to")
    kind_raw = (params.get("host_kind") or "").strip()
    if kind_raw and kind_raw not in {k.value for k in HostKind}:
        raise Invalid(N_("No such kind of host."), field="host_kind")
    region = (params.get("region") or "").strip() or None
    if region is not None and not regions.is_valid_region(region):
        raise Invalid(N_("No such region code."), field="region")
    return ReportFilter(days["from"], days["to"], HostKind(kind_raw) if kind_raw else None, region)


@dataclass
class Row:
    key: str
    label: str
    figures: Figures
    href: str | None = None  # drill down (a region) or open (a show)


@dataclass
class Report:
    kind: str  # "campaign" | "region" | "organisation"
    title: str
    filters: ReportFilter
    totals: Figures
    regions: list[Row]
    organisations: list[Row]
    events: list[Row]
    shows: list[Row]
    region_path: list[Region] = field(default_factory=list)
    generated_at: datetime | None = None
    shows_cut: bool = False  # more shows than MAX_SHOW_ROWS: the list is cut, the totals are not
    about: list[str] = field(default_factory=list)  # lines under the title (a campaign's period)


def _region_label(code: str) -> str:
    if code == UNKNOWN_REGION:
        return gettext(N_("Region unknown"))
    region = regions.get_region(code)
    return region.name if region is not None else code


def _window(flt: ReportFilter, starts_at: datetime | None, ends_at: datetime | None) -> tuple[Any, Any]:
    if flt.date_from or flt.date_to:
        a, b = period(flt.date_from or date(2000, 1, 1), flt.date_to or date(2100, 1, 1))
        if flt.date_from:
            starts_at = a if starts_at is None else max(starts_at, a)
        if flt.date_to:
            ends_at = b if ends_at is None else min(ends_at, b)
    return starts_at, ends_at


async def _build(
    s: AsyncSession, kind: str, title: str, flt: ReportFilter, data: Rollup, base_href: str, scope_code: str | None
) -> Report:
    """Rows per region one level under the drilled region (or `scope_code`), per organisation and
    per event within it, and the shows."""
    here = flt.region or scope_code
    shows = data.under(here)
    totals = data.total(shows)
    region_rows = []
    for code, figures in sorted(data.by_region(here).items(), key=lambda kv: (-kv[1].paid_fen, kv[0])):
        drill = code not in (UNKNOWN_REGION, here)  # a county narrows the report to its organisations
        href = f"{base_href}?{flt.query(region=code)}" if drill else None
        region_rows.append(Row(code, _region_label(code), figures, href))
    scoped = Rollup(shows, data.organisations)
    org_rows = []
    for org_id, figures in sorted(scoped.by_organisation().items(), key=lambda kv: (-kv[1].paid_fen, kv[0])):
        org = data.organisations[org_id]
        # No link: a campaign's or a region's reader need not be one of the organisation's own people.
        org_rows.append(Row(org.slug, org.name, figures))
    show_rows = [
        Row(str(x.session_id), x.title, x.figures, f"/live/{x.session_id}")
        for x in sorted(shows, key=lambda x: (-x.figures.paid_fen, x.session_id))[:MAX_SHOW_ROWS]
    ]
    return Report(
        kind=kind,
        title=title,
        filters=flt,
        totals=totals,
        regions=region_rows,
        organisations=org_rows,
        events=await _event_rows(s, scoped),
        shows=show_rows,
        region_path=regions.path(here) if here else [],
        shows_cut=len(shows) > MAX_SHOW_ROWS,
    )


async def _event_rows(s: AsyncSession, data: Rollup) -> list[Row]:
    """Per multi-room event (an event's page is /events/<slug>); the shows of none in one row."""
    by_event = data.by_event()
    ids = sorted(e for e in by_event if e is not None)
    if not ids:
        return []
    events = {e.id: e for e in (await s.scalars(sa.select(LiveEvent).where(LiveEvent.id.in_(ids)))).all()}
    rows = []
    for event_id, figures in sorted(by_event.items(), key=lambda kv: (kv[0] is None, -kv[1].paid_fen, kv[0] or 0)):
        event = events.get(event_id) if event_id is not None else None
        if event is None:
            rows.append(Row("", gettext(N_("Shows outside any event")), figures))
        else:
            rows.append(Row(event.slug, event.title, figures, f"/events/{event.slug}"))
    return rows


async def campaign_report(s: AsyncSession, campaign: Campaign, participant_ids: list[int], flt: ReportFilter) -> Report:
    starts_at, ends_at = _window(flt, campaign.starts_at, campaign.ends_at)
    data = await rollup(s, ShowFilter(frozenset(participant_ids), starts_at, ends_at, flt.host_kind))
    report = await _build(s, "campaign", campaign.name, flt, data, f"/campaigns/{campaign.slug}", None)
    first, last = local_day(campaign.starts_at), local_day(campaign.ends_at - timedelta(days=1))
    report.about = [
        gettext(N_("Campaign period: %(start)s to %(end)s (Beijing time)"), start=first, end=last),
        gettext(N_("Organisations taking part: %(count)s"), count=len(participant_ids)),
    ]
    if campaign.description:
        report.about.append(campaign.description)
    return report


async def organisations_under(s: AsyncSession, code: str) -> frozenset[int]:
    """The organisations placed in `code` or below (see rollups.organisation_region)."""
    inside = regions.descendant_codes(code)
    orgs = (await s.scalars(sa.select(Organisation))).all()
    return frozenset(o.id for o in orgs if organisation_region(o) in inside)


async def region_report(s: AsyncSession, code: str | None, flt: ReportFilter) -> Report:
    """The shows of every organisation placed in `code` (None: the whole country)."""
    here = flt.region or code
    starts_at, ends_at = _window(flt, None, None)
    org_ids = await organisations_under(s, here) if here else None
    data = await rollup(s, ShowFilter(org_ids, starts_at, ends_at, flt.host_kind))
    title = regions.full_name(here) if here else gettext(N_("All regions"))
    return await _build(s, "region", title, flt, data, "/reports/regions", code)


async def organisation_report(s: AsyncSession, org: Organisation, flt: ReportFilter) -> Report:
    """One organisation's shows, by event and by show (not by region: it has one place)."""
    starts_at, ends_at = _window(flt, None, None)
    data = await rollup(s, ShowFilter(frozenset({org.id}), starts_at, ends_at, flt.host_kind))
    plain = ReportFilter(flt.date_from, flt.date_to, flt.host_kind)
    report = await _build(s, "organisation", org.name, plain, data, "", None)
    report.regions = []
    return report


# -- as tables (CSV / XLSX) ------------------------------------------------------------------------


def figure_columns(first: str) -> list[Column]:
    """A breakdown's columns. Hosts, suppliers and farmers are distinct counts (one farmer may sell
    in two counties), so they are not summed in the totals row: the summary sheet gives them."""
    return [
        Column(first),
        Column(gettext(N_("Shows")), total=True),
        Column(gettext(N_("Hosts"))),
        Column(gettext(N_("Orders")), total=True),
        Column(gettext(N_("Paid orders")), total=True),
        Column(gettext(N_("Raw GMV (yuan)")), money=True, total=True),
        Column(gettext(N_("Paid (yuan)")), money=True, total=True),
        Column(gettext(N_("Refunded (yuan)")), money=True, total=True),
        Column(gettext(N_("Under alert (yuan)")), money=True, total=True),
        Column(gettext(N_("Verified GMV (yuan)")), money=True, total=True),
        Column(gettext(N_("Refund rate (money, %)"))),
        Column(gettext(N_("Refunded orders")), total=True),
        Column(gettext(N_("Suppliers reached"))),
        Column(gettext(N_("Farmers reached"))),
        Column(gettext(N_("Delivered orders")), total=True),
        Column(gettext(N_("Average delivery (hours)"))),
        Column(gettext(N_("Clip views")), total=True),
        Column(gettext(N_("Orders from clips")), total=True),
        Column(gettext(N_("Paid from clips (yuan)")), money=True, total=True),
    ]


def figure_cells(name: str, f: Figures) -> list[Any]:
    return [
        name,
        f.shows,
        len(f.hosts),
        f.orders,
        f.paid_orders,
        f.raw_fen,
        f.paid_fen,
        f.refunded_fen,
        f.flagged_fen,
        f.verified_fen,
        round(f.refund_rate * 100, 2),
        f.refunded_orders,
        len(f.suppliers),
        len(f.farmers),
        f.delivered_orders,
        None if f.avg_delivery_h is None else round(f.avg_delivery_h, 1),
        f.clip_views,
        f.clip_orders,
        f.clip_paid_fen,
    ]


def report_tables(report: Report) -> list[Table]:
    totals_label = gettext(N_("Total"))
    notes = [report.title, *report.about, *report.filters.notes()]
    tables = [
        Table(gettext(N_("Summary")), figure_columns(""), [figure_cells(totals_label, report.totals)], notes=notes)
    ]
    sections = (
        (N_("By region"), N_("Region"), report.regions),
        (N_("By organisation"), N_("Organisation"), report.organisations),
        (N_("By event"), N_("Event"), report.events),
        (N_("Shows"), N_("Show"), report.shows),
    )
    for title, first, rows in sections:
        if rows or title in (N_("By organisation"), N_("Shows")):
            tables.append(
                Table(
                    gettext(title),
                    figure_columns(gettext(first)),
                    [figure_cells(r.label, r.figures) for r in rows],
                    totals_label=totals_label,
                    notes=notes,
                )
            )
    return tables
