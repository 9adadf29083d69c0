"""Drop-shipping by the supplier (一件代发): each action is lock -> check -> change -> audit -> emit.

    paid ──ship (carrier + tracking number)──▶ shipped ──buyer confirms, or N days pass──▶ delivered

Who may do what, checked here (not in the routes):
- ship an order, type a tracking status, upload a shipments file: the order's organisation's
  supplier-role members and owners (SHIP_ROLES); organisers and supervisors only read;
- confirm delivery: the buyer alone (commerce.orders.confirm_delivery), or the system after
  `order_auto_confirm_days` (auto_confirm_order);
- set the organisation's shipping deadline: its owners.

A shipments file (CSV or XLSX) is checked whole before anything changes: every bad row is
reported with its number and reason, and a file with any bad row changes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from fieldcast.accounts.models import Organisation, Role, User
from fieldcast.accounts.permissions import require_org_role, require_user
from fieldcast.commerce import errors as e
from fieldcast.commerce.carriers import Carrier, find_carrier, normalise_tracking_no
from fieldcast.commerce.deadlines import ship_within_hours
from fieldcast.commerce.models import (
    Order,
    OrderState,
    Shipment,
    ShippingPolicy,
    TrackingEvent,
    TrackingStatus,
)
from fieldcast.commerce.orders import audit_order, emit_order, lock_orders
from fieldcast.commerce.shipment_files import FileRow
from fieldcast.commerce.tracking import TrackingUpdate
from fieldcast.db.audit import record_audit
from fieldcast.db.base import utcnow
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import NotFound
from fieldcast.i18n import N_

SHIP_ROLES = (Role.SUPPLIER, Role.OWNER)
DEADLINE_ROLES = (Role.OWNER,)
# Statuses a supplier may type in file rows, in either language (the enum's values also pass).
STATUS_WORDS = {
    "已发货": TrackingStatus.SHIPPED,
    "运输中": TrackingStatus.IN_TRANSIT,
    "派送中": TrackingStatus.OUT_FOR_DELIVERY,
    "已签收": TrackingStatus.DELIVERED,
    "异常": TrackingStatus.EXCEPTION,
    "in transit": TrackingStatus.IN_TRANSIT,
    "out for delivery": TrackingStatus.OUT_FOR_DELIVERY,
}


def check_tracking(carrier_text: str, tracking_text: str) -> tuple[Carrier, str]:
    """The carrier and the tracking number in its one spelling, or the reason they are refused."""
    carrier = find_carrier(carrier_text)
    if carrier is None:
        raise e.UnknownCarrier(N_("Unknown carrier “%(carrier)s”."), field="carrier", carrier=carrier_text.strip())
    number = normalise_tracking_no(tracking_text)
    if not carrier.accepts(number):
        raise e.BadTrackingNumber(
            N_("“%(number)s” is not a %(carrier)s tracking number (like %(example)s)."),
            field="tracking_no",
            number=number,
            carrier=carrier.code,
            example=carrier.example,
        )
    return carrier, number


def parse_status(text: str) -> TrackingStatus | None:
    word = text.strip().lower()
    if not word:
        return None
    if word in {s.value for s in TrackingStatus}:
        return TrackingStatus(word)
    return STATUS_WORDS.get(word) or STATUS_WORDS.get(text.strip())


async def _order_or_404(uow: UnitOfWork, order_id: int) -> Order:
    order = await uow.session.get(Order, order_id)
    if order is None:
        raise NotFound(N_("No such order."))
    return order


def _require_state(order: Order, *states: OrderState) -> None:
    if order.state not in states:
        raise e.WrongOrderState(
            N_("This order is %(state)s; that cannot be done now."), field="state", state=order.state.value
        )


def _track(uow: UnitOfWork, shipment: Shipment, status: TrackingStatus, note: str, source: str, at: datetime) -> None:
    shipment.status = status
    shipment.status_at = at
    uow.session.add(
        TrackingEvent(shipment_id=shipment.id, status=status, note=note[:200], source=source, happened_at=at)
    )


async def _ship(
    uow: UnitOfWork,
    user_id: int | None,
    order: Order,
    carrier: Carrier,
    number: str,
    status: TrackingStatus | None,
    note: str,
    source: str,
    now: datetime,
) -> Shipment:
    """Change and audit one locked, paid order to shipped with its parcel (the caller emits)."""
    order.state = OrderState.SHIPPED
    order.shipped_at = now
    shipment = Shipment(
        order_id=order.id,
        organisation_id=order.organisation_id,
        carrier=carrier.code,
        tracking_no=number,
        shipped_by=user_id,
        shipped_at=now,
        status=TrackingStatus.SHIPPED,
        status_at=now,
        is_demo=order.is_demo,
    )
    uow.session.add(shipment)
    await uow.session.flush()
    _track(uow, shipment, TrackingStatus.SHIPPED, "", source, now)
    if status is not None and status != TrackingStatus.SHIPPED:
        _track(uow, shipment, status, note, source, now)
    audit_order(uow, user_id, "order.ship", order, carrier=carrier.code, tracking_no=number, source=source)
    return shipment


async def ship_with_tracking(
    uow: UnitOfWork,
    actor: User | None,
    order_id: int,
    carrier_text: str,
    tracking_text: str,
    status: TrackingStatus | None = None,
    note: str = "",
) -> Shipment:
    """The supplier hands a paid order to a carrier, with the parcel's tracking number."""
    user = require_user(actor)
    order = await _order_or_404(uow, order_id)
    await require_org_role(uow.session, user, order.organisation_id, *SHIP_ROLES)
    carrier, number = check_tracking(carrier_text, tracking_text)
    (order,) = await lock_orders(uow, [order.id])
    _require_state(order, OrderState.PAID)
    shipment = await _ship(uow, user.id, order, carrier, number, status, note, "manual", utcnow())
    emit_order(uow, order)
    return shipment


async def shipment_of_order(uow: UnitOfWork, order_id: int) -> Shipment | None:
    return await uow.session.scalar(sa.select(Shipment).where(Shipment.order_id == order_id))


async def update_tracking(
    uow: UnitOfWork, actor: User | None, order_id: int, status: TrackingStatus, note: str = ""
) -> Shipment:
    """The supplier types the parcel's latest status (the manual tracker)."""
    user = require_user(actor)
    order = await _order_or_404(uow, order_id)
    await require_org_role(uow.session, user, order.organisation_id, *SHIP_ROLES)
    (order,) = await lock_orders(uow, [order.id])
    _require_state(order, OrderState.SHIPPED, OrderState.DELIVERED)
    shipment = await shipment_of_order(uow, order.id)
    if shipment is None:
        raise e.WrongOrderState(N_("This order was shipped without a tracking number."), field="state")
    _track(uow, shipment, status, note, "manual", utcnow())
    audit_order(uow, user.id, "order.tracking", order, status=status.value)
    return shipment


@dataclass(frozen=True)
class _Checked:
    row: int
    order_id: int
    carrier: Carrier
    number: str
    status: TrackingStatus | None
    note: str


def _check_row(row: FileRow, problems: list[e.RowProblem]) -> _Checked | None:
    """One row's own checks (no database): every fault of the row is reported."""
    before = len(problems)
    v = row.values
    order_text = v.get("order_id", "")
    order_id = int(order_text) if order_text.isdigit() and len(order_text) < 19 else None
    if order_id is None:
        problems.append(
            e.RowProblem(row.number, "order_id", N_("“%(value)s” is not an order number."), value=order_text)
        )
    carrier: Carrier | None = None
    number = ""
    try:
        carrier, number = check_tracking(v.get("carrier", ""), v.get("tracking_no", ""))
    except (e.UnknownCarrier, e.BadTrackingNumber) as exc:
        problems.append(e.RowProblem(row.number, exc.field or "carrier", exc.message, **exc.params))
    status = parse_status(v.get("status", ""))
    if v.get("status", "").strip() and status is None:
        problems.append(
            e.RowProblem(row.number, "status", N_("Unknown tracking status “%(value)s”."), value=v["status"])
        )
    if len(problems) > before or order_id is None or carrier is None:
        return None
    return _Checked(row.number, order_id, carrier, number, status, v.get("note", "")[:200])


async def import_shipments(
    uow: UnitOfWork, actor: User | None, org: Organisation, rows: Sequence[FileRow]
) -> tuple[list[int], list[int]]:
    """Apply a shipments file of this organisation: a paid order is shipped with its row's carrier
    and number; a shipped order with the same carrier and number gets the row's status. Returns
    (shipped, updated) order ids. Any bad row raises BadShipmentFile listing them all, before
    anything changed."""
    user = require_user(actor)
    await require_org_role(uow.session, user, org.id, *SHIP_ROLES)
    problems: list[e.RowProblem] = []
    checked = [c for c in (_check_row(row, problems) for row in rows) if c is not None]
    seen: dict[int, int] = {}
    for c in checked:
        if c.order_id in seen:
            problems.append(
                e.RowProblem(
                    c.row,
                    "order_id",
                    N_("Order %(order)s is also on row %(other)s."),
                    order=c.order_id,
                    other=seen[c.order_id],
                )
            )
        else:
            seen[c.order_id] = c.row
    orders = {o.id: o for o in await lock_orders(uow, list(seen))}
    shipments = {
        s.order_id: s for s in await uow.session.scalars(sa.select(Shipment).where(Shipment.order_id.in_(list(orders))))
    }
    plan: list[tuple[_Checked, Order, Shipment | None]] = []
    for c in checked:
        if seen.get(c.order_id) != c.row:
            continue
        order = orders.get(c.order_id)
        if order is None or order.organisation_id != org.id:
            problems.append(
                e.RowProblem(c.row, "order_id", N_("No order %(order)s in this organisation."), order=c.order_id)
            )
            continue
        existing = shipments.get(order.id)
        if order.state == OrderState.PAID:
            plan.append((c, order, None))
        elif existing is not None and order.state in (OrderState.SHIPPED, OrderState.DELIVERED):
            if (existing.carrier, existing.tracking_no) != (c.carrier.code, c.number):
                problems.append(
                    e.RowProblem(
                        c.row,
                        "tracking_no",
                        N_("Order %(order)s was shipped as %(carrier)s %(number)s."),
                        order=order.id,
                        carrier=existing.carrier,
                        number=existing.tracking_no,
                    )
                )
            else:
                plan.append((c, order, existing))
        else:
            problems.append(
                e.RowProblem(
                    c.row,
                    "order_id",
                    N_("Order %(order)s is %(state)s; it cannot be shipped."),
                    order=order.id,
                    state=order.state.value,
                )
            )
    if problems:
        problems.sort(key=lambda p: (p.row, p.column))
        raise e.BadShipmentFile(
            N_("Nothing was applied. Rows to fix: %(count)s."), problems, count=len({p.row for p in problems})
        )
    now = utcnow()
    shipped: list[int] = []
    updated: list[int] = []
    for c, order, existing in plan:
        if existing is None:
            await _ship(uow, user.id, order, c.carrier, c.number, c.status, c.note, "upload", now)
            emit_order(uow, order)
            shipped.append(order.id)
        elif c.status is not None and c.status != existing.status:
            _track(uow, existing, c.status, c.note, "upload", now)
            audit_order(uow, user.id, "order.tracking", order, status=c.status.value, source="upload")
            updated.append(order.id)
    return shipped, updated


async def record_tracking(uow: UnitOfWork, update: TrackingUpdate, source: str) -> Shipment | None:
    """A tracker's news for a parcel (None when no shipped order has it, or nothing is new)."""
    shipment = await uow.session.scalar(
        sa.select(Shipment).where(Shipment.carrier == update.carrier, Shipment.tracking_no == update.tracking_no)
    )
    if shipment is None:
        return None
    (order,) = await lock_orders(uow, [shipment.order_id])
    if order.state not in (OrderState.SHIPPED, OrderState.DELIVERED) or shipment.status == update.status:
        return None
    _track(uow, shipment, update.status, update.note, source, update.happened_at)
    audit_order(uow, None, "order.tracking", order, status=update.status.value, source=source)
    return shipment


async def due_for_auto_confirm(uow: UnitOfWork, now: datetime, days: int, limit: int = 200) -> list[int]:
    """Shipped orders whose buyer has not confirmed within `days` of shipping, oldest first."""
    rows = await uow.session.scalars(
        sa.select(Order.id)
        .where(Order.state == OrderState.SHIPPED, Order.shipped_at <= now - timedelta(days=days))
        .order_by(Order.shipped_at, Order.id)
        .limit(limit)
    )
    return list(rows)


async def auto_confirm_order(uow: UnitOfWork, order_id: int, now: datetime, days: int) -> Order | None:
    """The system confirms delivery for a buyer who did not, `days` after shipping (None: the buyer
    confirmed first, or it is not yet time)."""
    locked = await lock_orders(uow, [order_id])
    if not locked:
        return None
    order = locked[0]
    if order.state != OrderState.SHIPPED or order.shipped_at is None or order.shipped_at > now - timedelta(days=days):
        return None
    order.state = OrderState.DELIVERED
    order.delivered_at = now
    audit_order(uow, None, "order.deliver", order, automatic=True, after_days=days)
    emit_order(uow, order)
    return order


async def set_ship_within_hours(uow: UnitOfWork, actor: User | None, org: Organisation, hours: int) -> int:
    """The organisation's owner sets its shipping deadline (for orders paid from now on)."""
    user = require_user(actor)
    await require_org_role(uow.session, user, org.id, *DEADLINE_ROLES)
    policy = await uow.session.get(ShippingPolicy, org.id, with_for_update=True)
    before = await ship_within_hours(uow.session, org.id)
    if policy is None:
        uow.session.add(ShippingPolicy(organisation_id=org.id, ship_within_hours=hours))
    else:
        policy.ship_within_hours = hours
    record_audit(
        uow,
        actor_id=user.id,
        action="organisation.shipping_deadline",
        target_type="organisation",
        target_id=org.id,
        organisation_id=org.id,
        details={"before_hours": before, "hours": hours},
    )
    return hours
