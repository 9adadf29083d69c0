"""The stock gate: the first, fast check of a show's stock and per-buyer limits, in front of the
database.

The database is the record: every order reserves its units there with a guarded UPDATE, inside
the order's transaction, so nothing is ever oversold whatever the gate says. In Redis mode the
gate holds each flash-sale or show pool's available units and each buyer's units in Redis, and
one Lua script checks and takes both; the thousands of buyers who come too late are answered by
Redis alone and never touch the database. If the order's transaction then fails, the units go
back to the gate. Without Redis the gate admits everyone and the database decides alone.

Redis and the database can drift (a process killed between the gate and its commit keeps units
taken in Redis); the reconciler (commerce/reconcile.py) compares and repairs, at start-up,
periodically and when a show ends."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol

import redis.asyncio as aioredis

REDIS_TIMEOUT_S = 2.0
POOL_TTL_S = 7 * 24 * 3600  # a pool outlives its show by days; the reconciler reloads it anyway


class Taken(Enum):
    YES = 1  # taken here: now ask the database
    SOLD_OUT = 0
    OVER_LIMIT = -1


@dataclass(frozen=True)
class PoolState:
    """What the gate holds for a pool: available units and units per buyer."""

    available: int
    buyers: dict[int, int]


class StockGate(Protocol):
    backend: str
    backend_errors: int

    async def take(self, pool_id: int, user_id: int, units: int, per_buyer_limit: int | None) -> Taken:
        """Take `units` of the pool for the buyer, within their limit; SOLD_OUT and OVER_LIMIT
        are told to the buyer at once, YES means only "now ask the database"."""
        ...

    async def give_back(self, pool_id: int, user_id: int, units: int) -> None:
        """Return units taken by `take` (the order failed, expired or was cancelled)."""
        ...

    async def load(self, pool_id: int, state: PoolState, *, replace: bool = True) -> None:
        """Set the pool to the database's numbers: a repair (replace), or a first use, which
        leaves a pool that another process loaded meanwhile as it is (its takes count)."""
        ...

    async def state(self, pool_id: int) -> PoolState | None:
        """The pool as the gate holds it; None when it holds nothing for it."""
        ...

    async def drop(self, pool_id: int) -> None: ...

    async def close(self) -> None: ...


class OpenGate:
    """No Redis: admit every attempt; the database's guarded updates decide (embedded mode,
    PostgreSQL alone)."""

    backend = "database"
    backend_errors = 0

    async def take(self, pool_id: int, user_id: int, units: int, per_buyer_limit: int | None) -> Taken:
        return Taken.YES

    async def give_back(self, pool_id: int, user_id: int, units: int) -> None:
        return None

    async def load(self, pool_id: int, state: PoolState, *, replace: bool = True) -> None:
        return None

    async def state(self, pool_id: int) -> PoolState | None:
        return None

    async def drop(self, pool_id: int) -> None:
        return None

    async def close(self) -> None:
        return None


# KEYS: available, buyers (hash user -> units). ARGV: user, units, limit (0 = none), ttl.
# Returns 1 taken, 0 sold out, -1 over the buyer's limit, -2 pool not loaded.
_TAKE = """
local available = tonumber(redis.call('GET', KEYS[1]) or '-1')
if available < 0 then return -2 end
local units = tonumber(ARGV[2])
if available < units then return 0 end
local limit = tonumber(ARGV[3])
if limit > 0 then
  local held = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
  if held + units > limit then return -1 end
end
redis.call('DECRBY', KEYS[1], units)
redis.call('HINCRBY', KEYS[2], ARGV[1], units)
return 1
"""

# KEYS: available, buyers. ARGV: user, units.
_GIVE_BACK = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('INCRBY', KEYS[1], ARGV[2])
local left = redis.call('HINCRBY', KEYS[2], ARGV[1], -tonumber(ARGV[2]))
if left <= 0 then redis.call('HDEL', KEYS[2], ARGV[1]) end
return 1
"""

# KEYS: available, buyers. ARGV: replace (1/0), available, ttl, then user, units pairs.
_LOAD = """
if ARGV[1] == '0' and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[2])
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
for i = 4, #ARGV, 2 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
end
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
"""


class NotLoaded(Exception):
    """The gate holds nothing for this pool yet: the caller loads it from the database."""


class RedisGate:
    """Pools in Redis: `fc:pool:<id>:available` and `fc:pool:<id>:buyers`."""

    backend = "redis"

    def __init__(self, url: str) -> None:
        self._redis = aioredis.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
        )
        self._take = self._redis.register_script(_TAKE)
        self._give_back = self._redis.register_script(_GIVE_BACK)
        self._load = self._redis.register_script(_LOAD)
        self.backend_errors = 0

    @staticmethod
    def _keys(pool_id: int) -> list[str]:
        return [f"fc:pool:{pool_id}:available", f"fc:pool:{pool_id}:buyers"]

    async def take(self, pool_id: int, user_id: int, units: int, per_buyer_limit: int | None) -> Taken:
        try:
            result = int(await self._take(keys=self._keys(pool_id), args=[user_id, units, per_buyer_limit or 0]))
        except (aioredis.RedisError, OSError):
            # Redis away: the database alone decides (it never oversells); the reconciler mends.
            self.backend_errors += 1
            return Taken.YES
        if result == -2:
            raise NotLoaded(pool_id)
        return Taken(result)

    async def give_back(self, pool_id: int, user_id: int, units: int) -> None:
        try:
            await self._give_back(keys=self._keys(pool_id), args=[user_id, units])
        except (aioredis.RedisError, OSError):
            self.backend_errors += 1  # the reconciler puts the units back from the database

    async def load(self, pool_id: int, state: PoolState, *, replace: bool = True) -> None:
        args: list[int] = [int(replace), state.available, POOL_TTL_S]
        for user_id, units in sorted(state.buyers.items()):
            if units > 0:
                args += [user_id, units]
        await self._load(keys=self._keys(pool_id), args=args)

    async def state(self, pool_id: int) -> PoolState | None:
        available_key, buyers_key = self._keys(pool_id)
        available, buyers = await self._redis.get(available_key), await self._redis.hgetall(buyers_key)
        if available is None:
            return None
        return PoolState(int(available), {int(k): int(v) for k, v in buyers.items()})

    async def drop(self, pool_id: int) -> None:
        await self._redis.delete(*self._keys(pool_id))

    async def close(self) -> None:
        await self._redis.aclose()


def make_gate(redis_url: str) -> StockGate:
    """Pick the adapter once: Redis when a URL is configured, else the database decides alone."""
    return RedisGate(redis_url) if redis_url else OpenGate()
