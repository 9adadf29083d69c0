"""Per-user, per-room token buckets for chat: a burst of `capacity` messages, then one message per
`refill_s`. The in-process adapter serves one app process; the Redis adapter (one Lua script, so
the read-refill-take step is atomic) shares the buckets between processes. `make_rate_limiter`
picks one at start-up from the Redis URL."""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

import redis.asyncio as aioredis

log = logging.getLogger(__name__)

CAPACITY = 5
REDIS_TIMEOUT_S = 2.0
REFILL_S = 2.0
MAX_TRACKED = 100_000  # in-process buckets kept; the least recently used go first


class RateLimiter(Protocol):
    # Calls to the shared backend that failed (realtime/backend_errors.py); 0 in-process.
    backend_errors: int

    async def take(self, key: str) -> float:
        """Take one token from the bucket `key`: 0 when allowed, else seconds until one is free."""
        ...

    async def close(self) -> None: ...


def chat_key(session_id: int, user_id: int) -> str:
    return f"chat:{session_id}:{user_id}"


class MemoryRateLimiter:
    """One process. `clock` is injectable (monotonic seconds) so tests need not sleep."""

    backend = "memory"
    backend_errors = 0

    def __init__(
        self,
        capacity: int = CAPACITY,
        refill_s: float = REFILL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = capacity
        self.refill_s = refill_s
        self._clock = clock
        # key -> (tokens, time of last update)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    async def take(self, key: str) -> float:
        now = self._clock()
        tokens, last = self._buckets.pop(key, (float(self.capacity), now))
        tokens = min(float(self.capacity), tokens + (now - last) / self.refill_s)
        wait_s = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait_s = (1 - tokens) * self.refill_s
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > MAX_TRACKED:
            self._buckets.popitem(last=False)
        return wait_s

    async def close(self) -> None:
        self._buckets.clear()


# KEYS: bucket. ARGV: capacity, refill seconds per token. Time comes from the Redis server, so
# app processes with skewed clocks agree. Returns the wait in milliseconds (0 = taken).
_TAKE = """
local capacity = tonumber(ARGV[1])
local refill_ms = tonumber(ARGV[2]) * 1000
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) / refill_ms)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.ceil((1 - tokens) * refill_ms)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity * refill_ms) + 1000)
return wait
"""


class RedisRateLimiter:
    """Many processes: the buckets live in Redis and expire once full again. While Redis cannot
    be reached, this process's own buckets stand in: chat keeps working, limited per process,
    rather than failing every message."""

    backend = "redis"

    def __init__(self, url: str, capacity: int = CAPACITY, refill_s: float = REFILL_S) -> None:
        self.capacity = capacity
        self.refill_s = refill_s
        self._redis = aioredis.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
        )
        self._take = self._redis.register_script(_TAKE)
        self._fallback = MemoryRateLimiter(capacity, refill_s)
        self.backend_errors = 0  # Redis failures seen (the metrics scrape reads it)

    async def take(self, key: str) -> float:
        try:
            wait_ms = int(await self._take(keys=[f"fc:rl:{key}"], args=[self.capacity, self.refill_s]))
        except (aioredis.RedisError, OSError) as exc:
            self.backend_errors += 1
            if self.backend_errors == 1 or self.backend_errors % 100 == 0:
                log.warning("chat rate limiter: Redis unreachable (%r); limiting in this process", exc)
            return await self._fallback.take(key)
        return wait_ms / 1000

    async def close(self) -> None:
        await self._redis.aclose()


def make_rate_limiter(redis_url: str) -> RateLimiter:
    """Pick the adapter once: Redis when a URL is configured, else in-process."""
    if redis_url:
        return RedisRateLimiter(redis_url)
    return MemoryRateLimiter()


def retry_after_s(wait_s: float) -> int:
    """Whole seconds to tell the client (at least 1)."""
    return max(1, math.ceil(wait_s))
