"""The app's fulfilment upkeep: deliveries confirm themselves `order_auto_confirm_days` after
shipping, and the tracker (manual: nothing to fetch) is asked about parcels on their way. The
tracker is called outside any transaction; each order changes in its own."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa

from fieldcast.commerce import fulfilment
from fieldcast.commerce.models import Order, OrderState, Shipment
from fieldcast.commerce.tracking import Tracker
from fieldcast.db.base import utcnow
from fieldcast.db.uow import UnitOfWork

log = logging.getLogger(__name__)

UPKEEP_EVERY_S = 60.0
POLL_BATCH = 200


async def auto_confirm_due(new_uow: Callable[..., UnitOfWork], days: int, now: datetime | None = None) -> int:
    """Confirm the deliveries nobody confirmed within `days` of shipping; how many."""
    now = now or utcnow()
    done = 0
    while True:
        async with new_uow(write=False) as uow:
            due = await fulfilment.due_for_auto_confirm(uow, now, days)
        confirmed = 0
        for order_id in due:
            async with new_uow() as uow:
                if await fulfilment.auto_confirm_order(uow, order_id, now, days) is not None:
                    confirmed += 1
        done += confirmed
        if not confirmed:
            return done


async def poll_tracker(new_uow: Callable[..., UnitOfWork], tracker: Tracker) -> int:
    """Ask the tracker about parcels of shipped orders and record what it says; how many changed."""
    async with new_uow(write=False) as uow:
        rows = await uow.session.execute(
            sa.select(Shipment.carrier, Shipment.tracking_no)
            .join(Order, Order.id == Shipment.order_id)
            .where(Order.state == OrderState.SHIPPED)
            .order_by(Shipment.status_at)
            .limit(POLL_BATCH)
        )
        parcels = [(carrier, number) for carrier, number in rows]
    if not parcels:
        return 0
    changed = 0
    for update in await tracker.poll(parcels):  # no transaction open here
        async with new_uow() as uow:
            if await fulfilment.record_tracking(uow, update, tracker.name) is not None:
                changed += 1
    return changed


async def fulfilment_upkeep(
    new_uow: Callable[..., UnitOfWork],
    tracker: Tracker,
    auto_confirm_days: int,
    stop: asyncio.Event,
    *,
    every_s: float = UPKEEP_EVERY_S,
) -> None:
    """Until `stop`: tracking news and auto-confirmation every minute, never inside a transaction."""
    while not stop.is_set():
        try:
            await poll_tracker(new_uow, tracker)
            confirmed = await auto_confirm_due(new_uow, auto_confirm_days)
            if confirmed:
                log.info("fulfilment upkeep: %s deliveries confirmed automatically", confirmed)
        except Exception:  # the database may be away for a while: try again next round
            log.exception("fulfilment upkeep failed")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(every_s):
                await stop.wait()
