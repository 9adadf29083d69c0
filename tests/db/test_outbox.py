"""The transactional outbox (db/outbox.py) on SQLite and PostgreSQL: messages leave only if their
transaction commits, in order per key, at least once (a failing consumer keeps them and holds back
that key only), woken by the commit; and the room log drops a repeated delivery."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.db.engine import Database
from fieldcast.db.outbox import Envelope, OutboxMessage, OutboxRelay, OutboxStuck, backlog
from fieldcast.realtime.bus import make_bus
from fieldcast.realtime.room_log import make_room_log
from tests.conftest import REDIS_URL, redis_or_skip


@pytest.fixture
async def db(app: FastAPI, database_url: str) -> AsyncIterator[Database]:
    """A database of its own (the `app` fixture wiped and migrated it); its relay is the test's."""
    database = Database(database_url)
    try:
        yield database
    finally:
        await database.dispose()


class Consumer:
    def __init__(self) -> None:
        self.got: list[tuple[str, str]] = []
        self.refuse: set[str] = set()  # keys whose delivery fails
        self.arrived = asyncio.Event()

    async def __call__(self, message: Envelope) -> None:
        if message.key in self.refuse:
            raise ConnectionError("unreachable")
        self.got.append((message.key, message.payload["n"]))
        self.arrived.set()


async def publish(db: Database, *items: tuple[str, str]) -> None:
    async with db.uow() as uow:
        for key, n in items:
            uow.publish("test", key, "test.event", {"n": n})


async def pending(db: Database) -> int:
    async with db.uow(write=False) as uow:
        return (await backlog(uow.session))[0]


async def test_only_committed_messages_leave_in_order_per_key(db: Database) -> None:
    consumer = Consumer()
    relay = OutboxRelay(db.writer, {"test": consumer})
    await publish(db, ("a", "1"), ("b", "1"), ("a", "2"))
    with pytest.raises(RuntimeError, match="undone"):
        async with db.uow() as uow:
            uow.publish("test", "a", "test.event", {"n": "never"})
            raise RuntimeError("undone")
    await publish(db, ("a", "3"))
    await relay.drain()
    assert consumer.got == [("a", "1"), ("b", "1"), ("a", "2"), ("a", "3")]
    assert await pending(db) == 0
    await relay.drain()  # nothing goes twice
    assert len(consumer.got) == 4


async def test_a_failing_key_is_held_back_and_retried_while_others_go_on(db: Database) -> None:
    consumer = Consumer()
    consumer.refuse = {"a"}
    relay = OutboxRelay(db.writer, {"test": consumer})
    await publish(db, ("a", "1"), ("b", "1"), ("a", "2"), ("b", "2"))
    with pytest.raises(OutboxStuck):
        await relay.drain()
    assert consumer.got == [("b", "1"), ("b", "2")]
    count, age_s = 0, 0.0
    async with db.uow(write=False) as uow:
        count, age_s = await backlog(uow.session)
        attempts = list(
            await uow.session.scalars(
                sa.select(OutboxMessage.attempts).where(OutboxMessage.key == "a").order_by(OutboxMessage.id)
            )
        )
    assert count == 2 and age_s >= 0
    assert attempts == [1, 0]  # the first of the key failed; the second waited its turn
    consumer.refuse.clear()
    await relay.drain()
    assert consumer.got[2:] == [("a", "1"), ("a", "2")]
    assert await pending(db) == 0


async def test_a_message_without_a_consumer_waits_and_is_reported(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    relay = OutboxRelay(db.writer, {})
    await publish(db, ("a", "1"))
    with caplog.at_level(logging.WARNING), pytest.raises(OutboxStuck):
        await relay.drain()
    assert await pending(db) == 1
    assert "not delivered" in caplog.text


async def test_the_relay_is_woken_by_the_commit_and_stops_when_asked(db: Database) -> None:
    consumer = Consumer()
    relay = OutboxRelay(db.writer, {"test": consumer}, sweep_s=60)  # no sweep within the test
    db.outbox_wake = relay.wake
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(0.05)  # the first pass found nothing; it now rests for a minute
        await publish(db, ("a", "1"))
        async with asyncio.timeout(5):
            await consumer.arrived.wait()
        assert consumer.got == [("a", "1")]
    finally:
        relay.stop()
        async with asyncio.timeout(5):
            await task


async def test_an_after_commit_hook_that_fails_does_not_fail_the_commit(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken() -> None:
        raise ConnectionError("Redis is down")

    with caplog.at_level(logging.ERROR):
        async with db.uow() as uow:
            uow.publish("test", "a", "test.event", {"n": "1"})
            uow.after_commit(broken)
    assert await pending(db) == 1  # committed all the same
    assert "after-commit hook" in caplog.text


@pytest.mark.parametrize("adapter", ["memory", "redis"])
async def test_the_room_log_drops_a_repeated_delivery(adapter: str) -> None:
    url = ""
    if adapter == "redis":
        await redis_or_skip()
        url = REDIS_URL
    bus = make_bus(url)
    log = make_room_log(url, bus)
    room = 900_000 + (1 if adapter == "redis" else 2)
    try:
        if adapter == "redis":
            keys: Any = log._redis  # type: ignore[attr-defined]
            await keys.delete(*log._keys(room))  # type: ignore[attr-defined]
        first = await log.append(room, "chat.posted", {"body": "一"}, dedupe="7.100")
        again = await log.append(room, "chat.posted", {"body": "一"}, dedupe="7.100")
        other = await log.append(room, "chat.posted", {"body": "一"}, dedupe="7.200")  # id reused, later
        assert first == again and other == first + 1
        assert len(await log.since(room, 0)) == 2
    finally:
        await log.close()
        await bus.close()
