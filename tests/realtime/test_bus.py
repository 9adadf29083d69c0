"""The bus: the same behaviour from the in-process adapter and from Redis pub/sub."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from fieldcast.realtime.bus import Bus, MemoryBus, RedisBus, make_bus
from tests.conftest import REDIS_URL, free_port, redis_or_skip


@pytest.fixture(params=["memory", "redis"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    if request.param == "redis":
        await redis_or_skip()
    instance = make_bus(REDIS_URL if request.param == "redis" else "")
    yield instance
    await instance.close()


async def _next(messages: AsyncIterator[bytes]) -> bytes:
    return await asyncio.wait_for(anext(messages), timeout=5)


async def test_make_bus_picks_the_adapter_from_the_url() -> None:
    assert isinstance(make_bus(""), MemoryBus)
    redis_bus = make_bus(REDIS_URL)
    assert isinstance(redis_bus, RedisBus)
    await redis_bus.close()


async def test_every_subscriber_of_a_channel_gets_each_message_in_order(bus: Bus) -> None:
    channel = f"room:test:{id(bus)}"
    async with bus.subscribe(channel) as first, bus.subscribe(channel) as second:
        await asyncio.sleep(0.05)  # Redis confirms subscriptions asynchronously
        for n in range(3):
            await bus.publish(channel, f"m{n}".encode())
        assert [await _next(first) for _ in range(3)] == [b"m0", b"m1", b"m2"]
        assert [await _next(second) for _ in range(3)] == [b"m0", b"m1", b"m2"]


async def test_channels_are_separate(bus: Bus) -> None:
    async with bus.subscribe("room:a") as a_messages:
        await asyncio.sleep(0.05)
        await bus.publish("room:b", b"not for a")
        await bus.publish("room:a", b"for a")
        assert await _next(a_messages) == b"for a"


async def test_status_reports_ok(bus: Bus) -> None:
    assert (await bus.status())["status"] == "ok"


async def test_redis_status_reports_down_when_the_server_is_unreachable() -> None:
    dead = RedisBus(f"redis://127.0.0.1:{free_port()}/0")
    try:
        status = await dead.status()
    finally:
        await dead.close()
    assert status["status"] == "down"
    assert status["backend"] == "redis"
