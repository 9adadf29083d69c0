"""The app's commerce upkeep: unpaid checkouts close at their expiry (orders expire, units
return, the provider is told), and the stock gate is reconciled with the database."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from fieldcast.commerce import orders as order_actions
from fieldcast.commerce.gate import StockGate
from fieldcast.commerce.reconcile import reconcile
from fieldcast.db.base import utcnow
from fieldcast.db.uow import UnitOfWork
from fieldcast.payments.actions import close_expired

log = logging.getLogger(__name__)

EXPIRE_EVERY_S = 5.0
RECONCILE_EVERY_S = 60.0


async def expire_due(new_uow: Callable[..., UnitOfWork], gate: StockGate) -> int:
    """Close what is past its time: payments (with their orders), then any order left unpaid."""
    now = utcnow()
    closed = 0
    while True:
        async with new_uow() as uow:
            done = await close_expired(uow, gate, now)
        closed += done
        if not done:
            break
    async with new_uow(write=False) as uow:
        due = await order_actions.due_orders(uow, now)
    for order_id in due:
        async with new_uow() as uow:
            if await order_actions.expire_order(uow, gate, order_id, now) is not None:
                closed += 1
    return closed


async def upkeep(
    new_uow: Callable[..., UnitOfWork],
    gate: StockGate,
    stop: asyncio.Event,
    *,
    expire_every_s: float = EXPIRE_EVERY_S,
    reconcile_every_s: float = RECONCILE_EVERY_S,
) -> None:
    """Until `stop`: expiry every few seconds, the reconciler at start and every minute. It stops
    between rounds, never inside a transaction."""
    loop = asyncio.get_running_loop()
    next_reconcile = loop.time()
    while not stop.is_set():
        try:
            await expire_due(new_uow, gate)
            if loop.time() >= next_reconcile:
                await reconcile(new_uow, gate)
                next_reconcile = loop.time() + reconcile_every_s
        except Exception:  # the database or Redis may be away for a while: try again next round
            log.exception("commerce upkeep failed")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(expire_every_s):
                await stop.wait()
