"""Commerce's side of after-sales: an order's refund status and the units that come back.

The refund status sits beside the order's state, not in it (models.RefundStatus): a partly
refunded order still ships, is delivered and completes, and the state machine in orders.py stays
as it is. Units come back only when the goods are back in the supplier's hands: never shipped (a
refund before shipping) or returned and received. Goods shipped and lost are gone: no units back.
Callers (aftersales/) hold the order's lock; everything here runs in their transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from fieldcast.catalog import stock as sku_stock
from fieldcast.commerce.gate import StockGate
from fieldcast.commerce.models import Order, OrderLine, RefundStatus
from fieldcast.commerce.orders import _pools, audit_order, emit_order, emit_shelf_stock, lines_of, untally
from fieldcast.db.uow import UnitOfWork
from fieldcast.live import stock as pool_stock


def refundable_fen(order: Order) -> int:
    """What may still be refunded on the order (refunds on their way are the caller's to count)."""
    return max(order.total_fen - order.refunded_fen, 0)


def _settled_status(order: Order) -> RefundStatus:
    if order.refunded_fen <= 0:
        return RefundStatus.NONE
    if order.refunded_fen >= order.total_fen:
        return RefundStatus.REFUNDED
    return RefundStatus.PARTIALLY_REFUNDED


def refund_started(uow: UnitOfWork, order: Order, actor_id: int | None, amount_fen: int) -> None:
    """A refund of `amount_fen` is on its way to the provider."""
    order.refund_status = RefundStatus.REFUNDING
    audit_order(uow, actor_id, "order.refunding", order, amount_fen=amount_fen)
    emit_order(uow, order)


def refund_settled(uow: UnitOfWork, order: Order, refunded_fen: int) -> None:
    """The provider answered: `refunded_fen` went back (0 when it refused). The status follows
    what was refunded in all."""
    order.refunded_fen = min(order.refunded_fen + max(refunded_fen, 0), order.total_fen)
    order.refund_status = _settled_status(order)
    audit_order(
        uow, None, "order.refund_settled", order, refunded_fen=refunded_fen, total_refunded_fen=order.refunded_fen
    )
    emit_order(uow, order)


async def units_back(uow: UnitOfWork, gate: StockGate, order: Order, per_line: Mapping[int, int]) -> int:
    """Sold units of these order lines (line id → units) return to sale: the SKU's, the show
    pool's, the buyer's tally, and the stock gate after commit, as orders._give_back does for
    unpaid ones. sold + reserved + available = stock holds. Returns the units moved."""
    lines = {x.id: x for x in (await lines_of(uow, [order.id]))[order.id]}
    moving = [(lines[i], n) for i, n in sorted(per_line.items()) if i in lines and n > 0]
    if not moving:
        return 0
    pools = await _pools(uow, [line for line, _n in moving])
    per_sku: dict[int, int] = defaultdict(int)
    per_pool: dict[int, int] = defaultdict(int)
    scopes: dict[str, int] = defaultdict(int)
    for line, units in moving:
        units = min(units, line.quantity)
        per_sku[line.sku_id] += units
        scopes[f"sku:{line.sku_id}"] += units
        if line.shelf_item_id is not None:
            scopes[f"shelf:{line.shelf_item_id}"] += units
            item = pools.get(line.shelf_item_id)
            if item is not None and item.session_stock is not None:
                per_pool[item.id] += units
    for sku_id in sorted(per_sku):
        await sku_stock.restock(uow.session, sku_id, per_sku[sku_id])
    for item_id in sorted(per_pool):
        await pool_stock.restock(uow.session, item_id, per_pool[item_id])
    await untally(uow, gate, order, scopes, pools, per_pool)
    moved = sum(per_sku.values())
    audit_order(uow, None, "order.units_back", order, units=moved, lines={str(k): v for k, v in per_line.items()})
    await emit_shelf_stock(uow, list(pools.values()))
    return moved


async def order_lines(uow: UnitOfWork, order_id: int) -> list[OrderLine]:
    return (await lines_of(uow, [order_id]))[order_id]
