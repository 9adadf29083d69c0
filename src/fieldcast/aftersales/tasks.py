"""After-sales upkeep: refund requests the supplier left unanswered for `refund_auto_approve_days`
are approved by the system, one transaction each (as payments/tasks.py expires orders)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from fieldcast.aftersales.actions import auto_approve, due_for_auto_approval
from fieldcast.commerce.gate import StockGate
from fieldcast.db.base import utcnow
from fieldcast.db.uow import UnitOfWork

log = logging.getLogger(__name__)

AUTO_APPROVE_EVERY_S = 60.0


async def approve_unanswered(
    new_uow: Callable[..., UnitOfWork], gate: StockGate, days: int, now: datetime | None = None
) -> int:
    """Approve every request waiting longer than `days`; returns how many were approved. A request
    that fails (its order has no payment any more, say) is logged and left for a person."""
    now = now or utcnow()
    async with new_uow(write=False) as uow:
        due = await due_for_auto_approval(uow, now, days)
    approved = 0
    for request_id in due:
        try:
            async with new_uow() as uow:
                approved += await auto_approve(uow, gate, request_id, now, days)
        except Exception:
            log.exception("refund request %s: automatic approval failed", request_id)
    return approved


async def aftersales_upkeep(
    new_uow: Callable[..., UnitOfWork],
    gate: StockGate,
    stop: asyncio.Event,
    *,
    days: int,
    every_s: float = AUTO_APPROVE_EVERY_S,
) -> None:
    """Until `stop`: automatic approvals every minute; it stops between rounds."""
    while not stop.is_set():
        try:
            await approve_unanswered(new_uow, gate, days)
        except Exception:  # the database may be away for a while: try again next round
            log.exception("after-sales upkeep failed")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(every_s):
                await stop.wait()
