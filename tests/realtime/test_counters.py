"""Honest counts: reactions add up within each viewer's window caps, a viewer is counted once
however often they reconnect, a connection the site issued no viewer for is never a viewer, a view
is a join (a reconnect within a minute is the same view), presence sums every process and forgets
one that stopped reporting — on the in-process adapter and on Redis."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator

import pytest

from fieldcast.realtime.counters import (
    PRESENCE_FRESH_S,
    REVIEW_WINDOW_S,
    VIEWER_REACTION_CAPS,
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
    # secrets, not random: a test that seeds the global generator must not make these repeat
    # across runs, when the previous run's Redis keys are still there.
    return 10**12 + secrets.randbelow(9 * 10**12)


async def test_reactions_add_up(counters: RoomCounters) -> None:
    r = room()
    assert await counters.add_reactions(r, {"u:1": (5, 0)}) == (5, 0)
    assert await counters.add_reactions(r, {"u:1": (3, 2), "a:anon": (1, 0)}) == (4, 2)
    totals = await counters.totals(r)
    assert (totals.likes, totals.flowers) == (9, 2)


async def test_a_viewer_cannot_add_more_likes_than_the_window_caps(counters: RoomCounters) -> None:
    """However the likes arrive (one flush or many, from one socket or fifty), one viewer adds at
    most the shortest window's cap; another viewer has their own allowance."""
    r = room()
    (_window_s, cap) = VIEWER_REACTION_CAPS[0]
    added = 0
    for _ in range(50):  # fifty sockets' worth of likes, flushed one after the other
        added += (await counters.add_reactions(r, {"a:spammer": (20, 20)}))[0]
    second = await counters.add_reactions(r, {"a:spammer": (5, 0), "a:someone-else": (7, 0)})
    totals = await counters.totals(r)
    # Windows are fixed (aligned to the clock): a run that straddles a boundary may use two.
    assert cap <= totals.likes - 7 <= 2 * cap and second[0] - 7 <= cap
    assert totals.flowers <= 2 * cap
    assert added + second[0] == totals.likes


async def test_likes_come_back_with_the_next_window() -> None:
    clock = Clock()
    counters = MemoryCounters(clock)
    short_s, short_cap = VIEWER_REACTION_CAPS[0]
    long_s, long_cap = VIEWER_REACTION_CAPS[-1]
    clock.now = 6000.0  # the start of a window of each length
    assert await counters.add_reactions(1, {"a:x": (short_cap + 50, 0)}) == (short_cap, 0)
    assert await counters.add_reactions(1, {"a:x": (1, 0)}) == (0, 0)
    clock.now += short_s
    assert await counters.add_reactions(1, {"a:x": (short_cap, 0)}) == (short_cap, 0)
    # The minute's cap binds across short windows.
    given = short_cap * 2
    while clock.now + short_s < 6000.0 + long_s:
        clock.now += short_s
        given += (await counters.add_reactions(1, {"a:x": (short_cap, 0)}))[0]
    assert given == long_cap


async def test_a_connection_without_an_issued_viewer_is_not_a_viewer(counters: RoomCounters) -> None:
    r = room()
    await counters.viewer_joined(r, "a:anon")
    for _ in range(500):
        await counters.viewer_joined(r, None)
    totals = await counters.totals(r)
    assert (totals.unique_viewers, totals.views, totals.unissued_connections) == (1, 1, 500)
    assert totals.as_data()["unissued_connections"] == 500


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


async def test_viewers_of_many_rooms_at_once_match_each_rooms_totals(counters: RoomCounters) -> None:
    busy, quiet, empty = room(), room(), room()
    await counters.report_presence(busy, "proc-a", 3, 0)
    await counters.report_presence(busy, "proc-b", 4, 0)
    await counters.report_presence(quiet, "proc-a", 1, 0)
    if isinstance(counters, RedisCounters):  # a process that died counts in neither
        await counters._redis.hset(f"fc:room:{quiet}:presence", "proc-x", f"9:{time.time() - PRESENCE_FRESH_S - 1}")
    found = await counters.viewers([busy, quiet, empty])
    assert found == {busy: 7, quiet: 1, empty: 0}
    for r in (busy, quiet, empty):
        assert (await counters.totals(r)).viewers == found[r]
    assert await counters.viewers([]) == {}


async def test_a_silent_process_is_forgotten_in_memory() -> None:
    clock = Clock()
    counters = MemoryCounters(clock)
    await counters.report_presence(1, "a", 4, 0)
    clock.now += PRESENCE_FRESH_S + 1
    await counters.report_presence(1, "b", 1, 0)
    assert (await counters.totals(1)).viewers == 1
