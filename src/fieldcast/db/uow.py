"""Unit of work: one transaction per user action, with hooks that run only after it commits."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self

from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.exc import ObjectDeletedError

if TYPE_CHECKING:
    from fieldcast.realtime.events import RoomEvent

AfterCommit = Callable[[], Awaitable[None]]


class EventSink(Protocol):
    """Where room events go once committed (fieldcast.realtime.room_log.RoomLog)."""

    async def append(self, room_id: int, event_type: str, data: Mapping[str, Any]) -> int: ...


class UnitOfWork:
    """Wraps an AsyncSession. Actions add after-commit hooks (e.g. publish an event);
    the hooks run once the transaction is durable and are dropped on rollback."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], events: EventSink | None = None) -> None:
        self._sessionmaker = sessionmaker
        self._events = events
        self._after_commit: list[AfterCommit] = []
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
            await self.session.close()

    async def _reload_survivors(self) -> None:
        """After a rollback every loaded object is expired; a page that re-renders a form reads
        them again, which async SQLAlchemy cannot do lazily. Reload them now, drop the gone ones."""
        for obj in list(self.session.identity_map.values()):
            try:
                await self.session.refresh(obj)
            except (InvalidRequestError, ObjectDeletedError):
                self.session.expunge(obj)

    def after_commit(self, hook: AfterCommit) -> None:
        self._after_commit.append(hook)

    def emit(self, room_id: int, event: RoomEvent) -> None:
        """Publish a room event once this transaction commits (Zulip's send_event_on_commit).
        Without a sink (seeding, scripts) nobody is listening and the event is dropped."""
        sink = self._events
        if sink is None:
            return
        data = event.model_dump(mode="json")

        async def publish() -> None:
            await sink.append(room_id, event.event_type, data)

        self.after_commit(publish)

    def on_rollback(self, undo: Callable[[], None]) -> None:
        """Undo a side effect outside the database (a written file) if the transaction fails."""
        self._on_rollback.append(undo)

    async def commit(self) -> None:
        try:
            await self.session.commit()
        except BaseException:
            await self.rollback()
            raise
        self._on_rollback.clear()
        hooks, self._after_commit = self._after_commit, []
        for hook in hooks:
            await hook()

    async def rollback(self) -> None:
        await self.session.rollback()
        await self._reload_survivors()
        self._after_commit.clear()
        undo, self._on_rollback = self._on_rollback, []
        for step in reversed(undo):
            step()
