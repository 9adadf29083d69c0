"""Honest counts: reactions add up, a viewer is counted once however often they reconnect, a view
is a join (a reconnect within a minute is the same view), presence sums every process and forgets
one that stopped reporting — on the in-process adapter and on Redis."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator

import pytest

from fieldcast.realtime.counters import (
    PRESENCE_FRESH_S,
    REVIEW_WINDOW_S,
    MemoryCounters,
    RedisCounters,
    RoomCounters,
)
from tests.conftest import REDIS_URL, redis_or_skip


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
async def counters(request: pytest.FixtureRequest) -> AsyncIterator[RoomCounters]:
    if request.param == "memory":
        yield MemoryCounters()
        return
    await redis_or_skip()
    instance = RedisCounters(REDIS_URL)
    yield instance
    await instance.close()


def room() -> int:
    return random.randrange(10**12, 10**13)


async def test_reactions_add_up(counters: RoomCounters) -> None:
    r = room()
    await counters.add_reactions(r, 5, 0)
    await counters.add_reactions(r, 3, 2)
    totals = await counters.totals(r)
    assert (totals.likes, totals.flowers) == (8, 2)


async def test_a_reconnect_is_the_same_viewer_and_the_same_view(counters: RoomCounters) -> None:
    r = room()
    for _ in range(3):
        await counters.viewer_joined(r, "u:1")
    await counters.viewer_joined(r, "a:anon")
    totals = await counters.totals(r)
    assert totals.unique_viewers == 2 and totals.views == 2


async def test_a_viewer_back_after_the_window_is_a_new_view() -> None:
    clock = Clock()
    counters = MemoryCounters(clock)
    await counters.viewer_joined(1, "u:1")
    clock.now += REVIEW_WINDOW_S + 1
    await counters.viewer_joined(1, "u:1")
    totals = await counters.totals(1)
    assert totals.views == 2 and totals.unique_viewers == 1


async def test_presence_sums_processes_and_forgets_a_silent_one(counters: RoomCounters) -> None:
    r = room()
    await counters.report_presence(r, "proc-a", 3, 0.75)
    await counters.report_presence(r, "proc-b", 2, 0.5)
    await counters.viewer_joined(r, "u:1")
    totals = await counters.totals(r)
    assert totals.viewers == 5 and totals.watch_s == pytest.approx(1.25)
    assert totals.avg_watch_s == pytest.approx(1.25)
    if isinstance(counters, RedisCounters):  # a process that died: its last report grows old
        await counters._redis.hset(f"fc:room:{r}:presence", "proc-b", f"2:{time.time() - PRESENCE_FRESH_S - 1}")
        assert (await counters.totals(r)).viewers == 3


async def test_a_silent_process_is_forgotten_in_memory() -> None:
    clock = Clock()
    counters = MemoryCounters(clock)
    await counters.report_presence(1, "a", 4, 0)
    clock.now += PRESENCE_FRESH_S + 1
    await counters.report_presence(1, "b", 1, 0)
    assert (await counters.totals(1)).viewers == 1
