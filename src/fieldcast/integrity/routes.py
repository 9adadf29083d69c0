"""Integrity over HTTP: a show's alerts (for those who decide them), the decisions, and the
show's verified GMV (public, as on the ledger). Writes take an Idempotency-Key (the middleware)."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Query

from fieldcast.accounts.auth import CurrentUser
from fieldcast.accounts.permissions import require_org_role
from fieldcast.accounts.routes import org_or_404
from fieldcast.inputs import Id
from fieldcast.integrity import actions as a
from fieldcast.integrity import schemas as s
from fieldcast.integrity import supervision as sv
from fieldcast.integrity.gmv import Gmv, organisation_gmv, session_gmv
from fieldcast.integrity.models import AlertState, IntegrityAlert, Severity
from fieldcast.web.api import PROBLEMS
from fieldcast.web.deps import Uow

api = APIRouter(prefix="/api/v1", responses=PROBLEMS, tags=["integrity"])


@api.get("/sessions/{session_id}/alerts", response_model=list[s.AlertOut])
async def api_session_alerts(session_id: Id, uow: Uow, user: CurrentUser) -> list[s.AlertOut]:
    """A show's alerts, oldest first, with their evidence (platform admins; the organisation's
    owners, organisers and supervisors)."""
    live = await a.session_or_404(uow, session_id)
    await require_org_role(uow.session, user, live.organisation_id, *a.DECIDERS)
    rows = await uow.session.scalars(
        sa.select(IntegrityAlert).where(IntegrityAlert.session_id == live.id).order_by(IntegrityAlert.id)
    )
    return [s.AlertOut.model_validate(r) for r in rows]


@api.post("/alerts/{alert_id}/acknowledge", response_model=s.AlertOut)
async def api_acknowledge(alert_id: Id, data: s.AcknowledgeIn, uow: Uow, user: CurrentUser) -> s.AlertOut:
    """Acknowledge an open alert with a note (kept, with who and when, and in the audit log)."""
    return s.AlertOut.model_validate(await a.acknowledge(uow, user, alert_id, data.note))


@api.post("/alerts/{alert_id}/false-alarm", response_model=s.AlertOut)
async def api_false_alarm(alert_id: Id, data: s.FalseAlarmIn, uow: Uow, user: CurrentUser) -> s.AlertOut:
    """Mark an open or acknowledged alert a false alarm, with the reason."""
    return s.AlertOut.model_validate(await a.mark_false_alarm(uow, user, alert_id, data.reason))


def gmv_out(g: Gmv, **scope: int) -> s.GmvOut:
    return s.GmvOut(
        **scope,
        raw_fen=g.raw_fen,
        paid_fen=g.paid_fen,
        refunded_fen=g.refunded_fen,
        flagged_fen=g.flagged_fen,
        verified_fen=g.verified_fen,
        orders=g.orders,
        paid_orders=g.paid_orders,
        flagged_orders=g.flagged_orders,
    )


@api.get("/sessions/{session_id}/gmv", response_model=s.GmvOut)
async def api_session_gmv(session_id: Id, uow: Uow) -> s.GmvOut:
    """Raw, paid, refunded, flagged and verified GMV of a show, side by side (anyone)."""
    live = await a.session_or_404(uow, session_id)
    return gmv_out(await session_gmv(uow.session, live.id), session_id=live.id)


@api.get("/organisations/{slug}/gmv", response_model=s.GmvOut)
async def api_organisation_gmv(slug: str, uow: Uow) -> s.GmvOut:
    """The same figures over every order of an organisation, its shows' and its storefront's (anyone)."""
    org = await org_or_404(uow, slug)
    return gmv_out(await organisation_gmv(uow.session, org.id), organisation_id=org.id)


# -- the supervisor's view (read only; who sees what: integrity/supervision.py) -------------------


def supervised_out(r: sv.AlertRow) -> s.SupervisedAlertOut:
    return s.SupervisedAlertOut.model_validate(
        {
            **s.AlertOut.model_validate(r.alert).model_dump(),
            "session_title": r.session_title,
            "organisation_slug": r.organisation_slug,
            "organisation_name": r.organisation_name,
            "decided_by_name": r.decided_by_name,
        }
    )


OrgFilter = Annotated[str | None, Query(alias="organisation", description="An organisation's slug.")]


@api.get("/supervision/alerts", response_model=s.SupervisionAlertsOut)
async def api_supervision_alerts(
    uow: Uow,
    user: CurrentUser,
    organisation: OrgFilter = None,
    rule: str | None = None,
    severity: Severity | None = None,
    state: AlertState | None = None,
    limit: Annotated[int, Query(ge=1, le=sv.ALERTS_LIMIT)] = sv.ALERTS_LIMIT,
) -> s.SupervisionAlertsOut:
    """The alerts of the organisations the caller supervises (platform admins: all; otherwise
    where they are owner, organiser or supervisor): counts by rule and severity, and the newest."""
    scope = await sv.scope_of(uow.session, user)
    filters = sv.Filters(organisation, rule, severity, state)
    counts = await sv.alert_counts(uow.session, scope, filters)
    rows = await sv.alerts(uow.session, scope, filters, limit=limit)
    return s.SupervisionAlertsOut(
        counts=[
            s.AlertCountOut(
                rule=c.rule,
                severity=c.severity,
                open=c.open,
                acknowledged=c.acknowledged,
                false_alarm=c.false_alarm,
                total=c.total,
            )
            for c in counts
        ],
        items=[supervised_out(r) for r in rows],
    )


@api.get("/supervision/shows", response_model=list[s.ShowGmvOut])
async def api_supervision_shows(
    uow: Uow,
    user: CurrentUser,
    organisation: OrgFilter = None,
    limit: Annotated[int, Query(ge=1, le=sv.SHOWS_LIMIT)] = sv.SHOWS_LIMIT,
) -> list[s.ShowGmvOut]:
    """The shows of the organisations the caller supervises, newest first, with their figures."""
    scope = await sv.scope_of(uow.session, user)
    rows = await sv.shows(uow.session, scope, sv.Filters(organisation=organisation), limit=limit)
    return [
        s.ShowGmvOut(
            **gmv_out(r.gmv, session_id=r.session_id).model_dump(exclude={"organisation_id"}),
            title=r.title,
            state=r.state,
            scheduled_at=r.scheduled_at,
            organisation_slug=r.organisation_slug,
            organisation_name=r.organisation_name,
            alerts=r.alerts,
            alerts_standing=r.standing,
        )
        for r in rows
    ]


@api.get("/alerts/{alert_id}", response_model=s.SupervisedAlertOut)
async def api_alert(alert_id: Id, uow: Uow, user: CurrentUser) -> s.SupervisedAlertOut:
    """One alert with its evidence (platform admins; the organisation's owners, organisers and supervisors)."""
    return supervised_out(await sv.alert_detail(uow.session, user, alert_id))
