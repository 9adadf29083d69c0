"""The reconciler: the stock gate (Redis) against the database, which is the record.

A process killed between the gate and its commit leaves units taken in Redis that no order holds;
a Redis restart forgets everything. The database never oversells either way, but the gate would
turn buyers away (or let too many ask the database). So the gate's pools are compared with the
database's — available units and each buyer's units — and any drift is repaired by loading the
database's numbers, with a log line per repair. It runs at start-up, periodically, and for the
pools of shows that just ended. A pool with flash-sale claims not written yet is left for a
later round (their units are sold in the gate and not yet in the database)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from fieldcast.commerce.checkout import pool_state
from fieldcast.commerce.gate import PoolState, StockGate
from fieldcast.db.base import utcnow
from fieldcast.db.uow import UnitOfWork
from fieldcast.live.models import LiveSession, SessionState, ShelfItem

log = logging.getLogger(__name__)

ENDED_WITHIN = timedelta(hours=6)  # pools of shows that ended this recently are still checked


@dataclass(frozen=True)
class Repair:
    session_id: int
    sku_id: int
    gate: PoolState
    database: PoolState


async def shelf_items(uow: UnitOfWork, now: datetime) -> list[ShelfItem]:
    """The shelf items that matter now: of live and upcoming shows, and of shows ended lately."""
    rows = await uow.session.scalars(
        sa.select(ShelfItem)
        .join(LiveSession, LiveSession.id == ShelfItem.session_id)
        .where(
            sa.or_(
                LiveSession.state.in_([SessionState.LIVE, SessionState.SCHEDULED]),
                LiveSession.ended_at >= now - ENDED_WITHIN,
            )
        )
        .order_by(ShelfItem.id)
    )
    return list(rows)


async def reconcile(new_uow: Callable[..., UnitOfWork], gate: StockGate, now: datetime | None = None) -> list[Repair]:
    """Compare every item the gate holds with the database; load the database's numbers where
    they differ. An item the gate does not hold is loaded from the database on first use."""
    repairs: list[Repair] = []
    async with new_uow(write=False) as uow:
        for item in await shelf_items(uow, now or utcnow()):
            held = await gate.state(item.session_id, item.sku_id)
            if held is None or held.pending > 0:
                # Not held, or claims of a flash sale not written yet (payments/claims.py): their
                # units are in the gate and not yet in the database; compared once written.
                continue
            wanted = await pool_state(uow, item)
            if wanted.same_as(held):
                continue
            await gate.load(item.session_id, item.sku_id, wanted)
            repairs.append(Repair(item.session_id, item.sku_id, held, wanted))
            log.warning(
                "stock gate repaired: session %s sku %s held %s available and %s buyers; the database says %s and %s",
                item.session_id,
                item.sku_id,
                held.available,
                len(held.buyers),
                wanted.available,
                len(wanted.buyers),
            )
    return repairs


async def refresh_pool(new_uow: Callable[..., UnitOfWork], gate: StockGate, session_id: int, sku_id: int) -> None:
    """A shelf item was added, changed (stock, limit, flash start) or removed: the gate takes the
    database's numbers now rather than at the next reconciliation. (Units taken in Redis by an
    order not yet committed are not among them: the gate may admit a few too many buyers for a
    moment, whom the database then turns away; it never oversells.)"""
    async with new_uow(write=False) as uow:
        item = await uow.session.scalar(
            sa.select(ShelfItem).where(ShelfItem.session_id == session_id, ShelfItem.sku_id == sku_id)
        )
        if item is None:
            await gate.drop(session_id, sku_id)
            return
        await gate.load(session_id, sku_id, await pool_state(uow, item))
