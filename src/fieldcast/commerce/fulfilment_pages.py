"""Fulfilment as HTML pages: the supplier's shipping queue (filters, one form per order, a file
upload, the shipping deadline), a printable packing list, and the forms of an order's page that
ship it or report its parcel's status. Forms post here and answer 303, or show the page again with
the message where it belongs (422)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from fieldcast.accounts.auth import CurrentUser
from fieldcast.accounts.models import Organisation, User
from fieldcast.accounts.routes import org_or_404
from fieldcast.commerce import errors as e
from fieldcast.commerce import fulfilment
from fieldcast.commerce import fulfilment_queries as fq
from fieldcast.commerce import fulfilment_schemas as fs
from fieldcast.commerce.deadlines import SHIP_WITHIN_HOURS_MAX, SHIP_WITHIN_HOURS_MIN
from fieldcast.commerce.models import TrackingStatus
from fieldcast.commerce.shipment_files import read_shipments_file
from fieldcast.db.base import utcnow
from fieldcast.db.uow import UnitOfWork
from fieldcast.i18n import N_, gettext
from fieldcast.inputs import Id
from fieldcast.web.api import Offset
from fieldcast.web.deps import Uow
from fieldcast.web.forms import ACCESS_ERRORS, Form, read_raw_form, read_upload, safe_next, see_other, submit
from fieldcast.web.templating import render

pages = APIRouter(include_in_schema=False)
PAGE_SIZE = 20
PACKING_LIST_MAX = 200
UPLOAD_MAX_BYTES = 2 * 1_048_576
Text = Annotated[str | None, Query(max_length=20)]


def _sign_in_first(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return see_other(f"/signin?next={safe_next(target, '/')}")


def _queue_filters(status: str | None, session_id: str | None, paid_on: str | None) -> dict[str, Any]:
    """The queue's filters from the query string; anything unreadable is simply not applied."""
    chosen: fs.QueueStatus = next((x for x in fs.QUEUE_STATUSES if x == status), "to_ship")
    sid = int(session_id) if session_id and session_id.isdigit() and len(session_id) < 12 else None
    try:
        day = date.fromisoformat(paid_on) if paid_on else None
    except ValueError:
        day = None
    return {"status": chosen, "session_id": sid, "day": day}


def _query(filters: dict[str, Any]) -> str:
    parts = [f"status={filters['status']}"]
    if filters["session_id"] is not None:
        parts.append(f"session_id={filters['session_id']}")
    if filters["day"] is not None:
        parts.append(f"paid_on={filters['day'].isoformat()}")
    return "&".join(parts)


async def _queue_view(
    request: Request,
    uow: UnitOfWork,
    user: User,
    org: Organisation,
    filters: dict[str, Any],
    offset: int = 0,
    *,
    ship_form: Form[Any] | None = None,
    upload_form: Form[Any] | None = None,
    policy_form: Form[Any] | None = None,
    row_problems: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    now = utcnow()
    page = await fq.ship_queue(
        uow.session,
        user,
        org,
        filters["status"],
        now,
        limit=PAGE_SIZE,
        offset=offset,
        session_id=filters["session_id"],
        day=filters["day"],
    )
    policy = await fq.shipping_policy(uow.session, user, org)
    return render(
        request,
        "commerce/shipping.html",
        {
            "user": user,
            "org": org,
            "page": page,
            "filters": filters,
            "query": _query(filters),
            "statuses": fs.QUEUE_STATUSES,
            "carriers": fq.carriers_out(),
            "policy": policy,
            "may_ship": await fq.may_ship(uow.session, user, org.id),
            "may_set_deadline": await fq.may_set_deadline(uow.session, user, org.id),
            "ship_form": ship_form or Form(),
            "upload_form": upload_form or Form(),
            "policy_form": policy_form or Form(values={"ship_within_hours": str(policy.ship_within_hours)}),
            "row_problems": row_problems or [],
            "hours_min": SHIP_WITHIN_HOURS_MIN,
            "hours_max": SHIP_WITHIN_HOURS_MAX,
            "page_size": PAGE_SIZE,
            "uploaded": request.query_params.get("uploaded"),
        },
        status_code=status_code,
    )


@pages.get("/orgs/{slug}/shipping")
async def shipping_page(
    slug: str,
    request: Request,
    uow: Uow,
    user: CurrentUser,
    status: Text = None,
    session_id: Text = None,
    paid_on: Text = None,
    offset: Offset = 0,
) -> Response:
    """Orders to ship, overdue ones, and those on their way; for suppliers, owners, organisers."""
    if user is None:
        return _sign_in_first(request)
    org = await org_or_404(uow, slug)
    return await _queue_view(request, uow, user, org, _queue_filters(status, session_id, paid_on), offset)


@pages.post("/orgs/{slug}/shipping/orders/{order_id}/ship")
async def shipping_ship(slug: str, order_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    _raw, values = await read_raw_form(request)
    org = await org_or_404(uow, slug)
    form: Form[Any] = Form(values={**values, "order_id": str(order_id)})
    if await submit(
        uow,
        form,
        lambda: fulfilment.ship_with_tracking(
            uow, user, order_id, values.get("carrier", ""), values.get("tracking_no", "")
        ),
        reraise=ACCESS_ERRORS,
    ):
        return see_other(safe_next(values.get("next"), f"/orgs/{slug}/shipping"))
    if user is None:
        return _sign_in_first(request)
    filters = _queue_filters(
        request.query_params.get("status"), request.query_params.get("session_id"), request.query_params.get("paid_on")
    )
    return await _queue_view(request, uow, user, org, filters, ship_form=form, status_code=422)


@pages.post("/orgs/{slug}/shipping/upload")
async def shipping_upload(slug: str, request: Request, uow: Uow, user: CurrentUser) -> Response:
    raw, _values = await read_raw_form(request)
    data = await read_upload(raw, "file", UPLOAD_MAX_BYTES)
    upload = raw.get("file")
    filename = str(getattr(upload, "filename", "") or "")
    org = await org_or_404(uow, slug)
    if user is None:
        return _sign_in_first(request)
    form: Form[Any] = Form()
    problems: list[str] = []
    if data is None:
        form.errors["file"] = gettext(N_("Choose a .csv or .xlsx file."))
    elif len(data) > UPLOAD_MAX_BYTES:
        form.errors["file"] = gettext(N_("The file is larger than %(mb)s MB."), mb=UPLOAD_MAX_BYTES // 1_048_576)
    else:
        try:
            rows = read_shipments_file(data, filename)
            shipped, _updated = await fulfilment.import_shipments(uow, user, org, rows)
        except e.BadShipmentFile as exc:
            await uow.rollback()
            form.message = gettext(exc.message, **exc.params)
            problems = [
                gettext(
                    N_("Row %(row)s, %(column)s: %(reason)s"),
                    row=p.row,
                    column=p.column,
                    reason=gettext(p.message, **p.params),
                )
                for p in exc.rows
            ]
        else:
            return see_other(f"/orgs/{slug}/shipping?status=shipped&uploaded={len(shipped)}")
    filters = _queue_filters(None, None, None)
    return await _queue_view(request, uow, user, org, filters, upload_form=form, row_problems=problems, status_code=422)


@pages.post("/orgs/{slug}/shipping/policy")
async def shipping_policy_submit(slug: str, request: Request, uow: Uow, user: CurrentUser) -> Response:
    _raw, values = await read_raw_form(request)
    org = await org_or_404(uow, slug)
    if user is None:
        return _sign_in_first(request)
    form: Form[Any] = Form(values=values)
    text = values.get("ship_within_hours", "").strip()
    hours = int(text) if text.isdigit() and len(text) < 6 else 0
    if not SHIP_WITHIN_HOURS_MIN <= hours <= SHIP_WITHIN_HOURS_MAX:
        form.errors["ship_within_hours"] = gettext(
            N_("Enter a whole number of hours from %(min)s to %(max)s."),
            min=SHIP_WITHIN_HOURS_MIN,
            max=SHIP_WITHIN_HOURS_MAX,
        )
    elif await submit(
        uow, form, lambda: fulfilment.set_ship_within_hours(uow, user, org, hours), reraise=ACCESS_ERRORS
    ):
        return see_other(f"/orgs/{slug}/shipping")
    return await _queue_view(
        request, uow, user, org, _queue_filters(None, None, None), policy_form=form, status_code=422
    )


@pages.get("/orgs/{slug}/shipping/packing-list")
async def packing_list_page(
    slug: str,
    request: Request,
    uow: Uow,
    user: CurrentUser,
    status: Text = None,
    session_id: Text = None,
    paid_on: Text = None,
) -> Response:
    """A print-friendly list of the filtered orders: what goes in each parcel, and to whom."""
    if user is None:
        return _sign_in_first(request)
    org = await org_or_404(uow, slug)
    filters = _queue_filters(status, session_id, paid_on)
    page = await fq.ship_queue(
        uow.session,
        user,
        org,
        filters["status"],
        utcnow(),
        session_id=filters["session_id"],
        day=filters["day"],
        limit=PACKING_LIST_MAX,
        offset=0,
    )
    return render(
        request,
        "commerce/packing_list.html",
        {"user": user, "org": org, "page": page, "filters": filters, "printed_at": utcnow(), "bare": True},
    )


# -- an order's page: ship it, report its parcel's status -----------------------------------------


@pages.post("/orders/{order_id}/shipment")
async def order_ship_with_tracking(order_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    _raw, values = await read_raw_form(request)
    form: Form[Any] = Form(values=values)
    if await submit(
        uow,
        form,
        lambda: fulfilment.ship_with_tracking(
            uow, user, order_id, values.get("carrier", ""), values.get("tracking_no", "")
        ),
        reraise=ACCESS_ERRORS,
    ):
        return see_other(f"/orders/{order_id}")
    return render(
        request,
        "error.html",
        {"status": 422, "detail": form.message or " ".join(form.errors.values())},
        status_code=422,
    )


@pages.post("/orders/{order_id}/tracking")
async def order_tracking(order_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    _raw, values = await read_raw_form(request)
    status = next((s for s in TrackingStatus if s.value == values.get("status")), None)
    form: Form[Any] = Form(values=values)
    if status is None:
        form.message = gettext(N_("Choose a tracking status."))
    elif await submit(
        uow,
        form,
        lambda: fulfilment.update_tracking(uow, user, order_id, status, values.get("note", "")),
        reraise=ACCESS_ERRORS,
    ):
        return see_other(f"/orders/{order_id}")
    return render(
        request,
        "error.html",
        {"status": 422, "detail": form.message or " ".join(form.errors.values())},
        status_code=422,
    )
