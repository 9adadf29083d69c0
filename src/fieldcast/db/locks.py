"""Row locks for state changes that must not run twice at once (go live, end, a draw, later stock
and orders).

Rows are always locked in id order, so two transactions locking overlapping sets cannot deadlock
(Saleor's lock_objects, Oscar's OrderCreator). On PostgreSQL this is SELECT ... FOR UPDATE; on
SQLite the whole database is locked by the write transaction the unit of work took up front
(BEGIN IMMEDIATE, db/engine.py), so the same call only reads. Either way the locked rows are read
afresh: objects already loaded in the session get the committed state, not a stale copy."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.db.engine import WRITE

T = TypeVar("T")


class NotAWriteTransaction(RuntimeError):
    """Rows can be locked only inside a write unit of work."""


async def lock_rows(session: AsyncSession, model: type[T], ids: Iterable[int]) -> list[T]:
    """Lock the rows of `model` with these ids, in id order, and return them in that order
    (missing ids are simply absent)."""
    if not session.info.get(WRITE):
        raise NotAWriteTransaction(f"locking {getattr(model, '__tablename__', model)} needs a write unit of work")
    wanted = sorted(set(ids))
    if not wanted:
        return []
    column: Any = getattr(model, "id")  # noqa: B009 - every locked table has an integer id
    rows = await session.scalars(
        sa.select(model)
        .where(column.in_(wanted))
        .order_by(column)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def lock_row(session: AsyncSession, model: type[T], row_id: int) -> T | None:
    """Lock one row (see lock_rows); None when it does not exist."""
    rows = await lock_rows(session, model, [row_id])
    return rows[0] if rows else None
