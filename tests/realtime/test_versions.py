"""The data version on Redis: reads asked for at once share one GET, and a caller never gets a
value read before it asked (a bump that committed just before its call is always seen)."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from fieldcast.realtime.versions import RedisVersion
from tests.conftest import REDIS_URL, redis_or_skip

pytestmark = pytest.mark.redis


async def test_reads_at_once_share_a_get_and_none_is_older_than_its_call() -> None:
    await redis_or_skip()
    key = f"fc:test-version:{secrets.token_hex(4)}"
    version, other_process = RedisVersion(REDIS_URL, key=key), RedisVersion(REDIS_URL, key=key)
    gets: list[str] = []
    real_get = version._redis.get

    async def counted_get(name: str) -> bytes | None:
        gets.append(name)
        return await real_get(name)

    version._redis.get = counted_get  # type: ignore[method-assign]
    try:
        await other_process.bump()
        assert set(await asyncio.gather(*(version.current() for _ in range(100)))) == {1}
        assert len(gets) <= 2, gets  # one read for all, or one in flight and one after it

        # A read is in flight; another process bumps; a call made after the bump sees it.
        in_flight = asyncio.ensure_future(version.current())
        await asyncio.sleep(0)  # the first GET has been sent
        await other_process.bump()
        after_bump = await version.current()
        assert after_bump == 2
        assert await in_flight in (1, 2)
    finally:
        await other_process._redis.delete(key)
        await version.close()
        await other_process.close()
