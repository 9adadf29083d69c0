"""The sign-in throttle's window, on the in-process twin (a fake clock) and on Redis (shared by
every process: two throttles on one server count the same failures)."""

import pytest

from fieldcast.accounts.throttle import MemorySignInThrottle, RedisSignInThrottle
from tests.conftest import REDIS_URL, redis_or_skip


async def test_failures_age_out_of_the_window() -> None:
    now = [0.0]
    throttle = MemorySignInThrottle(max_failures=3, window_s=60, clock=lambda: now[0])
    for t in (0.0, 10.0, 20.0):
        now[0] = t
        await throttle.failed("a")
    now[0] = 21.0
    assert await throttle.retry_after_s("a") == 40
    assert await throttle.retry_after_s("b") == 0
    now[0] = 61.0
    assert await throttle.retry_after_s("a") == 0  # the first failure has aged out


async def test_a_success_clears_the_count() -> None:
    throttle = MemorySignInThrottle(max_failures=2, window_s=60)
    await throttle.failed("a")
    await throttle.succeeded("a")
    await throttle.failed("a")
    assert await throttle.retry_after_s("a") == 0


@pytest.mark.redis
async def test_processes_sharing_redis_share_the_count() -> None:
    await redis_or_skip()
    first = RedisSignInThrottle(REDIS_URL, max_failures=3, window_s=60)
    second = RedisSignInThrottle(REDIS_URL, max_failures=3, window_s=60)
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
        await first.close()
        await second.close()
