"""Fulfilment over the JSON API: carriers, shipping an order with its tracking number, tracking
statuses, a shipments file (CSV or XLSX), the shipping queue and the organisation's shipping
deadline. Thin: parse, call one action or query, answer. Writes take an Idempotency-Key; the
buyer confirms delivery at POST /api/v1/orders/{id}/confirm-delivery (commerce/routes.py)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile
from starlette.responses import Response

from fieldcast.accounts.auth import CurrentUser
from fieldcast.accounts.routes import org_or_404
from fieldcast.commerce import errors as e
from fieldcast.commerce import fulfilment
from fieldcast.commerce import fulfilment_queries as fq
from fieldcast.commerce import fulfilment_schemas as fs
from fieldcast.commerce import queries as q
from fieldcast.commerce.shipment_files import read_shipments_file
from fieldcast.db.base import utcnow
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import Invalid
from fieldcast.i18n import N_, gettext
from fieldcast.inputs import Id
from fieldcast.web.api import PROBLEMS, Limit, Offset, Page
from fieldcast.web.deps import Uow
from fieldcast.web.problems import FieldError, problem_response

api = APIRouter(prefix="/api/v1", responses=PROBLEMS, tags=["fulfilment"])
UPLOAD_MAX_BYTES = 2 * 1_048_576


def file_problem(exc: e.BadShipmentFile) -> Response:
    """Every bad row of a file, each named `file.rows.<row>.<column>`."""
    errors = [
        FieldError(field=f"file.rows.{p.row}.{p.column}", code=exc.code, message=gettext(p.message, **p.params))
        for p in exc.rows
    ]
    return problem_response(exc.status, exc.code, gettext(exc.message, **exc.params), errors)


async def fulfilment_order(uow: UnitOfWork, order_id: Id, user: CurrentUser) -> fs.FulfilmentOrderOut:
    order, viewer = await q.viewable_order(uow.session, user, order_id)
    return fs.FulfilmentOrderOut(
        order=await q.order_detail(uow.session, order, viewer),
        shipment=await fq.shipment_detail(uow.session, order.id),
        overdue=fq.is_overdue(order, utcnow()),
    )


@api.get("/carriers", response_model=list[fs.CarrierOut])
async def api_carriers() -> list[fs.CarrierOut]:
    """The carriers a supplier may ship with, and an example of each one's tracking numbers."""
    return fq.carriers_out()


@api.post("/orders/{order_id}/shipment", response_model=fs.FulfilmentOrderOut, status_code=201)
async def api_ship(order_id: Id, data: fs.ShipmentIn, uow: Uow, user: CurrentUser) -> fs.FulfilmentOrderOut:
    """The supplier ships a paid order with its carrier and tracking number (checked against the
    carrier's format). For the organisation's supplier-role members and owners."""
    await fulfilment.ship_with_tracking(uow, user, order_id, data.carrier, data.tracking_no, data.status, data.note)
    return await fulfilment_order(uow, order_id, user)


@api.get("/orders/{order_id}/shipment", response_model=fs.FulfilmentOrderOut)
async def api_shipment(order_id: Id, uow: Uow, user: CurrentUser) -> fs.FulfilmentOrderOut:
    """The order with its parcel and tracking history, for whoever may see the order."""
    return await fulfilment_order(uow, order_id, user)


@api.post("/orders/{order_id}/tracking", response_model=fs.FulfilmentOrderOut)
async def api_tracking(order_id: Id, data: fs.TrackingIn, uow: Uow, user: CurrentUser) -> fs.FulfilmentOrderOut:
    """The supplier reports the parcel's latest status (the manual tracker)."""
    await fulfilment.update_tracking(uow, user, order_id, data.status, data.note)
    return await fulfilment_order(uow, order_id, user)


@api.post("/organisations/{slug}/shipments/upload", response_model=fs.UploadOut)
async def api_upload_shipments(
    slug: str,
    file: Annotated[UploadFile, File(description="CSV or XLSX: order_id, carrier, tracking_no[, status, note]")],
    uow: Uow,
    user: CurrentUser,
) -> fs.UploadOut | Response:
    """Ship many orders at once. The whole file is checked first: with any bad row nothing is
    applied, and the answer (422) lists every bad row as `file.rows.<row>.<column>`."""
    org = await org_or_404(uow, slug)
    data = await file.read(UPLOAD_MAX_BYTES + 1)
    if len(data) > UPLOAD_MAX_BYTES:
        raise Invalid(N_("The file is larger than %(mb)s MB."), field="file", mb=UPLOAD_MAX_BYTES // 1_048_576)
    try:
        rows = read_shipments_file(data, file.filename or "")
        shipped, updated = await fulfilment.import_shipments(uow, user, org, rows)
    except e.BadShipmentFile as exc:
        await uow.rollback()
        return file_problem(exc)
    return fs.UploadOut(shipped=shipped, updated=updated)


@api.get("/organisations/{slug}/shipping", response_model=Page[fs.FulfilmentOrderOut])
async def api_ship_queue(
    slug: str,
    uow: Uow,
    user: CurrentUser,
    status: fs.QueueStatus = "to_ship",
    session_id: Annotated[Id | None, Query()] = None,
    paid_on: Annotated[date | None, Query(description="A day of payment, Beijing time (YYYY-MM-DD).")] = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> Page[fs.FulfilmentOrderOut]:
    """The shipping queue: `to_ship` (paid, longest-waiting first), `overdue` (past the promised
    ship-by time), `shipped`, `delivered` or `all`; for the organisation's suppliers, owners,
    organisers and supervisors."""
    org = await org_or_404(uow, slug)
    return await fq.ship_queue(
        uow.session, user, org, status, utcnow(), session_id=session_id, day=paid_on, limit=limit, offset=offset
    )


@api.get("/organisations/{slug}/shipping-policy", response_model=fs.ShippingPolicyOut)
async def api_shipping_policy(slug: str, uow: Uow, user: CurrentUser) -> fs.ShippingPolicyOut:
    org = await org_or_404(uow, slug)
    return await fq.shipping_policy(uow.session, user, org)


@api.put("/organisations/{slug}/shipping-policy", response_model=fs.ShippingPolicyOut)
async def api_set_shipping_policy(
    slug: str, data: fs.ShippingPolicyIn, uow: Uow, user: CurrentUser
) -> fs.ShippingPolicyOut:
    """The owner sets how many hours after payment orders must ship (orders paid from now on)."""
    org = await org_or_404(uow, slug)
    hours = await fulfilment.set_ship_within_hours(uow, user, org, data.ship_within_hours)
    return fs.ShippingPolicyOut(ship_within_hours=hours, is_default=False)
