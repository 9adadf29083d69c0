"""Rules as events arrive: while a show sells, its order and refund events run the rules over it.

Every app process follows the bus channel "orders", where the outbox relay puts each order's and
refund request's change (bootstrap.order_delivery). A show named in one is judged
`integrity_watch_delay_s` later, with everything else that arrived for it meanwhile, so a flash
sale's thousand orders make a run, not a thousand. Only the rules that can judge a show while it
is on run here (`LIVE_RULES`); the full set runs when it ends and after the refund window
(tasks.py), which also covers any event a process missed while it was down: the bus delivers
to whoever listens at the moment and keeps nothing.

With several app processes each hears every event and runs the rules too: an alert is stored
once per rule and subject, so that costs queries, never a duplicate."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson

from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import backend_unavailable
from fieldcast.integrity.actions import run_rules
from fieldcast.integrity.rules import LIVE_RULES, Thresholds
from fieldcast.realtime.bus import Bus

log = logging.getLogger(__name__)

CHANNEL = "orders"
RESUBSCRIBE_S = 5.0  # after the bus failed, try again this much later


def session_of(data: bytes) -> int | None:
    """The show an "orders" bus message is about, if any (a storefront order has none)."""
    try:
        message = orjson.loads(data)
        session_id = message["data"].get("session_id")
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        return None
    return session_id if isinstance(session_id, int) and not isinstance(session_id, bool) else None


class Watch:
    """Shows waiting for their run: each is judged `delay_s` after the first event that named it."""

    def __init__(
        self, new_uow: Callable[..., UnitOfWork], thresholds: Thresholds, delay_s: float, clock: Callable[[], float]
    ) -> None:
        self.new_uow = new_uow
        self.thresholds = thresholds
        self.delay_s = delay_s
        self.clock = clock
        self.due: dict[int, float] = {}
        self.runs = 0

    def heard(self, session_id: int) -> None:
        self.due.setdefault(session_id, self.clock() + self.delay_s)

    def next_due(self) -> float | None:
        return min(self.due.values(), default=None)

    async def run_due(self) -> None:
        now = self.clock()
        for session_id in sorted(s for s, at in self.due.items() if at <= now):
            del self.due[session_id]
            try:
                async with self.new_uow() as uow:
                    added = await run_rules(uow, session_id, self.thresholds, LIVE_RULES)
            except Exception:  # the database may be away: the show's end runs every rule again
                log.exception("integrity: the rules over show %s failed while it sold", session_id)
                continue
            self.runs += 1
            if added:
                log.info("integrity: show %s raised %s", session_id, ", ".join(a.rule for a in added))


async def watch(
    bus: Bus, new_uow: Callable[..., UnitOfWork], thresholds: Thresholds, delay_s: float, stop: asyncio.Event
) -> None:
    """Follow the "orders" channel until `stop` is set, judging the shows it names."""
    loop = asyncio.get_running_loop()
    pending = Watch(new_uow, thresholds, delay_s, loop.time)
    while not stop.is_set():
        try:
            async with bus.subscribe(CHANNEL) as messages:
                await _follow(messages, pending, stop)
        except Exception as exc:  # the bus went away: the end-of-show runs cover the gap
            if backend_unavailable(exc):
                log.warning("integrity: the orders channel is unavailable (%r); listening again shortly", exc)
            else:
                log.exception("integrity: the orders channel failed; listening again shortly")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RESUBSCRIBE_S):
                    await stop.wait()


async def _follow(messages: AsyncIterator[bytes], pending: Watch, stop: asyncio.Event) -> None:
    iterator = aiter(messages)
    receive: asyncio.Future[Any] | None = None
    stopping: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
    try:
        while not stop.is_set():
            if receive is None:
                receive = asyncio.ensure_future(anext(iterator))
            due = pending.next_due()
            timeout = None if due is None else max(0.0, due - asyncio.get_running_loop().time())
            done, _ = await asyncio.wait({receive, stopping}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if receive in done:
                data, receive = receive.result(), None  # StopAsyncIteration ends the subscription
                session_id = session_of(data)
                if session_id is not None:
                    pending.heard(session_id)
            await pending.run_due()
    finally:
        stopping.cancel()
        if receive is not None:
            receive.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await receive
