"""The roll-up as an app process's chore: a sweep every `analytics_sweep_s`, until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from fieldcast.analytics.rollup import sweep
from fieldcast.db.base import utcnow
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import backend_unavailable
from fieldcast.realtime.counters import RoomCounters

log = logging.getLogger(__name__)


async def analytics_upkeep(
    new_uow: Callable[..., UnitOfWork], counters: RoomCounters, stop: asyncio.Event, every_s: float
) -> None:
    while not stop.is_set():
        try:
            async with new_uow() as uow:
                await sweep(uow, counters, utcnow())
        except Exception as exc:  # the database or Redis may be away: the next pass reads from the mark
            if backend_unavailable(exc):
                log.warning("analytics: a backend is unavailable (%r); the next pass catches up", exc)
            else:
                log.exception("analytics: the roll-up pass failed")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(every_s):
                await stop.wait()
