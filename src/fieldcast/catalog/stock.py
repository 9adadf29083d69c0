"""A SKU's units: sold + reserved + available = stock, none of them ever negative.

Every move is one guarded UPDATE, so concurrent orders cannot take more than there is: the row
is locked by the UPDATE itself until the order's transaction ends (PostgreSQL), or the write
transaction holds the database (SQLite). Callers move the SKUs of one order in id order, so two
orders can never wait on each other. The database enforces the invariant too (CHECK)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.catalog.models import Sku


class StockDrift(RuntimeError):
    """A release or sale of units that were not reserved: a bug, never a buyer's doing."""


async def _move(session: AsyncSession, sku_id: int, guard: sa.ColumnElement[bool], **values: object) -> bool:
    result = await session.execute(sa.update(Sku).where(Sku.id == sku_id, guard).values(**values))
    return int(getattr(result, "rowcount", 0) or 0) == 1


async def reserve(session: AsyncSession, sku_id: int, units: int) -> int | None:
    """available → reserved; the units left available after, or None when fewer than `units` were."""
    result = await session.execute(
        sa.update(Sku)
        .where(Sku.id == sku_id, Sku.available >= units)
        .values(available=Sku.available - units, reserved=Sku.reserved + units)
        .returning(Sku.available)
    )
    left = result.scalar_one_or_none()
    return None if left is None else int(left)


async def release(session: AsyncSession, sku_id: int, units: int) -> None:
    """reserved → available (an order expired, was cancelled, or its payment failed)."""
    if not await _move(
        session, sku_id, Sku.reserved >= units, available=Sku.available + units, reserved=Sku.reserved - units
    ):
        raise StockDrift(f"sku {sku_id}: releasing {units} not reserved")


async def sell(session: AsyncSession, sku_id: int, units: int) -> None:
    """reserved → sold (the order was paid)."""
    if not await _move(session, sku_id, Sku.reserved >= units, sold=Sku.sold + units, reserved=Sku.reserved - units):
        raise StockDrift(f"sku {sku_id}: selling {units} not reserved")


async def restock(session: AsyncSession, sku_id: int, units: int) -> None:
    """sold → available: units of a paid order that will never ship, or came back (after-sales)."""
    if not await _move(session, sku_id, Sku.sold >= units, sold=Sku.sold - units, available=Sku.available + units):
        raise StockDrift(f"sku {sku_id}: restocking {units} not sold")


def set_stock(sku: Sku, stock: int) -> None:
    """The organiser's new total: what is sold or reserved stays, the rest is available. Raises
    ValueError below sold + reserved (the catalog's action turns it into the buyer-facing error)."""
    taken = sku.sold + sku.reserved
    if stock < taken:
        raise ValueError(f"stock {stock} below {taken} sold or reserved")
    sku.stock = stock
    sku.available = stock - taken
