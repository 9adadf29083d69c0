"""Who holds an API token, read apart from any request's unit of work: the checkout fast path
(payments/fast_refusal.py) asks before FastAPI runs, many times a second in a flash sale.

The same rule as `actions.user_for_token`: an unrevoked token of an active user. On PostgreSQL the
read goes through a small asyncpg pool of its own (one prepared statement, no ORM), so it neither
waits behind the app's pool, whose connections the admitted checkouts hold while they queue for
the stock rows, nor costs the ORM's CPU; elsewhere through the app's engine."""

from __future__ import annotations

import asyncio
from typing import Protocol

import asyncpg  # type: ignore[import-untyped]
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from fieldcast.accounts.models import ApiToken, User

SQL = (
    "SELECT t.user_id FROM api_tokens t JOIN users u ON u.id = t.user_id "
    "WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.is_active"
)
POOL_MAX = 4
ACQUIRE_TIMEOUT_S = 2.0


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
    def __init__(self, dsn: str, max_size: int = POOL_MAX) -> None:
        self._dsn = dsn
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def _ready(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._opening:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(self._dsn, min_size=1, max_size=self._max_size)
        return self._pool

    async def user_of(self, token_hash: str) -> int | None:
        pool = await self._ready()
        async with pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
            user_id = await conn.fetchval(SQL, token_hash)
        return int(user_id) if user_id is not None else None

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
