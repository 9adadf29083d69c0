"""The message bus behind one small Protocol: an in-process twin and a Redis pub/sub adapter.

Which one runs is decided once, at start-up, from FIELDCAST_REDIS_URL (see make_bus)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Protocol

import redis.asyncio as aioredis

from fieldcast.realtime.backend_errors import counts_errors

SUBSCRIBER_QUEUE_MAX = 10_000
SUBSCRIBE_TIMEOUT_S = 5.0


class Subscription(Protocol):
    def __aiter__(self) -> AsyncIterator[bytes]: ...


class Bus(Protocol):
    backend: str
    # Calls to the shared backend that failed (realtime/backend_errors.py); 0 in-process.
    backend_errors: int

    async def publish(self, channel: str, data: bytes) -> None: ...

    def subscribe(self, channel: str) -> contextlib.AbstractAsyncContextManager[AsyncIterator[bytes]]: ...

    async def status(self) -> dict[str, str]: ...

    async def close(self) -> None: ...


class MemoryBus:
    """Single-process bus: each subscriber has a bounded queue; a full queue drops that
    subscriber's oldest message rather than blocking the publisher."""

    backend = "memory"
    backend_errors = 0

    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[bytes]]] = defaultdict(set)

    async def publish(self, channel: str, data: bytes) -> None:
        for queue in list(self._subscribers.get(channel, ())):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(data)

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[bytes]]:
        queue: asyncio.Queue[bytes] = asyncio.Queue(SUBSCRIBER_QUEUE_MAX)
        self._subscribers[channel].add(queue)

        async def messages() -> AsyncIterator[bytes]:
            while True:
                yield await queue.get()

        try:
            yield messages()
        finally:
            self._subscribers[channel].discard(queue)
            if not self._subscribers[channel]:
                del self._subscribers[channel]

    async def status(self) -> dict[str, str]:
        return {"status": "ok", "backend": self.backend}

    async def close(self) -> None:
        self._subscribers.clear()


def pubsub_namespace(client: aioredis.Redis) -> str:
    """The prefix of every channel name on the wire. Redis keeps keys per database number but
    pub/sub channels per server: without it, two deployments sharing one server on different
    database numbers (a staging and a production, or parallel test workers) would hear each
    other's rooms."""
    return f"db{client.connection_pool.connection_kwargs.get('db', 0)}:"


class RedisBus:
    """Redis pub/sub: every app process sharing the Redis server (and database number) sees every
    message."""

    backend = "redis"

    def __init__(self, url: str) -> None:
        self._redis = aioredis.Redis.from_url(url)
        self._namespace = pubsub_namespace(self._redis)
        self.backend_errors = 0

    def wire_name(self, channel: str) -> str:
        return self._namespace + channel

    @counts_errors
    async def publish(self, channel: str, data: bytes) -> None:
        await self._redis.publish(self.wire_name(channel), data)

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[bytes]]:
        pubsub = self._redis.pubsub()
        channel = self.wire_name(channel)
        try:
            await pubsub.subscribe(channel)
            # Wait for the server's confirmation: from here on nothing published is missed, which
            # the room log relies on when it reads the backlog right after subscribing.
            while True:
                confirmation = await pubsub.get_message(timeout=SUBSCRIBE_TIMEOUT_S)
                if confirmation is None:
                    raise TimeoutError(f"Redis did not confirm the subscription to {channel}")
                if confirmation.get("type") == "subscribe":
                    break
        except Exception:
            self.backend_errors += 1
            raise

        async def messages() -> AsyncIterator[bytes]:
            try:
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        yield message["data"]
            except Exception:  # the connection dropped under the subscription
                self.backend_errors += 1
                raise

        try:
            yield messages()
        finally:
            await pubsub.unsubscribe(channel)
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def status(self) -> dict[str, str]:
        try:
            await self._redis.ping()
        except Exception as exc:  # any client error means "down" for the health check
            self.backend_errors += 1
            return {"status": "down", "backend": self.backend, "error": type(exc).__name__}
        return {"status": "ok", "backend": self.backend}

    async def close(self) -> None:
        await self._redis.aclose()


def make_bus(redis_url: str) -> Bus:
    """Pick the adapter once: Redis when a URL is configured, otherwise in-process."""
    return RedisBus(redis_url) if redis_url else MemoryBus()
