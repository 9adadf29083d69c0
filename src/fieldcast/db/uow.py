"""Unit of work: one transaction per user action, with hooks that run only after it commits."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

AfterCommit = Callable[[], Awaitable[None]]


class UnitOfWork:
    """Wraps an AsyncSession. Actions add after-commit hooks (e.g. publish an event);
    the hooks run once the transaction is durable and are dropped on rollback."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        self._after_commit: list[AfterCommit] = []
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
                await self.session.rollback()
                self._after_commit.clear()
        finally:
            await self.session.close()

    def after_commit(self, hook: AfterCommit) -> None:
        self._after_commit.append(hook)

    async def commit(self) -> None:
        await self.session.commit()
        hooks, self._after_commit = self._after_commit, []
        for hook in hooks:
            await hook()

    async def rollback(self) -> None:
        await self.session.rollback()
        self._after_commit.clear()
