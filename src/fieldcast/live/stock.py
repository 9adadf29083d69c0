"""A shelf item's show pool: units set aside for the show at the live price (and a flash sale's
quantity). sold + reserved + available = session_stock, none negative, when the item has one;
an item without session_stock sells from its SKU alone. Guarded UPDATEs, as catalog/stock.py."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.catalog.stock import StockDrift
from fieldcast.live.models import ShelfItem


async def _move(session: AsyncSession, item_id: int, guard: sa.ColumnElement[bool], **values: object) -> bool:
    result = await session.execute(sa.update(ShelfItem).where(ShelfItem.id == item_id, guard).values(**values))
    return int(getattr(result, "rowcount", 0) or 0) == 1


async def reserve(session: AsyncSession, item_id: int, units: int) -> int | None:
    """available → reserved; the units left available after, or None when fewer than `units` were."""
    result = await session.execute(
        sa.update(ShelfItem)
        .where(ShelfItem.id == item_id, ShelfItem.session_available >= units)
        .values(
            session_available=ShelfItem.session_available - units,
            session_reserved=ShelfItem.session_reserved + units,
        )
        .returning(ShelfItem.session_available)
    )
    left = result.scalar_one_or_none()
    return None if left is None else int(left)


async def release(session: AsyncSession, item_id: int, units: int) -> None:
    if not await _move(
        session,
        item_id,
        ShelfItem.session_reserved >= units,
        session_available=ShelfItem.session_available + units,
        session_reserved=ShelfItem.session_reserved - units,
    ):
        raise StockDrift(f"shelf item {item_id}: releasing {units} not reserved")


async def sell(session: AsyncSession, item_id: int, units: int) -> None:
    if not await _move(
        session,
        item_id,
        ShelfItem.session_reserved >= units,
        session_sold=ShelfItem.session_sold + units,
        session_reserved=ShelfItem.session_reserved - units,
    ):
        raise StockDrift(f"shelf item {item_id}: selling {units} not reserved")


async def restock(session: AsyncSession, item_id: int, units: int) -> None:
    """sold → available in the show pool (after-sales: never shipped, or returned)."""
    if not await _move(
        session,
        item_id,
        ShelfItem.session_sold >= units,
        session_available=ShelfItem.session_available + units,
        session_sold=ShelfItem.session_sold - units,
    ):
        raise StockDrift(f"shelf item {item_id}: restocking {units} not sold")


def set_session_stock(item: ShelfItem, stock: int | None) -> None:
    """A new show pool size (None: sell from the SKU alone); ValueError below what is taken."""
    taken = item.session_sold + item.session_reserved
    if stock is None:
        if taken:
            raise ValueError("units of the show pool are sold or reserved")
        item.session_stock = None
        item.session_available = 0
        return
    if stock < taken:
        raise ValueError(f"show stock {stock} below {taken} sold or reserved")
    item.session_stock = stock
    item.session_available = stock - taken
