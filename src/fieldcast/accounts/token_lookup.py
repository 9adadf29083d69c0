"""Who holds an API token, read apart from any request's unit of work: the checkout fast path
(payments/fast_refusal.py) asks before FastAPI runs, many times a second in a flash sale.

The same rule as `actions.user_for_token`: an unrevoked token of an active user. On PostgreSQL the
read goes through a small asyncpg pool of its own (one prepared statement, no ORM, the lookups
waiting at the same moment answered by one query), so it neither waits behind the app's pool,
whose connections the admitted checkouts hold while they queue for the stock rows, nor costs the
ORM's CPU; elsewhere through the app's engine."""

from __future__ import annotations

import asyncio
from typing import Protocol

import asyncpg  # type: ignore[import-untyped]
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from fieldcast.accounts.models import ApiToken, User

SQL_MANY = (
    "SELECT t.token_hash, t.user_id FROM api_tokens t JOIN users u ON u.id = t.user_id "
    "WHERE t.token_hash = ANY($1::varchar[]) AND t.revoked_at IS NULL AND u.is_active"
)
POOL_MAX = 2
BATCH_MAX = 1000
ACQUIRE_TIMEOUT_S = 5.0


class TokenLookup(Protocol):
    async def user_of(self, token_hash: str) -> int | None:
        """The user id of an unrevoked token of an active user; None otherwise."""
        ...

    async def close(self) -> None: ...


class EngineLookup:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._select = (
            sa.select(ApiToken.user_id)
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_hash == sa.bindparam("h"), ApiToken.revoked_at.is_(None), User.is_active)
        )

    async def user_of(self, token_hash: str) -> int | None:
        async with self._engine.connect() as conn:
            user_id = (await conn.execute(self._select, {"h": token_hash})).scalar()
        return int(user_id) if user_id is not None else None

    async def close(self) -> None:
        return None


class AsyncpgLookup:
    """Lookups that arrive while one is in flight are answered together by the next query (one
    round trip for all of them): under a flash sale's load a query per lookup would hold a
    connection for a whole turn of the busy event loop each, and the lookups would queue for the
    pool however fast PostgreSQL answers."""

    def __init__(self, dsn: str, max_size: int = POOL_MAX) -> None:
        self._dsn = dsn
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()
        self._waiting: list[tuple[str, asyncio.Future[int | None]]] = []
        self._draining = False
        self._drainer: asyncio.Task[None] | None = None

    async def _ready(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._opening:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(self._dsn, min_size=1, max_size=self._max_size)
        return self._pool

    async def user_of(self, token_hash: str) -> int | None:
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((token_hash, future))
        if not self._draining:
            self._draining = True
            self._drainer = asyncio.get_running_loop().create_task(self._drain())
        return await asyncio.wait_for(future, ACQUIRE_TIMEOUT_S)

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:BATCH_MAX], self._waiting[BATCH_MAX:]
                try:
                    pool = await self._ready()
                    async with pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
                        rows = await conn.fetch(SQL_MANY, list({h for h, _ in batch}))
                except Exception as exc:  # each waiter is told; the next batch tries again
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                found = {row[0]: int(row[1]) for row in rows}
                for token_hash, future in batch:
                    if not future.done():
                        future.set_result(found.get(token_hash))
        finally:
            self._draining = False

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


def make_token_lookup(engine: AsyncEngine) -> TokenLookup:
    """asyncpg's own pool on PostgreSQL (the same database), else the app's engine."""
    if engine.dialect.name == "postgresql":
        dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        return AsyncpgLookup(dsn)
    return EngineLookup(engine)
