"""Reads for fulfilment: an organisation's shipping queue (filtered by state, session and day of
payment; overdue = paid and past its ship-by time), packing lists, and an order's parcel.

Who reads: the organisation's suppliers, owners, organisers and supervisors (commerce.queries'
ORDER_READERS); the phone is masked as commerce.queries.Viewer says (those who ship see it).
A queue page costs a fixed number of queries whatever its length: count, page, lines, parcels."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.accounts.models import Organisation, Role, User
from fieldcast.accounts.permissions import require_org_role, require_user
from fieldcast.accounts.queries import roles_in_org
from fieldcast.commerce import fulfilment_schemas as fs
from fieldcast.commerce import queries as q
from fieldcast.commerce.carriers import CARRIERS
from fieldcast.commerce.deadlines import DEFAULT_SHIP_WITHIN_HOURS
from fieldcast.commerce.fulfilment import DEADLINE_ROLES, SHIP_ROLES
from fieldcast.commerce.models import Order, OrderState, Shipment, ShippingPolicy, TrackingEvent, TrackingStatus
from fieldcast.db.base import utcnow
from fieldcast.i18n import current_language
from fieldcast.web.api import Page

SHANGHAI = ZoneInfo("Asia/Shanghai")


def carriers_out() -> list[fs.CarrierOut]:
    return [
        fs.CarrierOut(code=c.code, name_zh=c.name_zh, name_en=c.name_en, example=c.example) for c in CARRIERS.values()
    ]


def carrier_name(code: str) -> str:
    carrier = CARRIERS.get(code)
    return carrier.name(current_language.get()) if carrier else code


def shipment_out(shipment: Shipment, events: list[TrackingEvent] | None = None) -> fs.ShipmentOut:
    return fs.ShipmentOut(
        order_id=shipment.order_id,
        carrier=shipment.carrier,
        carrier_name=carrier_name(shipment.carrier),
        tracking_no=shipment.tracking_no,
        shipped_at=shipment.shipped_at,
        status=shipment.status,
        status_at=shipment.status_at,
        events=[
            fs.TrackingEventOut(status=x.status, note=x.note, source=x.source, happened_at=x.happened_at)
            for x in events or []
        ],
    )


async def shipment_detail(session: AsyncSession, order_id: int) -> fs.ShipmentOut | None:
    """An order's parcel with its history, newest first (the caller checked who may see it)."""
    shipment = await session.scalar(sa.select(Shipment).where(Shipment.order_id == order_id))
    if shipment is None:
        return None
    events = list(
        await session.scalars(
            sa.select(TrackingEvent)
            .where(TrackingEvent.shipment_id == shipment.id)
            .order_by(TrackingEvent.happened_at.desc(), TrackingEvent.id.desc())
        )
    )
    return shipment_out(shipment, events)


def is_overdue(order: Order, now: datetime) -> bool:
    return order.state == OrderState.PAID and order.ship_by is not None and order.ship_by < now


async def _holds(session: AsyncSession, user: User | None, org_id: int, allowed: tuple[Role, ...]) -> bool:
    if user is None:
        return False
    return user.is_platform_admin or bool(await roles_in_org(session, user.id, org_id) & set(allowed))


async def may_ship(session: AsyncSession, user: User | None, org_id: int) -> bool:
    return await _holds(session, user, org_id, SHIP_ROLES)


async def may_set_deadline(session: AsyncSession, user: User | None, org_id: int) -> bool:
    return await _holds(session, user, org_id, DEADLINE_ROLES)


async def order_fulfilment(session: AsyncSession, user: User, order: Order) -> dict[str, Any]:
    """What the order page's fulfilment section shows: the parcel and its history, the promised
    ship-by time, whether it is late, and (for those who ship) the carriers to pick from."""
    shipper = order.buyer_id != user.id and await may_ship(session, user, order.organisation_id)
    return {
        "shipment": await shipment_detail(session, order.id),
        "overdue": is_overdue(order, utcnow()),
        "may_ship": shipper,
        "carriers": carriers_out() if shipper else [],
        "tracking_statuses": list(TrackingStatus),
    }


def paid_on(day: date) -> tuple[datetime, datetime]:
    """A day in Beijing time as the UTC range of payment times."""
    start = datetime.combine(day, time(0), tzinfo=SHANGHAI).astimezone(UTC)
    return start, start + timedelta(days=1)


def queue_condition(
    org_id: int, status: fs.QueueStatus, now: datetime, session_id: int | None = None, day: date | None = None
) -> sa.ColumnElement[bool]:
    cond = Order.organisation_id == org_id
    if status == "to_ship":
        cond = sa.and_(cond, Order.state == OrderState.PAID)
    elif status == "overdue":
        cond = sa.and_(cond, Order.state == OrderState.PAID, Order.ship_by < now)
    elif status == "shipped":
        cond = sa.and_(cond, Order.state == OrderState.SHIPPED)
    elif status == "delivered":
        cond = sa.and_(cond, Order.state.in_((OrderState.DELIVERED, OrderState.COMPLETED)))
    else:
        cond = sa.and_(cond, Order.state.in_(q.SOLD_STATES))
    if session_id is not None:
        cond = sa.and_(cond, Order.session_id == session_id)
    if day is not None:
        start, end = paid_on(day)
        cond = sa.and_(cond, Order.paid_at >= start, Order.paid_at < end)
    return cond


async def ship_queue(
    session: AsyncSession,
    actor: User | None,
    org: Organisation,
    status: fs.QueueStatus,
    now: datetime,
    *,
    session_id: int | None = None,
    day: date | None = None,
    limit: int,
    offset: int,
) -> Page[fs.FulfilmentOrderOut]:
    """The organisation's orders to ship (longest-waiting first), overdue ones, or those on their
    way, with their parcels."""
    roles = await require_org_role(session, actor, org.id, *q.ORDER_READERS)
    viewer = q.Viewer(require_user(actor).id, frozenset(roles))
    cond = queue_condition(org.id, status, now, session_id, day)
    # Internal to commerce: the order page builder of commerce.queries, shared on purpose.
    page = await q._orders_page(
        session, cond, viewer, limit=limit, offset=offset, oldest_paid_first=status in ("to_ship", "overdue")
    )
    ids = [o.id for o in page.items]
    shipments = (
        {s.order_id: s for s in await session.scalars(sa.select(Shipment).where(Shipment.order_id.in_(ids)))}
        if ids
        else {}
    )
    items = [
        fs.FulfilmentOrderOut(
            order=o,
            shipment=shipment_out(shipments[o.id]) if o.id in shipments else None,
            overdue=o.state == OrderState.PAID and o.ship_by is not None and o.ship_by < now,
        )
        for o in page.items
    ]
    return Page(items=items, total=page.total, limit=page.limit, offset=page.offset)


async def shipping_policy(session: AsyncSession, actor: User | None, org: Organisation) -> fs.ShippingPolicyOut:
    await require_org_role(session, actor, org.id, *q.ORDER_READERS)
    hours = await session.scalar(
        sa.select(ShippingPolicy.ship_within_hours).where(ShippingPolicy.organisation_id == org.id)
    )
    return fs.ShippingPolicyOut(
        ship_within_hours=DEFAULT_SHIP_WITHIN_HOURS if hours is None else int(hours), is_default=hours is None
    )
