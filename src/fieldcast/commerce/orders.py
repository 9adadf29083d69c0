"""The order state machine. Each transition is one action: lock the orders (id order), check the
guard, change state, move the units, write the audit log, emit events through the outbox.

    pending_payment ──pay──▶ paid ──ship──▶ shipped ──confirm──▶ delivered ──complete──▶ completed
          │
          ├─cancel──▶ cancelled   (the buyer, or the system when a payment failed)
          └─expire──▶ expired     (unpaid by its pay-by time)

Closing an unpaid order gives its units back (SKU, show pool, buyer's tally, and the gate after
commit), and its coupon back to the buyer. Paying sells them. A payment for an order that is no
longer pending is not applied here: `pay` returns those orders, and payments/ refunds the money."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from fieldcast.accounts.models import Role, User
from fieldcast.accounts.permissions import require_org_role, require_user
from fieldcast.catalog import stock as sku_stock
from fieldcast.catalog.models import Sku
from fieldcast.commerce import errors as e
from fieldcast.commerce.coupons import actions as coupons
from fieldcast.commerce.deadlines import promised_ship_by
from fieldcast.commerce.events import TOPIC_ORDER, OrderChanged, Purchase, ShelfStock
from fieldcast.commerce.gate import StockGate
from fieldcast.commerce.models import BuyerTally, Order, OrderLine, OrderState, RefundStatus
from fieldcast.db.audit import record_audit
from fieldcast.db.base import utcnow
from fieldcast.db.locks import lock_rows
from fieldcast.db.uow import UnitOfWork
from fieldcast.i18n import N_
from fieldcast.live import stock as pool_stock
from fieldcast.live.models import ShelfItem

SUPPLIER_ROLES = (Role.SUPPLIER, Role.OWNER, Role.ORGANISER)


def audit_order(uow: UnitOfWork, actor_id: int | None, action: str, order: Order, **details: Any) -> None:
    record_audit(
        uow,
        actor_id=actor_id,
        action=action,
        target_type="order",
        target_id=order.id,
        organisation_id=order.organisation_id,
        details=details,
    )


def emit_order(uow: UnitOfWork, order: Order) -> None:
    event = OrderChanged(
        order_id=order.id,
        state=order.state.value,
        buyer_id=order.buyer_id,
        organisation_id=order.organisation_id,
        supplier_id=order.supplier_id,
        session_id=order.session_id,
        host_id=order.host_id,
        total_fen=order.total_fen,
        units=order.units,
    )
    uow.publish(TOPIC_ORDER, str(order.id), event.event_type, event.model_dump(mode="json"))


async def lines_of(uow: UnitOfWork, order_ids: Sequence[int]) -> dict[int, list[OrderLine]]:
    rows = await uow.session.scalars(
        sa.select(OrderLine).where(OrderLine.order_id.in_(order_ids)).order_by(OrderLine.order_id, OrderLine.id)
    )
    out: dict[int, list[OrderLine]] = defaultdict(list)
    for line in rows:
        out[line.order_id].append(line)
    return out


async def _pools(uow: UnitOfWork, lines: Sequence[OrderLine]) -> dict[int, ShelfItem]:
    ids = {x.shelf_item_id for x in lines if x.shelf_item_id is not None}
    if not ids:
        return {}
    return {i.id: i for i in await uow.session.scalars(sa.select(ShelfItem).where(ShelfItem.id.in_(ids)))}


def _require(order: Order, *states: OrderState) -> None:
    if order.state not in states:
        raise e.WrongOrderState(
            N_("This order is %(state)s; that cannot be done now."), field="state", state=order.state.value
        )


def _units(lines: Sequence[OrderLine], pools: dict[int, ShelfItem]) -> tuple[dict[int, int], dict[int, int]]:
    """An order's units per SKU and per show pool (a shelf item with stock of its own)."""
    per_sku: dict[int, int] = defaultdict(int)
    per_pool: dict[int, int] = defaultdict(int)
    for line in lines:
        per_sku[line.sku_id] += line.quantity
        item = pools.get(line.shelf_item_id) if line.shelf_item_id is not None else None
        if item is not None and item.session_stock is not None:
            per_pool[item.id] += line.quantity
    return per_sku, per_pool


async def _give_back(uow: UnitOfWork, gate: StockGate, order: Order, lines: list[OrderLine]) -> None:
    """An unpaid order closes: its units return, in the same global order as checkout takes them."""
    pools = await _pools(uow, lines)
    per_sku, per_pool = _units(lines, pools)
    for sku_id in sorted(per_sku):
        await sku_stock.release(uow.session, sku_id, per_sku[sku_id])
    for item_id in sorted(per_pool):
        await pool_stock.release(uow.session, item_id, per_pool[item_id])
    scopes: dict[str, int] = defaultdict(int)
    for line in lines:
        scopes[f"sku:{line.sku_id}"] += line.quantity
        if line.shelf_item_id is not None:
            scopes[f"shelf:{line.shelf_item_id}"] += line.quantity
    await untally(uow, gate, order, scopes, pools, per_pool)


async def untally(
    uow: UnitOfWork,
    gate: StockGate,
    order: Order,
    scopes: Mapping[str, int],
    pools: Mapping[int, ShelfItem],
    per_pool: Mapping[int, int],
) -> None:
    """Units that left an order are no longer the buyer's: their per-buyer tallies go down (never
    below 0), and after the commit the stock gate takes its show pools' units back."""
    for scope in sorted(scopes):
        await uow.session.execute(
            sa.update(BuyerTally)
            .where(BuyerTally.scope == scope, BuyerTally.user_id == order.buyer_id)
            .values(units=sa.case((BuyerTally.units > scopes[scope], BuyerTally.units - scopes[scope]), else_=0))
        )
    buyer_id = order.buyer_id
    gate_back = [(pools[i].session_id, pools[i].sku_id, units) for i, units in sorted(per_pool.items())]

    async def back_to_gate() -> None:
        for session_id, sku_id, units in gate_back:
            await gate.give_back(session_id, sku_id, buyer_id, units)

    if gate_back:
        uow.after_commit(back_to_gate)


async def _close(
    uow: UnitOfWork, gate: StockGate, order: Order, state: OrderState, actor_id: int | None, reason: str
) -> Order:
    _require(order, OrderState.PENDING_PAYMENT)
    lines = (await lines_of(uow, [order.id]))[order.id]
    # The coupon's claim before the stock rows: checkout takes them in that order too.
    await coupons.give_back(uow, order)
    await _give_back(uow, gate, order, lines)
    order.state = state
    order.closed_at = utcnow()
    order.close_reason = reason
    audit_order(uow, actor_id, f"order.{state.value}", order, reason=reason)
    emit_order(uow, order)
    await emit_shelf_stock(uow, list((await _pools(uow, lines)).values()))
    return order


async def lock_orders(uow: UnitOfWork, order_ids: Sequence[int]) -> list[Order]:
    return await lock_rows(uow.session, Order, order_ids)


async def cancel_order(uow: UnitOfWork, gate: StockGate, actor: User | None, order: Order, reason: str = "") -> Order:
    """The buyer calls off an unpaid order."""
    user = require_user(actor)
    if order.buyer_id != user.id:
        raise e.NotYourOrder(N_("Only the buyer can cancel this order."))
    (order,) = await lock_orders(uow, [order.id])
    return await _close(uow, gate, order, OrderState.CANCELLED, user.id, reason.strip()[:200] or "buyer")


async def expire_order(uow: UnitOfWork, gate: StockGate, order_id: int, now: datetime | None = None) -> Order | None:
    """The system closes an order unpaid by its pay-by time (None: it was paid or closed first)."""
    locked = await lock_orders(uow, [order_id])
    if not locked:
        return None
    order = locked[0]
    if order.state != OrderState.PENDING_PAYMENT or order.pay_by > (now or utcnow()):
        return None
    return await _close(uow, gate, order, OrderState.EXPIRED, None, "unpaid")


async def fail_payment(uow: UnitOfWork, gate: StockGate, order_ids: Sequence[int], reason: str) -> list[Order]:
    """The payment failed or was closed: its pending orders are cancelled and their units return."""
    closed = []
    for order in await lock_orders(uow, order_ids):
        if order.state == OrderState.PENDING_PAYMENT:
            closed.append(await _close(uow, gate, order, OrderState.CANCELLED, None, reason))
    return closed


async def due_orders(uow: UnitOfWork, now: datetime, limit: int = 200) -> list[int]:
    """Unpaid orders past their pay-by time, oldest first (for the expiry task)."""
    rows = await uow.session.scalars(
        sa.select(Order.id)
        .where(Order.state == OrderState.PENDING_PAYMENT, Order.pay_by <= now)
        .order_by(Order.pay_by, Order.id)
        .limit(limit)
    )
    return list(rows)


async def pay_orders(uow: UnitOfWork, order_ids: Sequence[int], paid_at: datetime) -> list[Order]:
    """The payment for these orders arrived: pending ones become paid and their units sold.
    Returns the orders that were no longer pending (expired or cancelled first): their money must
    go back (payments/ refunds it)."""
    orders = await lock_orders(uow, order_ids)
    lines = await lines_of(uow, [o.id for o in orders])
    not_payable: list[Order] = []
    pools = await _pools(uow, [x for ls in lines.values() for x in ls])
    for order in orders:
        if order.state != OrderState.PENDING_PAYMENT:
            not_payable.append(order)
            continue
        per_sku, per_pool = _units(lines[order.id], pools)
        for sku_id in sorted(per_sku):
            await sku_stock.sell(uow.session, sku_id, per_sku[sku_id])
        for item_id in sorted(per_pool):
            await pool_stock.sell(uow.session, item_id, per_pool[item_id])
        order.state = OrderState.PAID
        order.paid_at = paid_at
        order.ship_by = await promised_ship_by(uow.session, order.organisation_id, paid_at)
        audit_order(uow, None, "order.paid", order, total_fen=order.total_fen)
        emit_order(uow, order)
        if order.session_id is not None:
            for line in lines[order.id]:
                if line.shelf_item_id is not None:
                    uow.emit(
                        order.session_id,
                        Purchase(sku_id=line.sku_id, title=line.title, quantity=line.quantity, province=order.province),
                    )
    return not_payable


async def ship_order(uow: UnitOfWork, actor: User | None, order: Order) -> Order:
    """The supplier hands the order to a carrier (tracking numbers come with fulfilment)."""
    user = require_user(actor)
    await require_org_role(uow.session, user, order.organisation_id, *SUPPLIER_ROLES)
    (order,) = await lock_orders(uow, [order.id])
    _require(order, OrderState.PAID)
    if order.refund_status in (RefundStatus.REFUNDING, RefundStatus.REFUNDED):  # after-sales: money going back
        raise e.WrongOrderState(N_("This order is being refunded; it cannot be shipped."), field="state")
    order.state = OrderState.SHIPPED
    order.shipped_at = utcnow()
    audit_order(uow, user.id, "order.ship", order)
    emit_order(uow, order)
    return order


async def confirm_delivery(uow: UnitOfWork, actor: User | None, order: Order) -> Order:
    """The buyer confirms the goods arrived."""
    user = require_user(actor)
    if order.buyer_id != user.id:
        raise e.NotYourOrder(N_("Only the buyer can confirm delivery."))
    (order,) = await lock_orders(uow, [order.id])
    _require(order, OrderState.SHIPPED)
    order.state = OrderState.DELIVERED
    order.delivered_at = utcnow()
    audit_order(uow, user.id, "order.deliver", order)
    emit_order(uow, order)
    return order


async def complete_order(uow: UnitOfWork, order_id: int) -> Order | None:
    """The system completes a delivered order (after-sales then runs from here)."""
    locked = await lock_orders(uow, [order_id])
    if not locked or locked[0].state != OrderState.DELIVERED:
        return None
    order = locked[0]
    order.state = OrderState.COMPLETED
    order.completed_at = utcnow()
    audit_order(uow, None, "order.complete", order)
    emit_order(uow, order)
    return order


async def emit_shelf_stock(uow: UnitOfWork, items: Sequence[ShelfItem]) -> None:
    """Tell each room how many of its items are left (after this transaction's moves)."""
    for item in {i.id: i for i in items}.values():
        await uow.session.refresh(item)
        if item.session_stock is not None:
            available = item.session_available
        else:
            sku = await uow.session.get(Sku, item.sku_id)
            if sku is None:
                continue
            await uow.session.refresh(sku)
            available = sku.available
        uow.emit(item.session_id, ShelfStock(sku_id=item.sku_id, available=available, sold_out=available <= 0))
