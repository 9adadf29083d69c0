"""Unit of work: one transaction per user action.

What an action tells the world (room events now; webhooks and notifications with commerce) is
written to the outbox *in the action's transaction* (db/outbox.py): it leaves if and only if the
change commits, and a relay publishes it afterwards, at least once. Hooks that only touch this
process (delete a replaced file, hand a recording over to ffmpeg) run after the commit; their
failure is logged and never turns a committed write into an error."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, ClassVar, Protocol, Self

from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.exc import ObjectDeletedError

from fieldcast.db.outbox import TOPIC_ROOM, OutboxMessage
from fieldcast.db.written import Written, take_written

log = logging.getLogger(__name__)

AfterCommit = Callable[[], Awaitable[None]]
OutboxWake = Callable[[], None]
# Told what a committed transaction wrote (db/written.py), before the request that made it answers.
OnWritten = Callable[[Written], Awaitable[None]]


class OutboxEvent(Protocol):
    """An event model (pydantic, fieldcast.realtime.events.RoomEvent and the like)."""

    event_type: ClassVar[str]

    def model_dump(self, *, mode: str) -> dict[str, Any]: ...


class UnitOfWork:
    """Wraps an AsyncSession. Actions write outbox messages (`emit`, `publish`) and add
    after-commit hooks; both are dropped on rollback."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        on_outbox: OutboxWake | None = None,
        on_written: OnWritten | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._on_outbox = on_outbox
        self._on_written = on_written
        self._outboxed = False
        self._after_commit: list[AfterCommit] = []
        self._after_rollback: list[AfterCommit] = []
        self._on_rollback: list[Callable[[], None]] = []
        self.session: AsyncSession

    async def __aenter__(self) -> Self:
        self.session = self._sessionmaker()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                await self.commit()
            else:
                await self.rollback()
        finally:
            # Shielded: a task cancelled here (a client gone, a shutdown) must still hand its
            # connection back with the transaction ended, or on SQLite the write lock stays held
            # until the connection is garbage-collected.
            await asyncio.shield(self.session.close())

    async def _reload_survivors(self) -> None:
        """After a rollback every loaded object is expired; a page that re-renders a form reads
        them again, which async SQLAlchemy cannot do lazily. Reload them now, drop the gone ones."""
        for obj in list(self.session.identity_map.values()):
            try:
                await self.session.refresh(obj)
            except (InvalidRequestError, ObjectDeletedError):
                self.session.expunge(obj)

    def after_commit(self, hook: AfterCommit) -> None:
        """Run `hook` once the transaction is durable (dropped on rollback). It must only touch
        this process: anything another process or a client must hear goes through the outbox."""
        self._after_commit.append(hook)

    def publish(
        self,
        topic: str,
        key: str,
        event_type: str,
        payload: Mapping[str, Any],
        *,
        available_at: datetime | None = None,
    ) -> OutboxMessage:
        """Write a message to the outbox in this transaction; the relay delivers it after commit.
        Messages with the same topic and key are delivered in the order they were written.
        `available_at` holds its first try until then (a delivery meant to be late)."""
        message = OutboxMessage(
            topic=topic, key=key, event_type=event_type, payload=dict(payload), available_at=available_at
        )
        self.session.add(message)
        self._outboxed = True
        return message

    def emit(self, room_id: int, event: OutboxEvent) -> OutboxMessage:
        """A room event: it reaches the room's sockets once this transaction commits (Zulip's
        send_event_on_commit, made durable)."""
        return self.publish(TOPIC_ROOM, str(room_id), event.event_type, event.model_dump(mode="json"))

    def on_rollback(self, undo: Callable[[], None]) -> None:
        """Undo a side effect outside the database (a written file) if the transaction fails."""
        self._on_rollback.append(undo)

    def after_rollback(self, undo: AfterCommit) -> None:
        """Undo a side effect in another service (units taken in Redis) if the transaction fails;
        a failure of `undo` is logged (a reconciler mends what it leaves)."""
        self._after_rollback.append(undo)

    async def commit(self) -> None:
        try:
            await self.session.commit()
        except BaseException:
            await self.rollback()
            raise
        self._on_rollback.clear()
        self._after_rollback.clear()
        written = take_written(self.session.sync_session)
        if written and self._on_written is not None:
            try:
                await self._on_written(written)
            except Exception:  # committed: report, never fail the request
                log.exception("on_written hook failed")
        if self._outboxed:
            self._outboxed = False
            if self._on_outbox is not None:
                self._on_outbox()
        hooks, self._after_commit = self._after_commit, []
        for hook in hooks:
            try:
                await hook()
            except Exception:  # the change is committed: report, never undo or fail the request
                log.exception("after-commit hook %r failed", hook)

    async def rollback(self) -> None:
        await self.session.rollback()
        take_written(self.session.sync_session)
        await self._reload_survivors()
        self._outboxed = False
        self._after_commit.clear()
        undo, self._on_rollback = self._on_rollback, []
        for step in reversed(undo):
            step()
        undo_elsewhere, self._after_rollback = self._after_rollback, []
        for hook in reversed(undo_elsewhere):
            try:
                await hook()
            except Exception:  # the transaction is already undone; report what could not be
                log.exception("after-rollback hook %r failed", hook)
