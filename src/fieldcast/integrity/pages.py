"""Integrity's pages.

- /live/<id>/ledger: the public ledger of a show; anyone may open it, signed in or not.
- /integrity: the supervisor's view (read only): alerts counted by rule and severity, the alerts
  and the shows with their figures, filtered by organisation, rule, severity and state, each list
  exported as CSV or XLSX (/integrity/alerts.<fmt>, /integrity/shows.<fmt>).
- /integrity/alerts/<id>: one alert with its evidence; /integrity/sessions/<id>: a show's
  integrity report (its figures side by side, its alerts with their evidence and decisions).
  Both carry the forms to acknowledge (a note) or mark a false alarm (a reason).

Who may see the supervisor's pages: see integrity/supervision.py (platform admins; owners,
organisers and supervisors of the organisation). Nobody signed in is sent to sign in first."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from fieldcast.accounts.auth import CurrentUser
from fieldcast.accounts.models import User
from fieldcast.db.audit import list_heads
from fieldcast.db.audit_chain import chain_day
from fieldcast.db.base import utcnow
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import NotFound
from fieldcast.i18n import N_, gettext
from fieldcast.inputs import Id, parse_int
from fieldcast.integrity import actions as a
from fieldcast.integrity import supervision as q
from fieldcast.integrity.exports import FORMATS, Column, download
from fieldcast.integrity.gmv import Gmv, gmv_by_host, session_gmv
from fieldcast.integrity.ledger import ledger
from fieldcast.integrity.models import NOTE_MAX, AlertState, Severity
from fieldcast.labels import label
from fieldcast.web.deps import Uow
from fieldcast.web.forms import ACCESS_ERRORS, Form, read_raw_form, safe_next, see_other, submit
from fieldcast.web.templating import _local_time, render

pages = APIRouter(include_in_schema=False)

LEDGER_HEAD_DAYS = 7  # the audit heads a ledger shows at most (a show spans a day or two)


def _sign_in_first(request: Request) -> Response:
    return see_other(f"/signin?next={safe_next(request.url.path, '/')}")


@pages.get("/live/{session_id}/ledger")
async def ledger_page(session_id: Id, request: Request, uow: Uow) -> Response:
    live = await a.session_or_404(uow, session_id)
    # The audit chain's heads of the show's days (Beijing), from its start to its end (or today).
    first = chain_day(live.started_at or live.scheduled_at)
    last = chain_day(live.ended_at or utcnow())
    if last < first:
        last = first
    heads = list(await list_heads(uow.session, first=first, last=last))[-LEDGER_HEAD_DAYS:]
    return render(request, "integrity/ledger.html", {"l": await ledger(uow.session, live), "heads": heads})


SESSION_ORDERS_ROUTE = "/live/{session_id:int}/orders"
STATE_SESSION_GMV = "session_gmv"


@dataclass(frozen=True)
class SessionGmvSection:
    total: Gmv
    by_host: dict[int | None, Gmv]


async def session_gmv_section(request: Request, uow: Uow) -> None:
    """A dependency of commerce's page router: on a show's orders page (GET), load the show's
    figures side by side (and by host) onto the request, so the page never shows paid GMV alone.
    The figures are public (the ledger shows them); the page itself still decides who sees it."""
    if request.method != "GET" or getattr(request.scope.get("route"), "path", None) != SESSION_ORDERS_ROUTE:
        return
    session_id = parse_int(str(request.path_params.get("session_id", "")))
    if session_id is None:
        return
    section = SessionGmvSection(await session_gmv(uow.session, session_id), await gmv_by_host(uow.session, session_id))
    setattr(request.state, STATE_SESSION_GMV, section)


# -- the supervisor's view ------------------------------------------------------------------------


@pages.get("/integrity")
async def supervision_page(request: Request, uow: Uow, user: CurrentUser) -> Response:
    if user is None:
        return _sign_in_first(request)
    scope = await q.scope_of(uow.session, user)
    filters = q.parse_filters(dict(request.query_params))
    alerts = await q.alerts(uow.session, scope, filters)
    return render(
        request,
        "integrity/supervision.html",
        {
            "user": user,
            "scope": scope,
            "filters": filters,
            "query": filters.query(),
            "counts": await q.alert_counts(uow.session, scope, filters),
            "alerts": alerts,
            "alerts_limit": q.ALERTS_LIMIT,
            "shows": await q.shows(uow.session, scope, filters),
            "shows_limit": q.SHOWS_LIMIT,
            "rules": await q.rules_seen(uow.session, scope),
            "severities": list(Severity),
            "states": list(AlertState),
        },
    )


def alert_columns() -> list[Column]:
    return [
        Column(gettext(N_("Alert"))),
        Column(gettext(N_("Organisation"))),
        Column(gettext(N_("Show ID"))),
        Column(gettext(N_("Show"))),
        Column(gettext(N_("Rule"))),
        Column(gettext(N_("Rule ID"))),
        Column(gettext(N_("Severity"))),
        Column(gettext(N_("Subject"))),
        Column(gettext(N_("State"))),
        Column(gettext(N_("Raised"))),
        Column(gettext(N_("Decided by"))),
        Column(gettext(N_("Decided"))),
        Column(gettext(N_("Note or reason"))),
        Column(gettext(N_("Evidence"))),
    ]


def alert_cells(r: q.AlertRow) -> list[Any]:
    x = r.alert
    return [
        x.id,
        r.organisation_name,
        x.session_id,
        r.session_title or "",
        label("alert_rule", x.rule),
        x.rule,
        label("alert_severity", x.severity),
        f"{label('alert_subject', x.subject_kind)} {x.subject_id}",
        label("alert_state", x.state),
        _local_time(x.created_at, "short"),
        r.decided_by_name or "",
        _local_time(x.decided_at, "short"),
        x.decision_note,
        json.dumps(x.evidence, ensure_ascii=False, sort_keys=True),
    ]


def show_columns() -> list[Column]:
    return [
        Column(gettext(N_("Show ID"))),
        Column(gettext(N_("Show"))),
        Column(gettext(N_("Organisation"))),
        Column(gettext(N_("State"))),
        Column(gettext(N_("Scheduled"))),
        Column(gettext(N_("Orders placed"))),
        Column(gettext(N_("Paid orders"))),
        Column(gettext(N_("Raw GMV (orders placed)")), money=True),
        Column(gettext(N_("Paid GMV")), money=True),
        Column(gettext(N_("Refunded")), money=True),
        Column(gettext(N_("Under alert")), money=True),
        Column(gettext(N_("Verified GMV")), money=True),
        Column(gettext(N_("Alerts"))),
        Column(gettext(N_("Alerts standing"))),
    ]


def show_cells(r: q.ShowRow) -> list[Any]:
    g = r.gmv
    return [
        r.session_id,
        r.title,
        r.organisation_name,
        label("session_state", r.state),
        _local_time(r.scheduled_at, "short"),
        g.orders,
        g.paid_orders,
        g.raw_fen,
        g.paid_fen,
        g.refunded_fen,
        g.flagged_fen,
        g.verified_fen,
        r.alerts,
        r.standing,
    ]


@pages.get("/integrity/{what}.{fmt}")
async def supervision_export(what: str, fmt: str, request: Request, uow: Uow, user: CurrentUser) -> Response:
    """The alerts or the shows of the supervisor's view, with its filters, as CSV or XLSX."""
    if what not in ("alerts", "shows") or fmt not in FORMATS:
        raise NotFound(N_("No such page."))
    if user is None:
        return _sign_in_first(request)
    scope = await q.scope_of(uow.session, user)
    filters = q.parse_filters(dict(request.query_params))
    if what == "alerts":
        rows = [alert_cells(r) for r in await q.alerts(uow.session, scope, filters, limit=q.EXPORT_LIMIT)]
        return download(alert_columns(), rows, fmt, "integrity-alerts", gettext(N_("Alerts")))
    rows = [show_cells(r) for r in await q.shows(uow.session, scope, filters, limit=q.EXPORT_LIMIT)]
    return download(show_columns(), rows, fmt, "integrity-shows", gettext(N_("Shows")))


async def _alert_view(
    request: Request, uow: UnitOfWork, user: User, alert_id: int, *, form: Form[Any] | None = None, status: int = 200
) -> Response:
    row = await q.alert_detail(uow.session, user, alert_id)
    return render(
        request,
        "integrity/alert.html",
        {"user": user, "r": row, "form": form or Form(), "note_max": NOTE_MAX, "evidence_rows": q.evidence_rows},
        status_code=status,
    )


@pages.get("/integrity/alerts/{alert_id}")
async def alert_page(alert_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    if user is None:
        return _sign_in_first(request)
    return await _alert_view(request, uow, user, alert_id)


def report_path(session_id: int) -> str:
    return f"/integrity/sessions/{session_id}"


async def _report_view(
    request: Request, uow: UnitOfWork, user: User, session_id: int, *, form: Form[Any] | None = None, status: int = 200
) -> Response:
    live = await a.session_or_404(uow, session_id)
    data = await q.report(uow.session, user, live)
    return render(
        request,
        "integrity/report.html",
        {"user": user, "rep": data, "form": form or Form(), "note_max": NOTE_MAX, "evidence_rows": q.evidence_rows},
        status_code=status,
    )


@pages.get("/integrity/sessions/{session_id}")
async def report_page(session_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    if user is None:
        return _sign_in_first(request)
    return await _report_view(request, uow, user, session_id)


@pages.post("/integrity/alerts/{alert_id}/{step}")
async def decide(alert_id: Id, step: str, request: Request, uow: Uow, user: CurrentUser) -> Response:
    """Acknowledge (field `note`) or mark a false alarm (field `reason`); back to the report, or
    to the alert's page when posted from there (`from=alert`). A bad input re-renders that page
    with the message beside the field (422)."""
    _raw, values = await read_raw_form(request)
    if step not in ("acknowledge", "false-alarm"):
        raise NotFound(N_("No such page."))
    if user is None:
        return _sign_in_first(request)
    row = await q.alert_detail(uow.session, user, alert_id)
    session_id = row.alert.session_id
    form: Form[Any] = Form(values=values)
    if step == "acknowledge":
        act = lambda: a.acknowledge(uow, user, alert_id, values.get("note", ""))  # noqa: E731
    else:
        act = lambda: a.mark_false_alarm(uow, user, alert_id, values.get("reason", ""))  # noqa: E731
    on_alert_page = values.get("from") == "alert" or session_id is None
    if await submit(uow, form, act, reraise=ACCESS_ERRORS):
        if on_alert_page:
            return see_other(f"/integrity/alerts/{alert_id}")
        return see_other(f"{report_path(session_id or 0)}#alert-{alert_id}")
    form.values["alert_id"] = str(alert_id)  # which alert's form shows the message
    if on_alert_page:
        return await _alert_view(request, uow, user, alert_id, form=form, status=422)
    return await _report_view(request, uow, user, session_id or 0, form=form, status=422)
