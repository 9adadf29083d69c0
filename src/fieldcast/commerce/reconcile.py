"""The reconciler: the stock gate (Redis) against the database, which is the record.

A process killed between the gate and its commit leaves units taken in Redis that no order holds;
a Redis restart forgets everything. The database never oversells either way, but the gate would
turn buyers away (or let too many ask the database). So the gate's pools are compared with the
database's — available units and each buyer's units — and any drift is repaired by loading the
database's numbers, with a log line per repair. It runs at start-up, periodically, and for the
pools of shows that just ended."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from fieldcast.commerce.gate import PoolState, StockGate
from fieldcast.commerce.models import BuyerTally
from fieldcast.db.base import utcnow
from fieldcast.db.uow import UnitOfWork
from fieldcast.live.models import LiveSession, SessionState, ShelfItem

log = logging.getLogger(__name__)

ENDED_WITHIN = timedelta(hours=6)  # pools of shows that ended this recently are still checked


@dataclass(frozen=True)
class Repair:
    pool_id: int
    gate: PoolState | None
    database: PoolState


async def database_pools(uow: UnitOfWork, now: datetime) -> dict[int, PoolState]:
    """The show pools that matter now (live and upcoming shows, and recently ended ones)."""
    items = (
        await uow.session.scalars(
            sa.select(ShelfItem)
            .join(LiveSession, LiveSession.id == ShelfItem.session_id)
            .where(
                ShelfItem.session_stock.is_not(None),
                sa.or_(
                    LiveSession.state.in_([SessionState.LIVE, SessionState.SCHEDULED]),
                    LiveSession.ended_at >= now - ENDED_WITHIN,
                ),
            )
            .order_by(ShelfItem.id)
        )
    ).all()
    if not items:
        return {}
    scopes = {f"shelf:{item.id}": item.id for item in items}
    buyers: dict[int, dict[int, int]] = {item.id: {} for item in items}
    rows = await uow.session.execute(
        sa.select(BuyerTally.scope, BuyerTally.user_id, BuyerTally.units).where(
            BuyerTally.scope.in_(list(scopes)), BuyerTally.units > 0
        )
    )
    for scope, user_id, units in rows:
        buyers[scopes[scope]][user_id] = units
    return {item.id: PoolState(item.session_available, buyers[item.id]) for item in items}


async def reconcile(new_uow: Callable[..., UnitOfWork], gate: StockGate, now: datetime | None = None) -> list[Repair]:
    """Compare every pool that matters; load the database's numbers where the gate differs."""
    async with new_uow(write=False) as uow:
        pools = await database_pools(uow, now or utcnow())
    repairs: list[Repair] = []
    for pool_id, wanted in pools.items():
        held = await gate.state(pool_id)
        if held == wanted or (held is None and gate.backend != "redis"):
            continue
        await gate.load(pool_id, wanted)
        repairs.append(Repair(pool_id, held, wanted))
        log.warning(
            "stock gate repaired: pool %s held %s, the database says %s available, %s buyers",
            pool_id,
            "nothing" if held is None else f"{held.available} available, {len(held.buyers)} buyers",
            wanted.available,
            len(wanted.buyers),
        )
    return repairs
