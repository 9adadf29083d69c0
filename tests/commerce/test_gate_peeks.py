"""The gate's peeks (the flash-sale fast path's look) travel together: those asked while a
pipeline of them is in flight go in the next one, each caller still gets its own verdict, and
when Redis cannot answer every waiting caller is told (it then lets the full checkout decide)."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from fieldcast.commerce.gate import AUTH_VERSION_KEY, Peeked, PoolState, RedisGate
from tests.conftest import REDIS_URL, redis_or_skip

pytestmark = pytest.mark.redis


async def test_three_hundred_peeks_at_once_each_get_their_own_verdict_in_a_few_round_trips() -> None:
    await redis_or_skip()
    gate = RedisGate(REDIS_URL)
    session_id, sku_id = 900_000 + secrets.randbelow(1000), 7
    # 5 units left, limit 2; buyer 1 holds 2 (over the limit for 1 more), buyer 2 holds 1
    await gate.load(session_id, sku_id, PoolState(5, {1: 2, 2: 1}, per_buyer_limit=2))
    probe = aioredis.Redis.from_url(REDIS_URL)
    version = (await probe.get(AUTH_VERSION_KEY) or b"0").decode()
    sent: list[int] = []
    real_round_trip = gate._round_trip

    async def counting_round_trip(commands: list[bytes]) -> list[Any]:
        sent.append(len(commands))
        return await real_round_trip(commands)

    gate._round_trip = counting_round_trip  # type: ignore[method-assign]
    try:
        asks = [(buyer, units) for buyer in range(1, 301) for units in ((3,) if buyer == 3 else (1,))]
        got = await asyncio.gather(
            *(gate.peek(session_id, sku_id, b, n, seen_key="", auth_version=version) for b, n in asks)
        )
        verdicts = {b: p.verdict for (b, _), p in zip(asks, got, strict=True)}
        assert verdicts[1] is Peeked.OVER_LIMIT  # holds 2 of 2
        assert verdicts[2] is Peeked.ASK  # holds 1 of 2
        assert verdicts[3] is Peeked.OVER_LIMIT  # asks 3 with a limit of 2
        assert all(verdicts[b] is Peeked.ASK for b in range(4, 301))
        stale = await gate.peek(session_id, sku_id, 9, 1, seen_key="", auth_version=version + "-old")
        assert stale.verdict is Peeked.STALE_AUTH and stale.auth_version == version
        # 301 peeks, far fewer round trips: all but the first waited for the one in flight
        assert sum(sent) == 301 and len(sent) < 10, sent
        # With an Idempotency-Key: a fresh request is ASK (and its key remembered); the same key
        # again may replay a success, and so may a holder's new key: REPLAY, let through whatever
        # the stock says. Looked at again without its key, a fresh request is judged on the stock.
        seen = f"fc:flash-seen:test-{session_id}"
        first = await gate.peek(session_id, sku_id, 400, 1, seen_key=seen, auth_version=version)
        again = await gate.peek(session_id, sku_id, 400, 1, seen_key=seen, auth_version=version)
        holder = await gate.peek(session_id, sku_id, 1, 1, seen_key=seen + "-1", auth_version=version)
        assert (first.verdict, again.verdict, holder.verdict) == (Peeked.ASK, Peeked.REPLAY, Peeked.REPLAY)
        await gate.load(session_id, sku_id, PoolState(0, {1: 2}, per_buyer_limit=2))
        assert (await gate.peek(session_id, sku_id, 400, 1, seen_key=seen, auth_version=version)).verdict is (
            Peeked.REPLAY
        )
        assert (await gate.peek(session_id, sku_id, 400, 1, seen_key="", auth_version=version)).verdict is (
            Peeked.SOLD_OUT
        )
        await probe.delete(seen, seen + "-1")
    finally:
        await gate.drop(session_id, sku_id)
        await probe.aclose()
        await gate._redis.aclose()


async def test_when_redis_cannot_answer_every_waiting_peek_is_told() -> None:
    gate = RedisGate("redis://127.0.0.1:1/0")  # nothing listens there
    try:
        results = await asyncio.gather(
            *(gate.peek(1, 1, b, 1, seen_key="", auth_version="0") for b in range(20)), return_exceptions=True
        )
    finally:
        await gate._redis.aclose()
    assert len(results) == 20
    assert all(isinstance(r, (RedisConnectionError, OSError)) for r in results), results


async def test_peeks_still_get_their_verdicts_after_redis_lost_the_scripts() -> None:
    """Peeks go out packed by the gate itself, not through redis-py's scripts: after a Redis
    restart or SCRIPT FLUSH the script is loaded again and the peeks answered, not failed (which
    would send every tap to the full checkout)."""
    await redis_or_skip()
    gate = RedisGate(REDIS_URL)
    session_id, sku_id = 900_000 + secrets.randbelow(1000), 8
    await gate.load(session_id, sku_id, PoolState(1, {1: 1}, per_buyer_limit=1))
    probe = aioredis.Redis.from_url(REDIS_URL)
    version = (await probe.get(AUTH_VERSION_KEY) or b"0").decode()
    try:
        await probe.script_flush()
        got = await asyncio.gather(
            *(gate.peek(session_id, sku_id, buyer, 1, seen_key="", auth_version=version) for buyer in (1, 2))
        )
        assert [p.verdict for p in got] == [Peeked.OVER_LIMIT, Peeked.ASK]
    finally:
        await gate.drop(session_id, sku_id)
        await gate.close()
        await probe.aclose()


async def test_the_gates_figure_for_an_item_is_its_units_on_sale_or_none() -> None:
    await redis_or_skip()
    gate = RedisGate(REDIS_URL)
    session_id = 900_000 + secrets.randbelow(1000)
    try:
        await gate.load(session_id, 9, PoolState(5, {1: 1}, per_buyer_limit=1))
        await gate.load(session_id, 10, PoolState(None))  # sells from its SKU: no pool here
        assert await gate.available(session_id, 9) == 5
        assert await gate.available(session_id, 10) is None
        assert await gate.available(session_id, 11) is None  # not held
    finally:
        for sku_id in (9, 10):
            await gate.drop(session_id, sku_id)
        await gate.close()
