"""Reads of orders for the pages and the API: the buyer's orders, an organisation's orders to
ship, and a live room's orders with its sales per host.

Who sees what: the buyer sees their orders in full; the organisation's owners, organisers and
supplier-role members (who ship) see its orders in full; its supervisors read them with the
phone masked; anyone else is answered "not found" (an order) or refused (an organisation's list).
Each list costs a fixed number of queries for a page, whatever its length: the page, its count,
and its lines in one more."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.accounts.models import Organisation, Role, User
from fieldcast.accounts.permissions import require_org_role, require_user
from fieldcast.accounts.queries import roles_in_org
from fieldcast.catalog import regions
from fieldcast.catalog.models import Supplier
from fieldcast.commerce import schemas as s
from fieldcast.commerce.addresses import mask_phone
from fieldcast.commerce.models import Order, OrderLine, OrderState
from fieldcast.commerce.orders import SUPPLIER_ROLES
from fieldcast.errors import NotFound
from fieldcast.i18n import N_
from fieldcast.live.models import LiveSession
from fieldcast.web.api import Page

# Paid and on from there: what counts as sold (GMV).
SOLD_STATES = (OrderState.PAID, OrderState.SHIPPED, OrderState.DELIVERED, OrderState.COMPLETED)
# Those who ship an organisation's orders, and so see the buyer's phone.
SHIPPER_ROLES = frozenset(SUPPLIER_ROLES)
ORDER_READERS = (*SUPPLIER_ROLES, Role.SUPERVISOR)
SESSION_READERS = (Role.OWNER, Role.ORGANISER, Role.SUPERVISOR)


@dataclass(frozen=True)
class Viewer:
    """Whose eyes an order is shown to: the buyer, someone who ships it, or a reader."""

    user_id: int
    roles: frozenset[Role]

    def ships(self) -> bool:
        return bool(self.roles & SHIPPER_ROLES)

    def sees_phone(self, order: Order) -> bool:
        return order.buyer_id == self.user_id or self.ships()

    def actions(self, order: Order) -> list[s.OrderAction]:
        allowed: list[s.OrderAction] = []
        if order.buyer_id == self.user_id:
            if order.state == OrderState.PENDING_PAYMENT:
                allowed.append("cancel")
            if order.state == OrderState.SHIPPED:
                allowed.append("confirm_delivery")
        if self.ships() and order.state == OrderState.PAID:
            allowed.append("ship")
        return allowed


async def _lines(session: AsyncSession, order_ids: Sequence[int]) -> dict[int, list[s.OrderLineOut]]:
    out: dict[int, list[s.OrderLineOut]] = defaultdict(list)
    if not order_ids:
        return out
    rows = await session.scalars(
        sa.select(OrderLine).where(OrderLine.order_id.in_(order_ids)).order_by(OrderLine.order_id, OrderLine.id)
    )
    for line in rows:
        out[line.order_id].append(
            s.OrderLineOut(
                sku_id=line.sku_id,
                product_id=line.product_id,
                title=line.title,
                spec_label=line.spec_label,
                unit_price_fen=line.unit_price_fen,
                quantity=line.quantity,
                line_total_fen=line.line_total_fen,
            )
        )
    return out


def ship_to(order: Order, *, masked: bool) -> s.ShipToOut:
    return s.ShipToOut(
        recipient=order.recipient,
        phone=mask_phone(order.phone) if masked else order.phone,
        phone_masked=masked,
        region_code=order.region_code,
        region_name=regions.full_name(order.region_code),
        street=order.street,
    )


def _order_out(
    order: Order, org: Organisation, supplier_name: str, lines: list[s.OrderLineOut], viewer: Viewer
) -> s.OrderOut:
    return s.OrderOut(
        id=order.id,
        state=order.state,
        total_fen=order.total_fen,
        discount_fen=order.discount_fen,
        coupon_claim_id=order.coupon_claim_id,
        units=order.units,
        created_at=order.created_at,
        pay_by=order.pay_by,
        paid_at=order.paid_at,
        ship_by=order.ship_by,
        shipped_at=order.shipped_at,
        delivered_at=order.delivered_at,
        closed_at=order.closed_at,
        close_reason=order.close_reason,
        organisation_slug=org.slug,
        organisation_name=org.name,
        supplier_id=order.supplier_id,
        supplier_name=supplier_name,
        session_id=order.session_id,
        lines=lines,
        ship_to=ship_to(order, masked=not viewer.sees_phone(order)),
        actions=viewer.actions(order),
    )


async def _orders_page(
    session: AsyncSession,
    cond: sa.ColumnElement[bool],
    viewer: Viewer,
    *,
    limit: int,
    offset: int,
    oldest_paid_first: bool = False,
) -> Page[s.OrderOut]:
    """A page of orders with their organisation, supplier and lines: three queries."""
    total = await session.scalar(sa.select(sa.func.count(Order.id)).where(cond)) or 0
    order_by = (Order.paid_at.asc(), Order.id.asc()) if oldest_paid_first else (Order.id.desc(),)
    rows = (
        await session.execute(
            sa.select(Order, Organisation, Supplier.name)
            .join(Organisation, Organisation.id == Order.organisation_id)
            .join(Supplier, Supplier.id == Order.supplier_id)
            .where(cond)
            .order_by(*order_by)
            .limit(limit)
            .offset(offset)
        )
    ).all()
    lines = await _lines(session, [order.id for order, _org, _name in rows])
    items = [_order_out(order, org, name, lines[order.id], viewer) for order, org, name in rows]
    return Page(items=items, total=total, limit=limit, offset=offset)


async def buyer_orders(
    session: AsyncSession, actor: User | None, state: OrderState | None, *, limit: int, offset: int
) -> Page[s.OrderOut]:
    """The buyer's own orders, newest first."""
    user = require_user(actor)
    cond = Order.buyer_id == user.id
    if state is not None:
        cond = sa.and_(cond, Order.state == state)
    return await _orders_page(session, cond, Viewer(user.id, frozenset()), limit=limit, offset=offset)


async def organisation_orders(
    session: AsyncSession,
    actor: User | None,
    org: Organisation,
    state: OrderState | None,
    *,
    limit: int,
    offset: int,
) -> Page[s.OrderOut]:
    """An organisation's orders for those who ship them: the paid ones longest-waiting first."""
    roles = await require_org_role(session, actor, org.id, *SUPPLIER_ROLES)
    user = require_user(actor)
    cond = Order.organisation_id == org.id
    if state is not None:
        cond = sa.and_(cond, Order.state == state)
    viewer = Viewer(user.id, frozenset(roles))
    return await _orders_page(
        session, cond, viewer, limit=limit, offset=offset, oldest_paid_first=state == OrderState.PAID
    )


async def viewable_order(session: AsyncSession, actor: User | None, order_id: int) -> tuple[Order, Viewer]:
    """An order its buyer, or a member of its organisation who may read orders, may see; "not
    found" for anyone else (whether it exists is nobody else's business)."""
    user = require_user(actor)
    order = await session.get(Order, order_id)
    if order is None:
        raise NotFound(N_("No such order."))
    if order.buyer_id == user.id:
        return order, Viewer(user.id, frozenset())
    roles = frozenset(await roles_in_org(session, user.id, order.organisation_id))
    if not (user.is_platform_admin or roles & set(ORDER_READERS)):
        raise NotFound(N_("No such order."))
    return order, Viewer(user.id, roles)


async def order_detail(session: AsyncSession, order: Order, viewer: Viewer) -> s.OrderOut:
    row = (
        await session.execute(
            sa.select(Organisation, Supplier.name)
            .join(Supplier, Supplier.organisation_id == Organisation.id)
            .where(Organisation.id == order.organisation_id, Supplier.id == order.supplier_id)
        )
    ).one()
    lines = await _lines(session, [order.id])
    return _order_out(order, row[0], row[1], lines[order.id], viewer)


async def session_orders(
    session: AsyncSession, actor: User | None, live: LiveSession, *, limit: int, offset: int
) -> s.SessionOrdersOut:
    """A room's orders for its organisation's owners, organisers and supervisors (who read with
    phones masked), with the room's sales and each explaining host's: four queries."""
    roles = await require_org_role(session, actor, live.organisation_id, *SESSION_READERS)
    masked = not roles & {Role.OWNER, Role.ORGANISER}
    sold = Order.state.in_(SOLD_STATES)
    by_host = [
        s.SalesSummaryOut(
            host_id=host_id,
            host_name=name or "",
            orders=int(orders or 0),
            paid_orders=int(paid or 0),
            units=int(units or 0),
            gmv_fen=int(gmv or 0),
        )
        for host_id, name, orders, paid, units, gmv in await session.execute(
            sa.select(
                Order.host_id,
                User.display_name,
                sa.func.count(Order.id),
                sa.func.sum(sa.case((sold, 1), else_=0)),
                sa.func.sum(sa.case((sold, Order.units), else_=0)),
                sa.func.sum(sa.case((sold, Order.total_fen), else_=0)),
            )
            .outerjoin(User, User.id == Order.host_id)
            .where(Order.session_id == live.id)
            .group_by(Order.host_id, User.display_name)
        )
    ]
    by_host.sort(key=lambda x: (-x.gmv_fen, x.host_id is None, x.host_id or 0))
    summary = s.SalesSummaryOut(
        orders=sum(x.orders for x in by_host),
        paid_orders=sum(x.paid_orders for x in by_host),
        units=sum(x.units for x in by_host),
        gmv_fen=sum(x.gmv_fen for x in by_host),
    )
    total = await session.scalar(sa.select(sa.func.count(Order.id)).where(Order.session_id == live.id)) or 0
    orders = await session.scalars(
        sa.select(Order).where(Order.session_id == live.id).order_by(Order.id.desc()).limit(limit).offset(offset)
    )
    items = [
        s.SessionOrderOut(
            id=o.id,
            state=o.state,
            units=o.units,
            total_fen=o.total_fen,
            province=o.province,
            phone=mask_phone(o.phone) if masked else o.phone,
            host_id=o.host_id,
            created_at=o.created_at,
            paid_at=o.paid_at,
        )
        for o in orders
    ]
    return s.SessionOrdersOut(
        session_id=live.id, summary=summary, by_host=by_host, items=items, total=total, limit=limit, offset=offset
    )


async def sales_of_sessions(session: AsyncSession, session_ids: Sequence[int]) -> tuple[int, int]:
    """Orders paid (and on from there) in these rooms, and their money in fen: an event's totals."""
    if not session_ids:
        return 0, 0
    orders, gmv = (
        await session.execute(
            sa.select(sa.func.count(Order.id), sa.func.coalesce(sa.func.sum(Order.total_fen), 0)).where(
                Order.session_id.in_(session_ids), Order.state.in_(SOLD_STATES)
            )
        )
    ).one()
    return int(orders or 0), int(gmv or 0)


@dataclass(frozen=True)
class Sales:
    """Orders of one group: placed, paid (and on from there), their money and what was refunded."""

    orders: int = 0
    paid_orders: int = 0
    paid_fen: int = 0
    refunded_fen: int = 0


async def sales_by(session: AsyncSession, keyed_orders: sa.Select[int, int]) -> dict[int, Sales]:
    """The orders an upper layer groups by a key of its own, given as (key, order id) rows (clips:
    the clip each order came from), summed per key. Paid means SOLD_STATES; paid_fen is the paid
    orders' totals before refunds, refunded_fen what went back of them."""
    keyed = keyed_orders.subquery()
    key, order_id = keyed.c
    sold = Order.state.in_(SOLD_STATES)
    rows = await session.execute(
        sa.select(
            key,
            sa.func.count(Order.id),
            sa.func.count(Order.id).filter(sold),
            sa.func.coalesce(sa.func.sum(Order.total_fen).filter(sold), 0),
            sa.func.coalesce(sa.func.sum(Order.refunded_fen).filter(sold), 0),
        )
        .join(Order, Order.id == order_id)
        .group_by(key)
    )
    return {int(k): Sales(int(n), int(paid), int(fen), int(refunded)) for k, n, paid, fen, refunded in rows}
