"""After-sales as HTML pages: an order's requests with the buyer's form and each person's
buttons, a supplier organisation's queue and an organiser's escalations. Forms post here and
answer 303, or show the page again with the message on the field at fault (422)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from fieldcast.accounts.auth import CurrentUser
from fieldcast.accounts.models import Role, User
from fieldcast.accounts.queries import roles_in_org
from fieldcast.accounts.routes import org_or_404
from fieldcast.aftersales import actions as a
from fieldcast.aftersales import queries as q
from fieldcast.aftersales.models import (
    CARRIER_MAX,
    DECISION_REASON_MAX,
    NOTE_MAX,
    PHOTOS_MAX,
    TRACKING_MAX,
    RefundKind,
    RefundReason,
)
from fieldcast.aftersales.routes import Services
from fieldcast.catalog.images import MAX_IMAGE_BYTES
from fieldcast.commerce import refunds as order_refunds
from fieldcast.commerce.models import Order
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import NotFound
from fieldcast.i18n import N_, gettext
from fieldcast.inputs import INT_MAX, Id, UnsafeText, clean_text, parse_int
from fieldcast.web.deps import Uow
from fieldcast.web.forms import ACCESS_ERRORS, Form, read_raw_form, read_upload, safe_next, see_other, submit
from fieldcast.web.money import BadAmount, parse_yuan
from fieldcast.web.templating import render

pages = APIRouter(include_in_schema=False)


def _sign_in_first(request: Request) -> Response:
    return see_other(f"/signin?next={safe_next(request.url.path, '/')}")


def after_sales_path(order_id: Id) -> str:
    return f"/orders/{order_id}/after-sales"


async def _order_view(
    request: Request,
    uow: UnitOfWork,
    user: User,
    order_id: Id,
    *,
    form: Form[Any] | None = None,
    status_code: int = 200,
) -> Response:
    requests = await q.order_requests(uow.session, user, order_id)  # refuses whoever may not see them
    order = await uow.session.get(Order, order_id)
    if order is None:
        raise NotFound(N_("No such order."))
    is_buyer = order.buyer_id == user.id
    roles = set() if is_buyer else await roles_in_org(uow.session, user.id, order.organisation_id)
    return render(
        request,
        "aftersales/order.html",
        {
            "user": user,
            "order": order,
            "lines": await order_refunds.order_lines(uow, order.id),
            "requests": requests,
            "is_buyer": is_buyer,
            "decides": is_buyer is False and bool(roles & {Role.SUPPLIER, Role.OWNER}),
            "arbitrates": is_buyer is False and bool(roles & {Role.ORGANISER, Role.OWNER}),
            "refundable_fen": order_refunds.refundable_fen(order),
            "form": form or Form(),
            **limits(),
        },
        status_code=status_code,
    )


def limits() -> dict[str, Any]:
    return {
        "reasons": list(RefundReason),
        "kinds": list(RefundKind),
        "note_max": NOTE_MAX,
        "reason_max": DECISION_REASON_MAX,
        "carrier_max": CARRIER_MAX,
        "tracking_max": TRACKING_MAX,
        "photos_max": PHOTOS_MAX,
        "photo_mb": MAX_IMAGE_BYTES // (1024 * 1024),
    }


@pages.get("/orders/{order_id}/after-sales")
async def order_after_sales(order_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    if user is None:
        return _sign_in_first(request)
    return await _order_view(request, uow, user, order_id)


def _asked(form: Form[Any], values: dict[str, str]) -> a.Asked | None:
    """The form's fields as the action takes them; None with the messages on the form. The
    amount is typed in yuan (39.90) and goes on as integer fen."""
    kinds, reasons = {k.value: k for k in RefundKind}, {r.value: r for r in RefundReason}
    kind, reason = kinds.get(values.get("kind", "")), reasons.get(values.get("reason", ""))
    if kind is None:
        form.errors["kind"] = gettext(N_("Choose what you ask for."))
    if reason is None:
        form.errors["reason"] = gettext(N_("Choose a reason."))
    amount_fen = 0
    try:
        amount_fen = parse_yuan(values.get("amount", ""))
    except BadAmount:
        form.errors["amount"] = gettext(BadAmount.message)
    quantity_text = values.get("quantity", "").strip() or "0"
    quantity = parse_int(quantity_text, low=0, high=INT_MAX)
    if quantity is None:
        form.errors["quantity"] = gettext(N_("Enter a whole number of units."))
    line = values.get("order_line_id", "").strip()
    texts: dict[str, str] = {}
    for name in ("note", "return_carrier", "return_tracking_no"):  # what the seller reads, as in the API
        try:
            texts[name] = clean_text(values.get(name, ""), one_line=name != "note")
        except UnsafeText as exc:
            form.errors[name] = gettext(exc.message)
    if form.errors or kind is None or reason is None or quantity is None:
        return None
    return a.Asked(
        kind=kind,
        reason=reason,
        amount_fen=amount_fen,
        quantity=quantity,
        order_line_id=parse_int(line),
        note=texts["note"],
        return_carrier=texts["return_carrier"],
        return_tracking_no=texts["return_tracking_no"],
    )


@pages.post("/orders/{order_id}/refund-requests")
async def order_request_submit(order_id: Id, request: Request, uow: Uow, ctx: Services, user: CurrentUser) -> Response:
    raw, values = await read_raw_form(request)
    photo = await read_upload(raw, "photo", MAX_IMAGE_BYTES)
    if user is None:
        return _sign_in_first(request)
    form: Form[Any] = Form(values=values)
    asked = _asked(form, values)

    async def act(asked: a.Asked) -> None:
        req = await a.open_request(uow, user, order_id, asked)
        if photo:
            await a.add_photo(uow, user, req.id, photo, ctx.settings.resolved_media_dir)

    field_map = {"amount_fen": "amount"}
    if asked is not None and await submit(uow, form, lambda: act(asked), field_map=field_map, reraise=ACCESS_ERRORS):
        return see_other(after_sales_path(order_id))
    return await _order_view(request, uow, user, order_id, form=form, status_code=422)


@pages.post("/refund-requests/{request_id}/{step}")
async def request_step(
    request_id: Id, step: str, request: Request, uow: Uow, ctx: Services, user: CurrentUser
) -> Response:
    """The buttons of a request: photo, escalate, return (the buyer); approve, reject, received
    (the supplier); grant, uphold (the organiser)."""
    raw, values = await read_raw_form(request)
    photo = await read_upload(raw, "photo", MAX_IMAGE_BYTES) if step == "photo" else None
    if user is None:
        return _sign_in_first(request)
    req = await a.request_or_404(uow, request_id)
    order_id = req.order_id
    reason = values.get("reason", "")
    media_dir = ctx.settings.resolved_media_dir
    steps: dict[str, Any] = {
        "photo": lambda: a.add_photo(uow, user, request_id, photo or b"", media_dir),
        "escalate": lambda: a.escalate(uow, user, request_id, values.get("note", "")),
        "return": lambda: a.send_return(
            uow, user, request_id, values.get("return_carrier", ""), values.get("return_tracking_no", "")
        ),
        "approve": lambda: a.approve(uow, ctx.gate, user, request_id),
        "reject": lambda: a.reject(uow, user, request_id, reason),
        "received": lambda: a.confirm_return(uow, ctx.gate, user, request_id),
        "grant": lambda: a.arbitrate(uow, ctx.gate, user, request_id, grant=True, reason=reason),
        "uphold": lambda: a.arbitrate(uow, ctx.gate, user, request_id, grant=False, reason=reason),
    }
    if step not in steps:
        raise NotFound(N_("No such page."))
    form: Form[Any] = Form(values=values)
    back = safe_next(values.get("next"), after_sales_path(order_id))
    if await submit(uow, form, steps[step], reraise=ACCESS_ERRORS):
        return see_other(back)
    if not form.message:  # a field's message: shown as the page's, the form is one of many
        form.message = next(iter(form.errors.values()), "")
    return await _order_view(request, uow, user, order_id, form=form, status_code=422)


@pages.get("/orgs/{slug}/after-sales")
async def organisation_after_sales(slug: str, request: Request, uow: Uow, user: CurrentUser) -> Response:
    """The supplier's queue and the organiser's escalations, as the person's roles allow."""
    if user is None:
        return _sign_in_first(request)
    org = await org_or_404(uow, slug)
    roles = await roles_in_org(uow.session, user.id, org.id)
    may_decide = user.is_platform_admin or bool(roles & {Role.SUPPLIER, Role.OWNER})
    may_arbitrate = user.is_platform_admin or bool(roles & {Role.ORGANISER, Role.OWNER})
    queue = await q.supplier_queue(uow.session, user, org) if may_decide else []
    escalated = await q.escalations(uow.session, user, org) if may_arbitrate else []
    if not (may_decide or may_arbitrate):
        await q.supplier_queue(uow.session, user, org)  # refuses, with the roles it takes
    return render(
        request,
        "aftersales/organisation.html",
        {
            "user": user,
            "org": org,
            "queue": queue,
            "escalated": escalated,
            "may_decide": may_decide,
            "may_arbitrate": may_arbitrate,
            **limits(),
        },
    )
