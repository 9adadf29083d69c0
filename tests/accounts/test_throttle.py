"""The throttles' policies, on the in-process twin (a fake clock) and on Redis (shared by every
process: two throttles on one server count the same events, with the same answers)."""

import pytest
import redis.asyncio as aioredis

from fieldcast.accounts.throttle import SIGN_IN_ACCOUNT, MemoryThrottle, RedisThrottle, ThrottlePolicy
from tests.conftest import REDIS_URL, redis_or_skip

HARD = ThrottlePolicy("test-hard", limit=3, window_s=60)
BACKOFF = ThrottlePolicy("test-backoff", limit=3, window_s=600, backoff_cap_s=8)


async def test_a_hard_window_waits_for_the_oldest_event_to_age_out() -> None:
    now = [0.0]
    throttle = MemoryThrottle(HARD, clock=lambda: now[0])
    for t in (0.0, 10.0, 20.0):
        now[0] = t
        await throttle.failed("a")
    now[0] = 21.0
    assert await throttle.retry_after_s("a") == 39  # the oldest (t=0) leaves the window at t=60
    assert await throttle.retry_after_s("b") == 0
    now[0] = 61.0
    assert await throttle.retry_after_s("a") == 0  # the first event has aged out


async def test_back_off_doubles_after_the_free_attempts_and_is_capped() -> None:
    now = [0.0]
    throttle = MemoryThrottle(BACKOFF, clock=lambda: now[0])
    waits = []
    for _ in range(7):
        await throttle.failed("a")
        waits.append(await throttle.retry_after_s("a"))
    assert waits == [0, 0, 1, 2, 4, 8, 8]  # never more than the cap after the latest failure
    now[0] = 8.0
    assert await throttle.retry_after_s("a") == 0


def test_the_sign_in_back_off_never_exceeds_a_minute() -> None:
    assert SIGN_IN_ACCOUNT.backoff_cap_s == 60
    assert SIGN_IN_ACCOUNT.wait_s(count=10_000, oldest=0.0, newest=100.0, now=100.0) == 60


async def test_a_refused_hit_is_not_counted() -> None:
    now = [0.0]
    throttle = MemoryThrottle(HARD, clock=lambda: now[0])
    assert [await throttle.hit("a") for _ in range(5)] == [0, 0, 0, 60, 60]
    now[0] = 60.5
    assert await throttle.hit("a") == 0  # three counted, all aged out: the refusals left no trace


async def test_a_success_clears_the_count() -> None:
    throttle = MemoryThrottle(ThrottlePolicy("t", limit=2, window_s=60))
    await throttle.failed("a")
    await throttle.succeeded("a")
    await throttle.failed("a")
    assert await throttle.retry_after_s("a") == 0


@pytest.mark.redis
async def test_processes_sharing_redis_share_the_count() -> None:
    await redis_or_skip()
    first_redis, second_redis = aioredis.Redis.from_url(REDIS_URL), aioredis.Redis.from_url(REDIS_URL)
    first, second = RedisThrottle(first_redis, HARD), RedisThrottle(second_redis, HARD)
    email = "shared-throttle@example.com"
    try:
        await first.succeeded(email)  # a clean slate for this email
        await first.failed(email)
        await second.failed(email)
        assert await first.retry_after_s(email) == 0
        await first.failed(email)  # the third failure, counted across both
        wait = await second.retry_after_s(email)
        assert 55 <= wait <= 60
        await second.succeeded(email)
        assert await first.retry_after_s(email) == 0
    finally:
        await first.succeeded(email)
        await first_redis.aclose()
        await second_redis.aclose()


@pytest.mark.redis
async def test_redis_backs_off_and_refuses_hits_like_the_twin() -> None:
    await redis_or_skip()
    client = aioredis.Redis.from_url(REDIS_URL)
    backoff, hard = RedisThrottle(client, BACKOFF), RedisThrottle(client, HARD)
    try:
        await backoff.succeeded("b")
        waits = []
        for _ in range(6):
            await backoff.failed("b")
            waits.append(await backoff.retry_after_s("b"))
        assert waits == [0, 0, 1, 2, 4, 8]
        await hard.succeeded("h")
        hits = [await hard.hit("h") for _ in range(5)]
        assert hits[:3] == [0, 0, 0] and all(55 <= w <= 60 for w in hits[3:])
    finally:
        await backoff.succeeded("b")
        await hard.succeeded("h")
        await client.aclose()
