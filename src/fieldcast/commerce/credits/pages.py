"""Credits as an HTML page for an organisation's owners and organisers: its credits to people and
the form that records one (/orgs/<slug>/credits). The form takes yuan; the action takes fen.
A refused form is shown again with the message on the field at fault (422)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from starlette.responses import Response

from fieldcast.accounts.auth import CurrentUser
from fieldcast.accounts.models import Membership, Organisation, User
from fieldcast.accounts.routes import org_or_404
from fieldcast.commerce.credits import actions as a
from fieldcast.commerce.credits import queries as q
from fieldcast.commerce.credits import schemas as s
from fieldcast.commerce.credits.models import NOTE_MAX, CreditKind
from fieldcast.db.uow import UnitOfWork
from fieldcast.i18n import gettext
from fieldcast.live.models import LiveSession, SessionHost
from fieldcast.web.deps import Uow
from fieldcast.web.forms import ACCESS_ERRORS, Form, read_raw_form, safe_next, see_other, submit, validate_into
from fieldcast.web.money import BadAmount, parse_yuan
from fieldcast.web.templating import render

pages = APIRouter(include_in_schema=False)

FIELD_MAP = {"amount_fen": "amount_yuan"}
LISTED = 100


async def _choices(uow: UnitOfWork, org: Organisation) -> dict[str, Any]:
    """Whom a credit may name here (the organisation's members and its shows' hosts) and its shows."""
    shows = sa.select(LiveSession.id).where(LiveSession.organisation_id == org.id)
    people = await uow.session.execute(
        sa.select(User.id, User.display_name)
        .where(
            sa.or_(
                User.id.in_(sa.select(Membership.user_id).where(Membership.organisation_id == org.id)),
                User.id.in_(sa.select(SessionHost.user_id).where(SessionHost.session_id.in_(shows))),
            )
        )
        .order_by(User.display_name, User.id)
        .limit(500)
    )
    rooms = await uow.session.execute(
        sa.select(LiveSession.id, LiveSession.title, LiveSession.scheduled_at)
        .where(LiveSession.organisation_id == org.id)
        .order_by(LiveSession.scheduled_at.desc())
        .limit(100)
    )
    return {"people": [(p.id, f"{p.display_name} · #{p.id}") for p in people], "rooms": list(rooms)}


async def _view(
    request: Request, uow: UnitOfWork, user: User, org: Organisation, form: Form[Any] | None = None, status: int = 200
) -> Response:
    credits, total = await q.organisation_credits(uow.session, user, org, limit=LISTED, offset=0)
    return render(
        request,
        "commerce/credits.html",
        {
            "user": user,
            "org": org,
            "credits": credits,
            "total": total,
            "form": form or Form(values={"kind": "commission"}),
            "kinds": list(CreditKind),
            "note_max": NOTE_MAX,
            **await _choices(uow, org),
        },
        status_code=status,
    )


@pages.get("/orgs/{slug}/credits")
async def credits_page(slug: str, request: Request, uow: Uow, user: CurrentUser) -> Response:
    if user is None:
        return see_other(f"/signin?next={safe_next(request.url.path, '/')}")
    return await _view(request, uow, user, await org_or_404(uow, slug))


def _parse(values: dict[str, str], form: Form[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: values.get(k, "").strip() for k in ("kind", "note")}
    out["user_id"] = values.get("user_id", "").strip() or None
    out["session_id"] = values.get("session_id", "").strip() or None
    raw = values.get("amount_yuan", "").strip()
    try:
        out["amount_fen"] = parse_yuan(raw) if raw else 0
    except BadAmount:
        form.errors["amount_yuan"] = gettext(BadAmount.message)
    return out


@pages.post("/orgs/{slug}/credits")
async def credits_submit(slug: str, request: Request, uow: Uow, user: CurrentUser) -> Response:
    _raw, values = await read_raw_form(request)
    if user is None:
        return see_other(f"/signin?next=/orgs/{slug}/credits")
    org = await org_or_404(uow, slug)
    form: Form[s.CreditIn] = Form(values=values)
    parsed = _parse(values, form)
    if not form.errors:
        validate_into(form, s.CreditIn, parsed, FIELD_MAP)
    data = form.data
    if (
        not form.errors
        and data is not None
        and await submit(
            uow, form, lambda: a.record_credit(uow, user, org, data), field_map=FIELD_MAP, reraise=ACCESS_ERRORS
        )
    ):
        return see_other(f"/orgs/{slug}/credits?recorded=1")
    return await _view(request, uow, user, org, form, 422)
