"""The health check every process answers on `/healthz` (`fieldcast serve` and `fieldcast
fanout`): the database's and the bus's status, checked at most every `interval_s`, so a load
balancer or a monitor asking many times a second gets the last answer and costs nothing more."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson

from fieldcast import __version__
from fieldcast.db.engine import Database, database_status
from fieldcast.realtime.bus import Bus


class HealthCheck:
    """200 with `"status": "ok"` while the database and the bus both answer, else 503 with
    `"degraded"` and which one is down; concurrent askers share one check."""

    def __init__(self, db: Database, bus: Bus, interval_s: float) -> None:
        self.db = db
        self.bus = bus
        self.interval_s = interval_s
        self._last: tuple[float, int, bytes] | None = None
        self._checking: asyncio.Task[tuple[float, int, bytes]] | None = None

    async def answer(self) -> tuple[int, bytes]:
        last = self._last
        if last is not None and time.monotonic() - last[0] < self.interval_s:
            return last[1], last[2]
        if self._checking is None:
            self._checking = asyncio.ensure_future(self._check())
        checking = self._checking
        try:
            checked = await asyncio.shield(checking)
        finally:
            if self._checking is checking and checking.done():
                self._checking = None
        self._last = checked
        return checked[1], checked[2]

    async def _check(self) -> tuple[float, int, bytes]:
        db = await database_status(self.db.engine)
        bus = await self.bus.status()
        ok = db["status"] == "ok" and bus["status"] == "ok"
        body: dict[str, Any] = {
            "status": "ok" if ok else "degraded",
            "version": __version__,
            "database": db,
            "bus": bus,
        }
        return time.monotonic(), 200 if ok else 503, orjson.dumps(body)
