"""Figures of many shows at once, rolled up per organisation, event, region and campaign.

How it stays cheap with thousands of shows: the database does the summing. One grouped query over
the orders of the chosen shows gives one row per show (orders, raw, paid and refunded money,
refunded orders, delivered orders and their paid → delivered seconds), read through the orders'
session index; one more gives the distinct (show, supplier) pairs that were paid for; two small
ones give the hosts and their kinds. Everything above a show (an organisation, an event, a county,
a city, a province, a campaign) is then a sum of those rows in memory, and the distinct counts
(hosts, suppliers, farmers) are unions of small sets. The figures are read from the orders as they
stand, so a refund that lands a week after the show moves every report at once: there is no
second copy to keep in step (a per-show totals table would be one, refreshed by a sweep, and
behind by up to a sweep). Verified GMV takes integrity's flagged money only for the shows an
alert stands on (integrity.gmv.gmv_by_session over those few), so it is exactly integrity's
figure without reading every order into memory.

Definitions (what the reports print):
- a show counts when it is not cancelled and is scheduled in the period; "kind of host" keeps the
  shows one of whose hosts holds an approved verification of that kind (a county head's show);
- raw GMV: every order placed in the show; paid: the orders paid; verified: integrity's (paid −
  refunded − under alert);
- refund rate: refunded money ÷ paid money (the headline), beside refunded orders ÷ paid orders;
- suppliers reached: distinct suppliers with a paid order; farmers reached: those of them whose
  kind is farmer;
- average delivery time: over paid orders delivered, the mean of delivered_at − paid_at, in hours.
- an organisation's place is its verified jurisdiction, or else the region its profile names
  (matched against the shipped divisions); organisations with neither are "region unknown"."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from fieldcast.accounts.models import HostKind, HostVerification, Organisation, VerificationStatus
from fieldcast.catalog import regions
from fieldcast.catalog.models import Supplier, SupplierKind
from fieldcast.clips.queries import clip_totals
from fieldcast.commerce.models import Order
from fieldcast.integrity.gmv import gmv_by_session
from fieldcast.integrity.models import STANDING_STATES, IntegrityAlert
from fieldcast.live.models import LiveSession, SessionHost, SessionState

UNKNOWN_REGION = ""


class epoch_s(FunctionElement[float]):
    """Seconds since 1970 of a stored UTC time, in SQL (PostgreSQL and SQLite store times apart)."""

    type = sa.Float()
    inherit_cache = True


@compiles(epoch_s, "postgresql")
def _epoch_pg(element: epoch_s, compiler: SQLCompiler, **kw: Any) -> str:
    return f"EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})"


@compiles(epoch_s, "sqlite")
def _epoch_sqlite(element: epoch_s, compiler: SQLCompiler, **kw: Any) -> str:
    return f"((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400.0)"


@dataclass(frozen=True)
class ShowFilter:
    """Which shows count: of these organisations (None: any), scheduled in [starts_at, ends_at),
    with a host of this kind (None: any)."""

    organisation_ids: frozenset[int] | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    host_kind: HostKind | None = None


@dataclass
class Figures:
    """The sums over some shows; the distinct counts are sets, so two groups add up correctly."""

    show_ids: set[int] = field(default_factory=set)
    hosts: set[int] = field(default_factory=set)
    orders: int = 0
    paid_orders: int = 0
    raw_fen: int = 0
    paid_fen: int = 0
    refunded_fen: int = 0
    flagged_fen: int = 0
    refunded_orders: int = 0
    delivered_orders: int = 0
    delivery_s: float = 0.0
    suppliers: set[int] = field(default_factory=set)
    farmers: set[int] = field(default_factory=set)
    # Shoppable clips cut from the shows' replays: their views, and the orders placed from them
    # (at the shop price, with no show: not in the figures above).
    clip_views: int = 0
    clip_orders: int = 0
    clip_paid_fen: int = 0

    @property
    def shows(self) -> int:
        return len(self.show_ids)

    @property
    def verified_fen(self) -> int:
        return self.paid_fen - self.refunded_fen - self.flagged_fen

    @property
    def refund_rate(self) -> float:
        """Refunded money ÷ paid money (0 with nothing paid)."""
        return self.refunded_fen / self.paid_fen if self.paid_fen else 0.0

    @property
    def refund_order_rate(self) -> float:
        return self.refunded_orders / self.paid_orders if self.paid_orders else 0.0

    @property
    def avg_delivery_h(self) -> float | None:
        """Mean hours from payment to delivery over the delivered orders (None: none delivered)."""
        return self.delivery_s / self.delivered_orders / 3600 if self.delivered_orders else None

    def add(self, other: Figures) -> None:
        # Written out, not a loop over names: a report adds each show into four groupings.
        self.show_ids |= other.show_ids
        self.hosts |= other.hosts
        self.suppliers |= other.suppliers
        self.farmers |= other.farmers
        self.orders += other.orders
        self.paid_orders += other.paid_orders
        self.raw_fen += other.raw_fen
        self.paid_fen += other.paid_fen
        self.refunded_fen += other.refunded_fen
        self.flagged_fen += other.flagged_fen
        self.refunded_orders += other.refunded_orders
        self.delivered_orders += other.delivered_orders
        self.delivery_s += other.delivery_s
        self.clip_views += other.clip_views
        self.clip_orders += other.clip_orders
        self.clip_paid_fen += other.clip_paid_fen


@dataclass
class Show:
    session_id: int
    organisation_id: int
    event_id: int | None
    title: str
    scheduled_at: datetime
    figures: Figures


@dataclass
class Rollup:
    """The shows chosen, each with its figures, and the organisations they belong to."""

    shows: list[Show]
    organisations: dict[int, Organisation]
    _places: dict[int, str] = field(default_factory=dict, repr=False)  # organisation -> region code

    def total(self, shows: Iterable[Show] | None = None) -> Figures:
        out = Figures()
        for show in self.shows if shows is None else shows:
            out.add(show.figures)
        return out

    def region_of(self, show: Show) -> str:
        place = self._places.get(show.organisation_id)
        if place is None:
            org = self.organisations.get(show.organisation_id)
            place = organisation_region(org) if org is not None else UNKNOWN_REGION
            self._places[show.organisation_id] = place
        return place

    def by_organisation(self) -> dict[int, Figures]:
        out: dict[int, Figures] = {}
        for show in self.shows:
            out.setdefault(show.organisation_id, Figures()).add(show.figures)
        return out

    def by_event(self) -> dict[int | None, Figures]:
        out: dict[int | None, Figures] = {}
        for show in self.shows:
            out.setdefault(show.event_id, Figures()).add(show.figures)
        return out

    def under(self, code: str | None) -> list[Show]:
        """The shows of organisations placed in `code` or below it (None: every show)."""
        if code is None:
            return list(self.shows)
        inside = regions.descendant_codes(code)
        return [s for s in self.shows if self.region_of(s) in inside]

    def by_region(self, code: str | None) -> dict[str, Figures]:
        """The shows under `code` (None: all) grouped by the region one level below it: provinces
        under the country, cities under a province, counties under a city. Shows placed at `code`
        itself, or not placed at all, are grouped under `code` (or UNKNOWN_REGION)."""
        out: dict[str, Figures] = {}
        for show in self.under(code):
            out.setdefault(child_towards(code, self.region_of(show)), Figures()).add(show.figures)
        return out


@cache
def child_towards(code: str | None, place: str) -> str:
    """The region directly under `code` on the way to `place` (`code` itself if `place` is `code`)."""
    chain = [r.code for r in regions.path(place)] if place else []
    if code is None:
        return chain[0] if chain else UNKNOWN_REGION
    if code in chain and chain.index(code) + 1 < len(chain):
        return chain[chain.index(code) + 1]
    return code


@cache
def _codes_by_full_name() -> dict[str, str]:
    return {regions.full_name(code): code for code in regions.table().by_code}


def region_code_of(text: str) -> str:
    """The division an organisation's region text names: its full name ("吉林省白山市靖宇县"), a
    prefix of an address that starts with one (the longest), or a unique bare name ("靖宇县")."""
    text = text.strip()
    if not text:
        return UNKNOWN_REGION
    names = _codes_by_full_name()
    if text in names:
        return names[text]
    for end in range(len(text) - 1, 1, -1):
        if text[:end] in names:
            return names[text[:end]]
    exact = [r for r in regions.search_regions(text, limit=3) if r.name == text]
    return exact[0].code if len(exact) == 1 else UNKNOWN_REGION


def organisation_region(org: Organisation) -> str:
    """Where an organisation is: its verified jurisdiction, else the region its profile names."""
    if org.jurisdiction_code and regions.is_valid_region(org.jurisdiction_code):
        return org.jurisdiction_code
    return region_code_of(org.region)


async def host_kinds(s: AsyncSession, user_ids: Iterable[int]) -> dict[int, HostKind]:
    """Each host's kind: their latest approved verification's (unverified hosts have none)."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    rows = await s.execute(
        sa.select(HostVerification.user_id, HostVerification.host_kind)
        .where(HostVerification.user_id.in_(ids), HostVerification.status == VerificationStatus.APPROVED)
        .order_by(HostVerification.id)
    )
    return {int(uid): HostKind(kind) for uid, kind in rows}


def _ids_in(column: Any, ids: Iterable[int]) -> sa.ColumnElement[bool]:
    chosen: sa.ColumnElement[bool] = column.in_(sorted(ids))
    return chosen


async def rollup(s: AsyncSession, flt: ShowFilter) -> Rollup:
    """The shows `flt` chooses, each with its figures (see the module's note for the queries)."""
    where: list[sa.ColumnElement[bool]] = [LiveSession.state != SessionState.CANCELLED]
    if flt.organisation_ids is not None:
        if not flt.organisation_ids:
            return Rollup([], {})
        where.append(_ids_in(LiveSession.organisation_id, flt.organisation_ids))
    if flt.starts_at is not None:
        where.append(LiveSession.scheduled_at >= flt.starts_at)
    if flt.ends_at is not None:
        where.append(LiveSession.scheduled_at < flt.ends_at)
    rows = (
        await s.execute(
            sa.select(
                LiveSession.id,
                LiveSession.organisation_id,
                LiveSession.event_id,
                LiveSession.title,
                LiveSession.scheduled_at,
            ).where(*where)
        )
    ).all()
    hosts_of: dict[int, set[int]] = {}
    chosen = sa.select(LiveSession.id).where(*where).scalar_subquery()
    for sid, uid in await s.execute(
        sa.select(SessionHost.session_id, SessionHost.user_id).where(SessionHost.session_id.in_(chosen))
    ):
        hosts_of.setdefault(int(sid), set()).add(int(uid))
    kinds = await host_kinds(s, (u for us in hosts_of.values() for u in us))
    shows: dict[int, Show] = {}
    for r in rows:
        hosts = hosts_of.get(int(r.id), set())
        if flt.host_kind is not None and not any(kinds.get(u) == flt.host_kind for u in hosts):
            continue
        figures = Figures(show_ids={int(r.id)}, hosts=hosts)
        shows[int(r.id)] = Show(int(r.id), int(r.organisation_id), r.event_id, r.title, r.scheduled_at, figures)
    if shows:
        await _order_figures(s, shows, chosen)
        for sid, clips in (await clip_totals(s, chosen)).items():
            if sid not in shows:  # left out by the host-kind filter
                continue
            f = shows[sid].figures
            f.clip_views, f.clip_orders, f.clip_paid_fen = clips.views, clips.orders, clips.paid_fen
    org_ids = {show.organisation_id for show in shows.values()}
    orgs = (await s.scalars(sa.select(Organisation).where(_ids_in(Organisation.id, org_ids)))).all() if org_ids else []
    ordered = sorted(shows.values(), key=lambda x: (x.scheduled_at, x.session_id))
    return Rollup(ordered, {o.id: o for o in orgs})


async def _order_figures(s: AsyncSession, shows: dict[int, Show], chosen: Any) -> None:
    """Read through `chosen` (the shows' ids as a subquery), not a list of thousands of ids; the
    rows of shows a host-kind filter left out are skipped here."""
    paid = Order.paid_at.is_not(None)
    delivered = sa.and_(paid, Order.delivered_at.is_not(None))
    zero = sa.literal(0)
    for r in await s.execute(
        sa.select(
            Order.session_id,
            sa.func.count(Order.id),
            sa.func.coalesce(sa.func.sum(Order.total_fen), zero),
            sa.func.coalesce(sa.func.sum(sa.case((paid, 1), else_=0)), zero),
            sa.func.coalesce(sa.func.sum(sa.case((paid, Order.total_fen), else_=0)), zero),
            sa.func.coalesce(sa.func.sum(sa.case((paid, Order.refunded_fen), else_=0)), zero),
            sa.func.coalesce(sa.func.sum(sa.case((sa.and_(paid, Order.refunded_fen > 0), 1), else_=0)), zero),
            sa.func.coalesce(sa.func.sum(sa.case((delivered, 1), else_=0)), zero),
            sa.func.coalesce(
                sa.func.sum(sa.case((delivered, epoch_s(Order.delivered_at) - epoch_s(Order.paid_at)), else_=None)),
                zero,
            ),
        )
        .where(Order.session_id.in_(chosen))
        .group_by(Order.session_id)
    ):
        show = shows.get(int(r[0]))
        if show is None:
            continue
        f = show.figures
        f.orders, f.raw_fen, f.paid_orders, f.paid_fen = int(r[1]), int(r[2]), int(r[3]), int(r[4])
        f.refunded_fen, f.refunded_orders, f.delivered_orders = int(r[5]), int(r[6]), int(r[7])
        f.delivery_s = float(r[8] or 0.0)
    for sid, supplier_id, kind in await s.execute(
        sa.select(Order.session_id, Order.supplier_id, Supplier.kind)
        .join(Supplier, Supplier.id == Order.supplier_id)
        .where(Order.session_id.in_(chosen), paid)
        .distinct()
    ):
        found = shows.get(int(sid or 0))
        if found is None:
            continue
        f = found.figures
        f.suppliers.add(int(supplier_id))
        if kind == SupplierKind.FARMER:
            f.farmers.add(int(supplier_id))
    alerted = (
        await s.scalars(
            sa.select(IntegrityAlert.session_id)
            .where(IntegrityAlert.session_id.in_(chosen), IntegrityAlert.state.in_(STANDING_STATES))
            .distinct()
        )
    ).all()
    if alerted:
        for sid, gmv in (await gmv_by_session(s, sorted({int(x) for x in alerted if x is not None}))).items():
            shows[sid].figures.flagged_fen = gmv.flagged_fen
