"""Coupons as HTML pages: an organisation's batches and the form that issues one
(/orgs/<slug>/coupons). The form takes yuan and Beijing times; the action takes fen and UTC.
A refused form is shown again with the message on the field at fault (422)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from starlette.responses import Response

from fieldcast.accounts.auth import CurrentUser
from fieldcast.accounts.models import Organisation, User
from fieldcast.accounts.routes import org_or_404
from fieldcast.catalog.models import Product
from fieldcast.commerce.coupons import actions as a
from fieldcast.commerce.coupons import queries as q
from fieldcast.commerce.coupons import schemas as s
from fieldcast.commerce.coupons.models import TITLE_MAX, TOTAL_MAX, CouponKind, CouponScope
from fieldcast.db.uow import UnitOfWork
from fieldcast.i18n import gettext
from fieldcast.live.manage_pages import from_local_input
from fieldcast.live.models import LiveSession
from fieldcast.web.deps import Uow
from fieldcast.web.forms import ACCESS_ERRORS, Form, read_raw_form, safe_next, see_other, submit, validate_into
from fieldcast.web.money import BadAmount, parse_yuan
from fieldcast.web.templating import render

pages = APIRouter(include_in_schema=False)

# The form's names where they differ from the API's.
FIELD_MAP = {
    "amount_off_fen": "amount_off_yuan",
    "cap_fen": "cap_yuan",
    "min_spend_fen": "min_spend_yuan",
}


async def _choices(uow: UnitOfWork, org: Organisation) -> dict[str, Any]:
    """The shows (to come or live) and the products a coupon of this organisation may be for."""
    rooms = await uow.session.execute(
        sa.select(LiveSession.id, LiveSession.title, LiveSession.scheduled_at)
        .where(LiveSession.organisation_id == org.id, LiveSession.state.in_(a.OPEN_ROOM_STATES))
        .order_by(LiveSession.scheduled_at)
        .limit(50)
    )
    products = await uow.session.execute(
        sa.select(Product.id, Product.title).where(Product.organisation_id == org.id).order_by(Product.id).limit(200)
    )
    return {"rooms": list(rooms), "products": list(products)}


async def _view(
    request: Request, uow: UnitOfWork, user: User, org: Organisation, form: Form[Any] | None = None, status: int = 200
) -> Response:
    batches, total = await q.organisation_batches(uow.session, user, org)
    return render(
        request,
        "commerce/coupons.html",
        {
            "user": user,
            "org": org,
            "batches": batches,
            "total": total,
            "form": form or Form(values={"kind": "threshold", "scope": "session", "total": "100"}),
            "kinds": list(CouponKind),
            "scopes": list(CouponScope),
            "title_max": TITLE_MAX,
            "total_max": TOTAL_MAX,
            **await _choices(uow, org),
        },
        status_code=status,
    )


@pages.get("/orgs/{slug}/coupons")
async def coupons_page(slug: str, request: Request, uow: Uow, user: CurrentUser) -> Response:
    if user is None:
        return see_other(f"/signin?next={safe_next(request.url.path, '/')}")
    return await _view(request, uow, user, await org_or_404(uow, slug))


def _parse(values: dict[str, str], form: Form[Any]) -> dict[str, Any]:
    """The form's yuan, numbers and Beijing times as the API's fen, integers and UTC."""
    out: dict[str, Any] = {k: values.get(k, "").strip() for k in ("title", "kind", "scope", "claims_override_reason")}
    for name, field in (
        ("amount_off_yuan", "amount_off_fen"),
        ("cap_yuan", "cap_fen"),
        ("min_spend_yuan", "min_spend_fen"),
    ):
        raw = values.get(name, "").strip()
        try:
            out[field] = parse_yuan(raw) if raw else 0
        except BadAmount:
            form.errors[name] = gettext(BadAmount.message)
    for name in ("percent_off", "total", "session_id", "product_id"):
        raw = values.get(name, "").strip()
        out[name] = raw or (0 if name == "percent_off" else None)
    for name in ("claim_starts_at", "claim_ends_at", "use_until"):
        raw = values.get(name, "").strip()
        out[name] = from_local_input(raw) if raw else None
    return out


@pages.post("/orgs/{slug}/coupons")
async def coupons_submit(slug: str, request: Request, uow: Uow, user: CurrentUser) -> Response:
    _raw, values = await read_raw_form(request)
    if user is None:
        return see_other(f"/signin?next=/orgs/{slug}/coupons")
    org = await org_or_404(uow, slug)
    form: Form[s.CouponBatchIn] = Form(values=values)
    parsed = _parse(values, form)
    if not form.errors:
        validate_into(form, s.CouponBatchIn, parsed, FIELD_MAP)
    data = form.data
    if (
        not form.errors
        and data is not None
        and await submit(
            uow, form, lambda: a.create_batch(uow, user, org, data), field_map=FIELD_MAP, reraise=ACCESS_ERRORS
        )
    ):
        return see_other(f"/orgs/{slug}/coupons?issued=1")
    return await _view(request, uow, user, org, form, 422)
