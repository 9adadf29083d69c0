"""The public data version: one number that moves after every commit that changed what anonymous
pages and APIs show (the page cache keys its entries by it, web/page_cache.py).

In-process it is a counter in this process. On Redis it is one key that every process increments
after such a commit and reads before serving from its cache, so a change committed by any process
is seen by the next request to any other (no window while a message travels).

When Redis cannot be reached, `current()` answers None (the cache is bypassed, pages are built
fresh) and a bump that could not be made is remembered and made before the next read succeeds:
no process may go on serving a version that a committed change has moved past."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

VERSION_KEY = "fc:public-data-version"


class DataVersion(Protocol):
    backend: str

    async def current(self) -> int | None:
        """The version now; None when it cannot be known (serve without the cache)."""
        ...

    async def bump(self) -> None:
        """Move the version on, after a commit that changed public data."""
        ...

    async def close(self) -> None: ...


class MemoryVersion:
    backend = "memory"

    def __init__(self) -> None:
        self._value = 0

    async def current(self) -> int | None:
        return self._value

    async def bump(self) -> None:
        self._value += 1

    async def close(self) -> None:
        return None


class RedisVersion:
    backend = "redis"

    def __init__(self, url: str, *, timeout_s: float = 0.5, key: str = VERSION_KEY) -> None:
        self._key = key
        self._redis = aioredis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self._owed = 0  # bumps that could not be made while Redis was away
        # Reads asked for while one is in flight are answered together by the next one, which
        # starts after it: under load one GET serves a whole turn of the event loop, and no caller
        # gets an answer read before it asked (a bump committed just before still counts).
        self._next: asyncio.Future[int | None] | None = None
        self._reader: asyncio.Task[None] | None = None

    async def current(self) -> int | None:
        loop = asyncio.get_running_loop()
        if self._next is not None and self._next.get_loop() is not loop:
            self._next, self._reader = None, None  # a new event loop (tests): start afresh
        if self._next is None:
            self._next = loop.create_future()
        answer = self._next
        if self._reader is None or self._reader.done():
            self._reader = loop.create_task(self._reads())
        return await asyncio.shield(answer)

    async def _reads(self) -> None:
        while self._next is not None:
            answer, self._next = self._next, None
            value = await self._read()
            if not answer.done():
                answer.set_result(value)

    async def _read(self) -> int | None:
        try:
            if self._owed:
                await self._redis.incrby(self._key, self._owed)
                self._owed = 0
            raw = await self._redis.get(self._key)
        except (RedisError, OSError) as exc:
            log.debug("public data version unreadable: %r", exc)
            return None
        return int(raw or 0)

    async def bump(self) -> None:
        try:
            await self._redis.incrby(self._key, 1 + self._owed)
            self._owed = 0
        except (RedisError, OSError) as exc:
            self._owed += 1
            log.warning("public data version not moved (Redis): %r; retried before the next read", exc)

    async def close(self) -> None:
        await self._redis.aclose()


def make_data_version(redis_url: str, *, key: str = VERSION_KEY) -> DataVersion:
    """The public data version by default; another `key` counts something else the same way
    (the version of sign-ins, which moves when a token is revoked or a user changes)."""
    return RedisVersion(redis_url, key=key) if redis_url else MemoryVersion()
