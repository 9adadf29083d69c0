"""The supervisor's view: read-only queries over the alerts and the shows' figures of the
organisations a person may look into, with the authorisation checked here (not only in routes).

Who sees what: a platform administrator sees every organisation; anyone else sees the
organisations where they hold one of DECIDERS (owner, organiser, supervisor) — the same people who
may decide an alert. Hosts, suppliers and inspectors are the people the rules are about: they see
nothing here, and neither does a supervisor of another organisation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.accounts.errors import MissingRole
from fieldcast.accounts.models import Membership, Organisation, User
from fieldcast.accounts.permissions import require_org_role, require_user
from fieldcast.errors import NotFound
from fieldcast.i18n import N_, gettext
from fieldcast.integrity import errors as e
from fieldcast.integrity.actions import DECIDERS
from fieldcast.integrity.gmv import Gmv, gmv_by_session, session_gmv
from fieldcast.integrity.models import STANDING_STATES, AlertState, IntegrityAlert, Severity
from fieldcast.labels import LABELS, LabelList, label
from fieldcast.live.models import LiveSession
from fieldcast.web.money import format_yuan
from fieldcast.web.templating import _local_time as local_time

ALERTS_LIMIT = 200  # alerts a page lists (the counts and the exports cover them all)
SHOWS_LIMIT = 200  # shows a page lists, newest first
EXPORT_LIMIT = 50_000  # rows an export holds at most
SEVERITY_ORDER = {Severity.HIGH: 0, Severity.MEDIUM: 1, Severity.LOW: 2}


@dataclass(frozen=True)
class Scope:
    """The organisations a person may look into, by name."""

    organisations: list[Organisation]
    everything: bool = False  # a platform administrator's: an organisation outside it does not exist

    @property
    def ids(self) -> list[int]:
        return [o.id for o in self.organisations]

    def by_slug(self, slug: str | None) -> Organisation | None:
        """The organisation of this slug in the scope; None for no slug. Not in the scope: refused."""
        if not slug:
            return None
        for org in self.organisations:
            if org.slug == slug:
                return org
        if self.everything:
            raise NotFound(N_("No such organisation."))
        raise MissingRole(
            N_("You need one of these roles in this organisation: %(roles)s."), roles=LabelList("role", DECIDERS)
        )


async def scope_of(s: AsyncSession, actor: User | None) -> Scope:
    """Every organisation for a platform administrator; otherwise those where the person is an
    owner, organiser or supervisor. Nobody signed in, or none of these roles anywhere: refused."""
    user = require_user(actor)
    stmt = sa.select(Organisation).order_by(Organisation.name, Organisation.id)
    if not user.is_platform_admin:
        stmt = stmt.where(
            Organisation.id.in_(
                sa.select(Membership.organisation_id).where(
                    Membership.user_id == user.id, Membership.role.in_(DECIDERS)
                )
            )
        )
    orgs = list((await s.scalars(stmt)).all())
    if not orgs and not user.is_platform_admin:
        raise MissingRole(
            N_("You need one of these roles in this organisation: %(roles)s."), roles=LabelList("role", DECIDERS)
        )
    return Scope(orgs, everything=user.is_platform_admin)


@dataclass(frozen=True)
class Filters:
    organisation: str | None = None  # a slug
    rule: str | None = None
    severity: Severity | None = None
    state: AlertState | None = None

    def query(self) -> dict[str, str]:
        """The filters as query parameters (for links to the exports and the pager)."""
        pairs = {
            "org": self.organisation,
            "rule": self.rule,
            "severity": self.severity.value if self.severity else None,
            "state": self.state.value if self.state else None,
        }
        return {k: v for k, v in pairs.items() if v}


def parse_filters(values: dict[str, str]) -> Filters:
    """Filters from a page's query string; a value that names no severity or state is ignored."""
    severity = values.get("severity", "")
    state = values.get("state", "")
    return Filters(
        organisation=values.get("org") or None,
        rule=values.get("rule") or None,
        severity=Severity(severity) if severity in set(Severity) else None,
        state=AlertState(state) if state in set(AlertState) else None,
    )


@dataclass(frozen=True)
class AlertRow:
    alert: IntegrityAlert
    session_title: str | None
    organisation_slug: str
    organisation_name: str
    decided_by_name: str | None


@dataclass(frozen=True)
class AlertCount:
    rule: str
    severity: Severity
    open: int = 0
    acknowledged: int = 0
    false_alarm: int = 0

    @property
    def total(self) -> int:
        return self.open + self.acknowledged + self.false_alarm


def _alert_where(scope: Scope, filters: Filters) -> list[sa.ColumnElement[bool]]:
    org = scope.by_slug(filters.organisation)
    where: list[sa.ColumnElement[bool]] = [IntegrityAlert.organisation_id.in_([org.id] if org else scope.ids)]
    if filters.rule:
        where.append(IntegrityAlert.rule == filters.rule)
    if filters.severity:
        where.append(IntegrityAlert.severity == filters.severity)
    if filters.state:
        where.append(IntegrityAlert.state == filters.state)
    return where


AlertSelect = sa.Select[IntegrityAlert, str, str, str, str]  # outer joins: title and name may be None


def _alert_select() -> AlertSelect:
    return (
        sa.select(IntegrityAlert, LiveSession.title, Organisation.slug, Organisation.name, User.display_name)
        .join(Organisation, Organisation.id == IntegrityAlert.organisation_id)
        .outerjoin(LiveSession, LiveSession.id == IntegrityAlert.session_id)
        .outerjoin(User, User.id == IntegrityAlert.decided_by_id)
    )


def _rows(result: sa.Result[IntegrityAlert, str, str, str, str]) -> list[AlertRow]:
    return [AlertRow(r[0], r[1], r[2], r[3], r[4]) for r in result.all()]


async def alerts(s: AsyncSession, scope: Scope, filters: Filters, *, limit: int = ALERTS_LIMIT) -> list[AlertRow]:
    """The scope's alerts that pass the filters, newest first."""
    stmt = _alert_select().where(*_alert_where(scope, filters)).order_by(IntegrityAlert.id.desc()).limit(limit)
    return _rows(await s.execute(stmt))


async def alert_counts(s: AsyncSession, scope: Scope, filters: Filters) -> list[AlertCount]:
    """How many alerts of each rule and severity, by state: the most severe first, then by rule."""
    return await count_alerts(s, _alert_where(scope, filters))


async def count_alerts(s: AsyncSession, where: Sequence[sa.ColumnElement[bool]]) -> list[AlertCount]:
    """The alerts `where` chooses, counted by rule and severity and by state: the most severe
    first, then by rule (the supervisor's counts, a show's report)."""
    rows = (
        await s.execute(
            sa.select(IntegrityAlert.rule, IntegrityAlert.severity, IntegrityAlert.state, sa.func.count())
            .where(*where)
            .group_by(IntegrityAlert.rule, IntegrityAlert.severity, IntegrityAlert.state)
        )
    ).all()
    counts: dict[tuple[str, Severity], dict[str, int]] = {}
    for rule, severity, state, n in rows:
        counts.setdefault((str(rule), Severity(severity)), {})[AlertState(state).value] = int(n)
    return [
        AlertCount(rule, severity, **by_state)
        for (rule, severity), by_state in sorted(counts.items(), key=lambda kv: (SEVERITY_ORDER[kv[0][1]], kv[0][0]))
    ]


async def rules_seen(s: AsyncSession, scope: Scope) -> list[str]:
    """The rules that raised an alert in the scope (the rule filter's choices)."""
    stmt = (
        sa.select(IntegrityAlert.rule)
        .where(IntegrityAlert.organisation_id.in_(scope.ids))
        .distinct()
        .order_by(IntegrityAlert.rule)
    )
    return list((await s.scalars(stmt)).all())


@dataclass(frozen=True)
class ShowRow:
    session_id: int
    title: str
    state: str
    scheduled_at: datetime
    organisation_slug: str
    organisation_name: str
    gmv: Gmv
    alerts: int
    standing: int


async def shows(s: AsyncSession, scope: Scope, filters: Filters, *, limit: int = SHOWS_LIMIT) -> list[ShowRow]:
    """The scope's shows (the organisation filter applies), newest first, each with its figures
    and how many alerts it has and how many of them stand."""
    org = scope.by_slug(filters.organisation)
    rows = (
        await s.execute(
            sa.select(
                LiveSession.id,
                LiveSession.title,
                LiveSession.state,
                LiveSession.scheduled_at,
                Organisation.slug,
                Organisation.name,
            )
            .join(Organisation, Organisation.id == LiveSession.organisation_id)
            .where(LiveSession.organisation_id.in_([org.id] if org else scope.ids))
            .order_by(LiveSession.scheduled_at.desc(), LiveSession.id.desc())
            .limit(limit)
        )
    ).all()
    ids = [r.id for r in rows]
    figures = await gmv_by_session(s, ids)
    counted = (
        (
            await s.execute(
                sa.select(IntegrityAlert.session_id, IntegrityAlert.state, sa.func.count())
                .where(IntegrityAlert.session_id.in_(ids))
                .group_by(IntegrityAlert.session_id, IntegrityAlert.state)
            )
        ).all()
        if ids
        else []
    )
    total: dict[int, int] = {}
    standing: dict[int, int] = {}
    for sid, state, n in counted:
        if sid is None:
            continue
        total[sid] = total.get(sid, 0) + int(n)
        if AlertState(state) in STANDING_STATES:
            standing[sid] = standing.get(sid, 0) + int(n)
    return [
        ShowRow(
            r.id,
            r.title,
            str(getattr(r.state, "value", r.state)),
            r.scheduled_at,
            r.slug,
            r.name,
            figures[r.id],
            total.get(r.id, 0),
            standing.get(r.id, 0),
        )
        for r in rows
    ]


async def alert_detail(s: AsyncSession, actor: User | None, alert_id: int) -> AlertRow:
    """One alert with its show and organisation, for those who may decide it."""
    found = _rows(await s.execute(_alert_select().where(IntegrityAlert.id == alert_id)))
    if not found:
        require_user(actor)
        raise e.AlertNotFound(N_("No such alert."))
    await require_org_role(s, actor, found[0].alert.organisation_id, *DECIDERS)
    return found[0]


@dataclass(frozen=True)
class Report:
    session: LiveSession
    organisation: Organisation
    gmv: Gmv
    alerts: list[AlertRow]


async def report(s: AsyncSession, actor: User | None, live: LiveSession) -> Report:
    """A show's integrity report: its figures and every alert about it (any state), oldest first."""
    await require_org_role(s, actor, live.organisation_id, *DECIDERS)
    org = await s.get(Organisation, live.organisation_id)
    assert org is not None  # the foreign key
    stmt = _alert_select().where(IntegrityAlert.session_id == live.id).order_by(IntegrityAlert.id)
    return Report(live, org, await session_gmv(s, live.id), _rows(await s.execute(stmt)))


# -- evidence, readably ---------------------------------------------------------------------------


@dataclass
class EvidenceRow:
    """One key of an alert's evidence: a text, a list of values, or a table (a list of records)."""

    key: str
    label: str
    text: str | None = None
    items: list[str] | None = None
    headers: list[str] = field(default_factory=list)
    table: list[list[str]] | None = None


def key_label(key: str) -> str:
    """A key's name in the UI language; a key no rule has named yet, as it is (spaces for _)."""
    return label("evidence_key", key) if key in LABELS["evidence_key"] else key.replace("_", " ")


def show_value(key: str, value: Any) -> str:
    """A scalar of the evidence as a person reads it: money (keys ending in _fen) in yuan, yes/no,
    a share as a percentage."""
    if isinstance(value, bool):
        return gettext(N_("Yes")) if value else gettext(N_("No"))
    if value is None:
        return "—"
    if key == "roles" and isinstance(value, str):
        return label("role", value)
    if key.endswith("_fen") and isinstance(value, int):
        return format_yuan(value)
    if key.endswith("_at") and isinstance(value, str):
        try:
            return local_time(datetime.fromisoformat(value), "short")
        except ValueError:
            return value
    if key in ("share", "threshold", "refund_share") and isinstance(value, float) and 0 <= value <= 1:
        return f"{value * 100:.1f}%"
    if isinstance(value, list | dict):
        return ", ".join(show_value(key, v) for v in value) if isinstance(value, list) else str(value)
    return str(value)


def evidence_rows(evidence: dict[str, Any]) -> list[EvidenceRow]:
    rows = []
    for key, value in evidence.items():
        row = EvidenceRow(key, key_label(key))
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            keys = list(dict.fromkeys(k for v in value for k in v))
            row.headers = [key_label(k) for k in keys]
            row.table = [[show_value(k, v.get(k)) for k in keys] for v in value]
        elif isinstance(value, dict):
            row.headers = [gettext(N_("Field")), gettext(N_("Value"))]
            row.table = [[key_label(k), show_value(k, v)] for k, v in value.items()]
        elif isinstance(value, list):
            row.items = [show_value(key, v) for v in value]
        else:
            row.text = show_value(key, value)
        rows.append(row)
    return rows
