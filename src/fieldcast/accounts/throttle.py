"""Sign-in throttling: too many failed attempts for one email pause further attempts.

Sliding window per email, with the limit explicit and reported to the user. Behind one Protocol:
the in-process twin serves one process; the Redis adapter (a sorted set per email, trimmed and
counted in one Lua script) shares the count between every app process, so N processes do not
allow N times the attempts. `make_sign_in_throttle` picks one at start-up from the Redis URL."""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

import redis.asyncio as aioredis

log = logging.getLogger(__name__)

MAX_FAILURES = 10
REDIS_TIMEOUT_S = 2.0
WINDOW_S = 15 * 60
MAX_TRACKED = 100_000


class SignInThrottle(Protocol):
    # Calls to the shared backend that failed (realtime/backend_errors.py); 0 in-process.
    backend_errors: int

    async def retry_after_s(self, key: str) -> int:
        """0 when an attempt is allowed, else whole seconds until the oldest failure ages out."""
        ...

    async def failed(self, key: str) -> None: ...

    async def succeeded(self, key: str) -> None: ...

    async def close(self) -> None: ...


class MemorySignInThrottle:
    """One process. `clock` is injectable (monotonic seconds) so tests need not sleep."""

    backend = "memory"
    backend_errors = 0

    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.get(key, deque())
        while failures and now - failures[0] > self.window_s:
            failures.popleft()
        return failures

    async def retry_after_s(self, key: str) -> int:
        now = self._clock()
        failures = self._recent(key, now)
        if len(failures) < self.max_failures:
            return 0
        return max(1, int(self.window_s - (now - failures[0])) + 1)

    async def failed(self, key: str) -> None:
        now = self._clock()
        if len(self._failures) >= MAX_TRACKED:  # bound memory under a spray of random emails
            self._failures.clear()
        failures = self._recent(key, now)
        failures.append(now)
        self._failures[key] = failures

    async def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)

    async def close(self) -> None:
        self._failures.clear()


# KEYS: the email's set. ARGV: now (ms), window (ms), a unique member for a failure ("" = only read).
# Returns {count in window, oldest failure's time in ms or -1}.
_FAILURES = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
if ARGV[3] ~= '' then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local count = redis.call('ZCARD', KEYS[1])
if oldest[2] then return {count, tonumber(oldest[2])} end
return {count, -1}
"""


class RedisSignInThrottle:
    """Every process sharing the Redis server counts the same failures (Redis' clock, so the
    processes need not agree on theirs). While Redis cannot be reached, this process counts on
    its own: sign-in keeps working and is still throttled, per process."""

    backend = "redis"

    def __init__(self, url: str, max_failures: int = MAX_FAILURES, window_s: float = WINDOW_S) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._redis = aioredis.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
        )
        self._script = self._redis.register_script(_FAILURES)
        self._serial = 0
        self._fallback = MemorySignInThrottle(max_failures, window_s)
        self.backend_errors = 0  # Redis failures seen (the metrics scrape reads it)

    def _down(self, exc: BaseException) -> None:
        self.backend_errors += 1
        if self.backend_errors == 1 or self.backend_errors % 100 == 0:
            log.warning("sign-in throttle: Redis unreachable (%r); counting in this process", exc)

    @staticmethod
    def _key(key: str) -> str:
        # Hashed: emails are personal data and need not sit readable in Redis.
        return "fc:signin:" + hashlib.sha256(key.encode()).hexdigest()[:32]

    async def _now_ms(self) -> int:
        seconds, micros = await self._redis.time()
        return int(seconds) * 1000 + int(micros) // 1000

    async def _run(self, key: str, member: str) -> tuple[int, int, int]:
        now = await self._now_ms()
        count, oldest = await self._script(keys=[self._key(key)], args=[now, int(self.window_s * 1000), member])
        return int(count), int(oldest), now

    async def retry_after_s(self, key: str) -> int:
        try:
            count, oldest, now = await self._run(key, "")
        except (aioredis.RedisError, OSError) as exc:
            self._down(exc)
            return await self._fallback.retry_after_s(key)
        if count < self.max_failures or oldest < 0:
            return 0
        return max(1, math.ceil((self.window_s * 1000 - (now - oldest)) / 1000))

    async def failed(self, key: str) -> None:
        self._serial += 1
        try:
            await self._run(key, f"{time.time_ns()}:{id(self)}:{self._serial}")
        except (aioredis.RedisError, OSError) as exc:
            self._down(exc)
            await self._fallback.failed(key)

    async def succeeded(self, key: str) -> None:
        await self._fallback.succeeded(key)
        try:
            await self._redis.delete(self._key(key))
        except (aioredis.RedisError, OSError) as exc:
            self._down(exc)

    async def close(self) -> None:
        await self._redis.aclose()


def make_sign_in_throttle(redis_url: str) -> SignInThrottle:
    """Pick the adapter once: Redis when a URL is configured, otherwise in-process."""
    return RedisSignInThrottle(redis_url) if redis_url else MemorySignInThrottle()
