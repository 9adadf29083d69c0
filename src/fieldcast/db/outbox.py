"""The transactional outbox: what an action tells the world is written in its own transaction and
published by a relay after the commit.

Delivery is at least once: a relay that dies between publishing and marking a message done
publishes it again, so every consumer drops a repeat by the message's id (the room log does).
Each app process runs one relay, woken after every commit that wrote to the outbox and sweeping
every few seconds; on PostgreSQL the relays of several processes take turns on the rows
(SELECT ... FOR UPDATE), on SQLite the write transaction serialises them.

Two kinds of consumer:
- *ordered* (the room log): called while the relay holds the rows, so messages of one topic and
  key (one room) go out in id order; one that cannot be delivered (Redis unreachable) holds back
  the later ones of its key until it goes through, while other keys go on. Such a consumer must
  be quick and must not write to the database.
- *outside* (a payment provider, an HTTP notification): may be slow or call back into this app,
  so it is never called inside a transaction. The relay leases the message (`available_at` moves
  ahead), commits, calls, then marks it done, or schedules the next try with a back-off. Each
  message stands alone: no order among them. A message can also wait for `available_at` before
  its first try (a delivery deliberately late)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from fieldcast.db.base import Base, IdType, utcnow

log = logging.getLogger(__name__)

TOPIC_ROOM = "room"  # key: the room (live session) id; consumer: the room log
BATCH = 200
SWEEP_S = 2.0
BACKOFF_MAX_S = 10.0
LEASE_S = 60.0  # an outside delivery not marked within this is tried again (its relay died)
RETRY_MAX_S = 600.0  # an outside delivery is retried at most this far apart
KEEP_DONE_FOR = timedelta(days=1)
ERROR_MAX = 200


class OutboxMessage(Base):
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    topic: Mapped[str] = mapped_column(sa.String(32))
    key: Mapped[str] = mapped_column(sa.String(64))
    event_type: Mapped[str] = mapped_column(sa.String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    published_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    # Not before this (a lease, a back-off, or a delivery meant to be late); None = now.
    available_at: Mapped[datetime | None] = mapped_column(default=None)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(sa.String(ERROR_MAX), default="")


@dataclass(frozen=True)
class Envelope:
    """One message as a consumer receives it (detached from the session)."""

    id: int
    topic: str
    key: str
    event_type: str
    payload: dict[str, Any]
    created_at: datetime


Deliver = Callable[[Envelope], Awaitable[None]]


class OutboxStuck(Exception):
    """drain(): a message could not be delivered."""


@dataclass
class RelayStats:
    published: int = 0
    failures: int = 0
    last_failure: str = ""


class OutboxRelay:
    """Publishes pending outbox messages to the consumer of their topic (picked at start-up by the
    composition root: the room log for room events)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        consumers: Mapping[str, Deliver],
        *,
        outside: Mapping[str, Deliver] | None = None,
        sweep_s: float = SWEEP_S,
        batch: int = BATCH,
        backoff_max_s: float = BACKOFF_MAX_S,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._consumers = dict(consumers)
        self._outside = dict(outside or {})
        self._sweep_s = sweep_s
        self._batch = batch
        self._backoff_max_s = backoff_max_s
        self._wakeup = asyncio.Event()
        self._stopped = asyncio.Event()
        self._turn = asyncio.Lock()  # one pass at a time in this process
        self.stats = RelayStats()

    def wake(self) -> None:
        """Called after a commit that wrote to the outbox (UnitOfWork's on_outbox)."""
        self._wakeup.set()

    def stop(self) -> None:
        """Ask `run` to return after its current pass (a cancelled pass could leave its database
        connection, and on SQLite the write lock, behind until garbage collection)."""
        self._stopped.set()

    async def relay_once(self) -> tuple[int, bool]:
        """One pass over at most `batch` pending messages: (how many were looked at, whether any
        failed)."""
        async with self._turn:
            session = self._sessionmaker()
            try:
                return await self._pass(session)
            finally:
                await asyncio.shield(session.close())  # see UnitOfWork.__aexit__

    async def _pass(self, session: AsyncSession) -> tuple[int, bool]:
        now = utcnow()
        rows = (
            await session.scalars(
                sa.select(OutboxMessage)
                .where(
                    OutboxMessage.published_at.is_(None),
                    sa.or_(OutboxMessage.available_at.is_(None), OutboxMessage.available_at <= now),
                )
                .order_by(OutboxMessage.id)
                .limit(self._batch)
                .with_for_update()
            )
        ).all()
        held_back: set[tuple[str, str]] = set()
        done: list[int] = []
        leased: list[Envelope] = []
        for row in rows:
            envelope = Envelope(row.id, row.topic, row.key, row.event_type, dict(row.payload), row.created_at)
            if row.topic in self._outside:
                row.available_at = now + timedelta(seconds=LEASE_S)
                leased.append(envelope)
                continue
            if (row.topic, row.key) in held_back:
                continue
            try:
                await self._consumers[row.topic](envelope)
            except Exception as exc:  # any consumer error: keep it pending, in order, and retry
                held_back.add((row.topic, row.key))
                self._failed(row, exc)
            else:
                done.append(row.id)
        if done:
            await session.execute(
                sa.update(OutboxMessage).where(OutboxMessage.id.in_(done)).values(published_at=utcnow())
            )
        await session.commit()
        self.stats.published += len(done)
        failed = bool(held_back)
        for envelope in leased:
            failed = not await self._deliver_outside(session, envelope) or failed
        return len(rows), failed

    def _failed(self, row: OutboxMessage, exc: Exception) -> None:
        row.attempts += 1
        row.last_error = repr(exc)[:ERROR_MAX]
        self.stats.failures += 1
        self.stats.last_failure = row.last_error
        if row.attempts == 1 or row.attempts % 20 == 0:
            log.warning("outbox message %s (%s) not delivered: %r", row.id, row.event_type, exc)

    async def _deliver_outside(self, session: AsyncSession, envelope: Envelope) -> bool:
        """Call an outside consumer with no transaction open, then record how it went."""
        error: Exception | None = None
        try:
            await self._outside[envelope.topic](envelope)
        except Exception as exc:  # any consumer error: try again after a back-off
            error = exc
        row = await session.get(OutboxMessage, envelope.id, populate_existing=True)
        if row is None:
            return error is None
        if error is None:
            row.published_at = utcnow()
            self.stats.published += 1
        else:
            self._failed(row, error)
            row.available_at = utcnow() + timedelta(seconds=min(RETRY_MAX_S, 2.0 ** min(row.attempts, 10)))
        await session.commit()
        return error is None

    async def drain(self) -> None:
        """Deliver everything pending now (tests, shutdown); OutboxStuck if something cannot go."""
        while True:
            seen, failed = await self.relay_once()
            if failed:
                raise OutboxStuck(self.stats.last_failure)
            if seen < self._batch:
                return

    async def run(self) -> None:
        """The relay task: a pass after each wake-up and every `sweep_s`; after a failure it
        waits, doubling up to `backoff_max_s`, before trying again."""
        backoff = 0.0
        self._stopped.clear()
        while not self._stopped.is_set():
            try:
                seen, failed = await self.relay_once()
            except Exception:  # the database itself failed: try again later
                log.exception("outbox relay pass failed")
                seen, failed = 0, True
            if failed:
                backoff = min(self._backoff_max_s, max(self._sweep_s / 4, backoff * 2))
                await self._rest(backoff, wake_early=False)
                continue
            backoff = 0.0
            if seen < self._batch:
                await self._rest(self._sweep_s, wake_early=True)

    async def _rest(self, seconds: float, *, wake_early: bool) -> None:
        """Wait `seconds`, or until stopped, or (`wake_early`) until a commit wakes the relay.
        After a failure commits must not cut the wait short: they go on waking the relay while
        Redis is down, and it must not hammer it."""
        events = [self._stopped, self._wakeup] if wake_early else [self._stopped]
        waits = [asyncio.ensure_future(event.wait()) for event in events]
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
        self._wakeup.clear()


async def backlog(session: AsyncSession) -> tuple[int, float]:
    """How many messages wait, and the age in seconds of the oldest (0 when none)."""
    count, oldest = (
        await session.execute(
            sa.select(sa.func.count(OutboxMessage.id), sa.func.min(OutboxMessage.created_at)).where(
                OutboxMessage.published_at.is_(None)
            )
        )
    ).one()
    if not count or oldest is None:
        return 0, 0.0
    created = oldest if isinstance(oldest, datetime) else datetime.fromisoformat(str(oldest))
    if created.tzinfo is None:
        created = created.replace(tzinfo=utcnow().tzinfo)
    return int(count), max(0.0, (utcnow() - created).total_seconds())


async def purge_done(session: AsyncSession, older_than: timedelta = KEEP_DONE_FOR) -> int:
    """Delete delivered messages older than `older_than` (a periodic task; returns how many)."""
    result = await session.execute(
        sa.delete(OutboxMessage).where(
            OutboxMessage.published_at.is_not(None), OutboxMessage.published_at < utcnow() - older_than
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
