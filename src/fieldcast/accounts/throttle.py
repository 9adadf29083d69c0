"""Throttles: how often one key (an account, a client address, a user) may do a thing.

Each throttle counts events per key in a sliding window and follows one `ThrottlePolicy`:
- a *hard window* (`backoff_cap_s=None`): after `limit` events, wait until the oldest ages out;
- a *back-off*: after `limit` events, each further attempt waits 1 s, 2 s, 4 s ... (at most
  `backoff_cap_s`) after the newest one. Used for an account's failed sign-ins, so an attacker
  guessing a password slows the guessing down but can never lock the owner out for long.

The policies (README "Sign-in and abuse limits"; the numbers marked * are settings):
| throttle        | key            | counts                  | policy                                   |
| sign-in account | email          | failed sign-ins         | 5 free in 15 min, then back-off to 60 s  |
| sign-in address | client address | failed sign-ins         | 30* in 15 min, then wait                 |
| sign-up         | client address | accounts created        | 10* an hour                              |
| organisation    | client address | organisations created   | 5* an hour                               |
| upload          | user           | images uploaded         | 60* in 10 min                            |

Behind one Protocol: the in-process twin serves one process; the Redis adapter (a sorted set per
key, trimmed, judged and counted in one Lua script) shares the counts between every app process,
so N processes do not allow N times the attempts. `make_throttles` picks one at start-up from the
Redis URL."""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis

from fieldcast.config import Settings

log = logging.getLogger(__name__)

REDIS_TIMEOUT_S = 2.0
MAX_TRACKED = 100_000


@dataclass(frozen=True)
class ThrottlePolicy:
    name: str  # part of the Redis key
    limit: int  # events in the window before anyone has to wait
    window_s: float
    backoff_cap_s: float | None = None  # None: a hard window; else the longest back-off delay

    def wait_s(self, count: int, oldest: float, newest: float, now: float) -> float:
        """How long until the next event is allowed, given the events in the window."""
        if count < self.limit:
            return 0.0
        if self.backoff_cap_s is None:
            return oldest + self.window_s - now
        return newest + min(2.0 ** min(count - self.limit, 32), self.backoff_cap_s) - now


# Fixed on purpose: the owner's worst wait (60 s) is the promise that nobody can lock them out.
SIGN_IN_ACCOUNT = ThrottlePolicy("signin-account", limit=5, window_s=15 * 60, backoff_cap_s=60)


def policies(settings: Settings) -> tuple[ThrottlePolicy, ...]:
    """The five policies, in the order of `Throttles`' fields."""
    return (
        SIGN_IN_ACCOUNT,
        ThrottlePolicy("signin-address", limit=settings.sign_in_failures_per_address, window_s=15 * 60),
        ThrottlePolicy("signup-address", limit=settings.sign_ups_per_address_per_hour, window_s=3600),
        ThrottlePolicy("organisation-address", limit=settings.organisations_per_address_per_hour, window_s=3600),
        ThrottlePolicy("upload-user", limit=settings.uploads_per_user_per_10_min, window_s=10 * 60),
    )


def whole_seconds(wait_s: float) -> int:
    return max(1, math.ceil(wait_s)) if wait_s > 0 else 0


class Throttle(Protocol):
    policy: ThrottlePolicy
    # Calls to the shared backend that failed (realtime/backend_errors.py); 0 in-process.
    backend_errors: int

    async def retry_after_s(self, key: str) -> int:
        """0 when an attempt is allowed now, else whole seconds to wait."""
        ...

    async def failed(self, key: str) -> None:
        """Count one event (a failed sign-in) whatever the wait."""
        ...

    async def hit(self, key: str) -> int:
        """Count one attempt if it is allowed now (0), else count nothing and return the wait."""
        ...

    async def succeeded(self, key: str) -> None:
        """Forget the key's events (a successful sign-in)."""
        ...


class MemoryThrottle:
    """One process. `clock` is injectable (monotonic seconds) so tests need not sleep."""

    backend = "memory"
    backend_errors = 0

    def __init__(self, policy: ThrottlePolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        self._events: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        events = self._events.get(key, deque())
        while events and now - events[0] > self.policy.window_s:
            events.popleft()
        return events

    def _wait(self, events: deque[float], now: float) -> float:
        if not events:
            return 0.0
        return self.policy.wait_s(len(events), events[0], events[-1], now)

    def _add(self, key: str, events: deque[float], now: float) -> None:
        if len(self._events) >= MAX_TRACKED and key not in self._events:
            self._events.clear()  # bound memory under a spray of random keys
        events.append(now)
        self._events[key] = events

    async def retry_after_s(self, key: str) -> int:
        now = self._clock()
        return whole_seconds(self._wait(self._recent(key, now), now))

    async def failed(self, key: str) -> None:
        now = self._clock()
        self._add(key, self._recent(key, now), now)

    async def hit(self, key: str) -> int:
        now = self._clock()
        events = self._recent(key, now)
        wait = whole_seconds(self._wait(events, now))
        if not wait:
            self._add(key, events, now)
        return wait

    async def succeeded(self, key: str) -> None:
        self._events.pop(key, None)


# KEYS: the key's set. ARGV: now (ms), window (ms), limit, back-off cap (ms, -1 = hard window),
# a unique member, mode ("read", "add": count it, "hit": count it when allowed).
# Returns the wait in ms before the event (0 = allowed).
_THROTTLE = """
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local limit, cap = tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local wait = 0
local count = redis.call('ZCARD', KEYS[1])
if count >= limit then
  if cap < 0 then
    wait = tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]) + window - now
  else
    local newest = tonumber(redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2])
    wait = newest + math.min(1000 * 2 ^ (count - limit), cap) - now
  end
end
if ARGV[6] == 'add' or (ARGV[6] == 'hit' and wait <= 0) then
  redis.call('ZADD', KEYS[1], now, ARGV[5])
  redis.call('PEXPIRE', KEYS[1], window)
end
if wait <= 0 then return 0 end
return math.ceil(wait)
"""


class RedisThrottle:
    """Every process sharing the Redis server counts the same events (Redis' clock, so the
    processes need not agree on theirs). While Redis cannot be reached, this process counts on
    its own: the action keeps working and is still throttled, per process."""

    backend = "redis"

    def __init__(self, redis: aioredis.Redis, policy: ThrottlePolicy) -> None:
        self.policy = policy
        self._redis = redis
        self._script = redis.register_script(_THROTTLE)
        self._serial = 0
        self._fallback = MemoryThrottle(policy)
        self.backend_errors = 0  # Redis failures seen (the metrics scrape reads it)

    def _down(self, exc: BaseException) -> None:
        self.backend_errors += 1
        if self.backend_errors == 1 or self.backend_errors % 100 == 0:
            log.warning("%s throttle: Redis unreachable (%r); counting in this process", self.policy.name, exc)

    def _key(self, key: str) -> str:
        # Hashed: emails and addresses are personal data and need not sit readable in Redis.
        return f"fc:throttle:{self.policy.name}:" + hashlib.sha256(key.encode()).hexdigest()[:32]

    async def _run(self, key: str, mode: str) -> int:
        seconds, micros = await self._redis.time()
        now = int(seconds) * 1000 + int(micros) // 1000
        self._serial += 1
        cap = -1 if self.policy.backoff_cap_s is None else int(self.policy.backoff_cap_s * 1000)
        wait_ms = await self._script(
            keys=[self._key(key)],
            args=[
                now,
                int(self.policy.window_s * 1000),
                self.policy.limit,
                cap,
                f"{time.time_ns()}:{id(self)}:{self._serial}",
                mode,
            ],
        )
        return whole_seconds(int(wait_ms) / 1000)

    async def retry_after_s(self, key: str) -> int:
        try:
            return await self._run(key, "read")
        except (aioredis.RedisError, OSError) as exc:
            self._down(exc)
            return await self._fallback.retry_after_s(key)

    async def failed(self, key: str) -> None:
        try:
            await self._run(key, "add")
        except (aioredis.RedisError, OSError) as exc:
            self._down(exc)
            await self._fallback.failed(key)

    async def hit(self, key: str) -> int:
        try:
            return await self._run(key, "hit")
        except (aioredis.RedisError, OSError) as exc:
            self._down(exc)
            return await self._fallback.hit(key)

    async def succeeded(self, key: str) -> None:
        await self._fallback.succeeded(key)
        try:
            await self._redis.delete(self._key(key))
        except (aioredis.RedisError, OSError) as exc:
            self._down(exc)


@dataclass
class Throttles:
    """The process' throttles, one per policy; they share one Redis connection pool."""

    sign_in_account: Throttle
    sign_in_address: Throttle
    sign_up_address: Throttle
    organisation_address: Throttle
    upload_user: Throttle
    redis: aioredis.Redis | None = None

    @property
    def backend_errors(self) -> int:
        return sum(
            t.backend_errors
            for t in (
                self.sign_in_account,
                self.sign_in_address,
                self.sign_up_address,
                self.organisation_address,
                self.upload_user,
            )
        )

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()


def _bundle(throttles: list[Throttle], redis: aioredis.Redis | None = None) -> Throttles:
    sign_in_account, sign_in_address, sign_up_address, organisation_address, upload_user = throttles
    return Throttles(sign_in_account, sign_in_address, sign_up_address, organisation_address, upload_user, redis)


def memory_throttles(settings: Settings, clock: Callable[[], float] = time.monotonic) -> Throttles:
    return _bundle([MemoryThrottle(policy, clock) for policy in policies(settings)])


def make_throttles(settings: Settings) -> Throttles:
    """Pick the adapter once: Redis when a URL is configured, otherwise in-process."""
    if not settings.redis_url:
        return memory_throttles(settings)
    redis = aioredis.Redis.from_url(
        settings.redis_url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
    )
    return _bundle([RedisThrottle(redis, policy) for policy in policies(settings)], redis)
