"""The hub's sweep over a room's sockets: a frame that arrives mid-sweep reaches the sockets not
yet visited in that same sweep and the others in the next, each exactly once and in order;
sockets at the same point share one message; a socket that may have missed frames (the room's
subscription restarted, or it lagged past the window) is resynced."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from fieldcast.bootstrap import core_context
from fieldcast.config import Settings
from fieldcast.realtime import hub as hub_module
from fieldcast.realtime.bus import MemoryBus
from fieldcast.realtime.hub import RESYNC, SWEEP_CHUNK, Listener, Message, RoomHub
from fieldcast.realtime.room_log import FellBehind, MemoryRoomLog, frame_id

pytestmark = pytest.mark.timeout(60)


def ids(message: Message) -> list[int]:
    payload = orjson.loads(message.text)
    return [f["id"] for f in (payload if isinstance(payload, list) else [payload]) if "id" in f]


def record(listener: Listener) -> list[Message]:
    """Make the listener a socket that keeps up: every message is 'written' to this list."""
    out: list[Message] = []

    def direct(message: Message) -> bool:
        out.append(message)
        return True

    listener.direct = direct
    return out


async def until(check: Any, within_s: float = 5) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


async def test_a_frame_arriving_mid_sweep_reaches_the_unvisited_sockets_in_the_same_sweep() -> None:
    log = MemoryRoomLog(MemoryBus())
    # The sweep rests long between chunks (1000 × the chunk's time, some 0.1 s) so that the
    # second frame surely arrives while it is still on its way through the room. No counters tick
    # in the meantime (every 0.25 s by default): a tick landing mid-sweep would add the counters to
    # the later chunks' message, and the test is about event frames.
    hub = RoomHub(log, tick_s=3600, rest=1000)
    listeners = [await hub.join(1) for _ in range(3 * SWEEP_CHUNK)]
    written = [record(listener) for listener in listeners]
    second: list[asyncio.Task[int]] = []

    def first_socket(message: Message) -> bool:  # the first socket's write sets off frame 2
        written[0].append(message)
        if not second:
            second.append(asyncio.get_running_loop().create_task(log.append(1, "session.unpinned", {})))
        return True

    listeners[0].direct = first_socket
    await log.append(1, "session.pinned", {"sku_id": 7, "offset_s": None})
    await until(lambda: all(listener.last == 2 for listener in listeners))
    early, late = written[:SWEEP_CHUNK], written[SWEEP_CHUNK:]
    # Visited before frame 2 arrived: frame 1, then frame 2 in the next sweep.
    assert all([ids(m) for m in out] == [[1], [2]] for out in early)
    # Not yet visited when it arrived: both in one message, in the sweep frame 1 started.
    assert all([ids(m) for m in out] == [[1, 2]] for out in late)
    # One message per point, shared: the same frame bytes went to every socket of a group.
    assert len({id(out[0].frame) for out in early}) == 1 and len({id(out[1].frame) for out in early}) == 1
    assert len({id(out[0].frame) for out in late}) == 1
    assert all(listener.queue.empty() for listener in listeners)
    await hub.close()


async def test_sockets_joining_during_a_sweep_get_only_what_comes_after_their_opening() -> None:
    log = MemoryRoomLog(MemoryBus())
    hub = RoomHub(log, rest=0)
    first = await hub.join(2)
    early = record(first)
    await log.append(2, "session.pinned", {"sku_id": 1, "offset_s": None})
    await until(lambda: first.last == 1)
    # The gateway reads its opening after joining: frame 1 is in it, so the sweep skips it.
    joined = await hub.join(2)
    joined.last = await log.last_id(2)
    late = record(joined)
    await log.append(2, "session.unpinned", {})
    await until(lambda: joined.last == 2 and first.last == 2)
    assert [ids(m) for m in early] == [[1], [2]]
    assert [ids(m) for m in late] == [[2]]
    await hub.close()


class FlakyLog(MemoryRoomLog):
    """A room log whose subscription falls behind once, losing the frame with id `lose`."""

    def __init__(self, lose: int) -> None:
        super().__init__(MemoryBus())
        self.lose: int | None = lose

    @contextlib.asynccontextmanager
    async def follow(self, room_id: int, after_id: int) -> AsyncIterator[AsyncIterator[bytes]]:
        async with super().follow(room_id, after_id) as frames:

            async def flaky() -> AsyncIterator[bytes]:
                async for frame in frames:
                    if frame_id(frame) == self.lose:
                        self.lose = None
                        raise FellBehind(room_id)
                    yield frame

            yield flaky()


async def test_when_the_rooms_subscription_lost_frames_its_sockets_are_resynced() -> None:
    log = FlakyLog(lose=2)
    hub = RoomHub(log, rest=0)
    listener = await hub.join(3)
    written = record(listener)
    await log.append(3, "session.pinned", {"sku_id": 1, "offset_s": None})
    await until(lambda: listener.last == 1)
    await log.append(3, "session.unpinned", {})  # lost by the hub's subscription
    await until(lambda: not listener.queue.empty())
    await log.append(3, "session.pinned", {"sku_id": 3, "offset_s": None})
    await until(lambda: listener.queue.qsize() == 2)
    # Frame 2 never reached it: a fresh snapshot first (through its writer), then frame 3.
    queued: list[Message] = list(listener.queue._queue)  # type: ignore[attr-defined]
    assert queued[0] is RESYNC and ids(queued[1]) == [3]
    assert [ids(m) for m in written] == [[1]]
    await hub.close()


async def test_a_socket_further_behind_than_the_window_is_resynced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub_module, "WINDOW_MAX", 8)
    log = MemoryRoomLog(MemoryBus())
    hub = RoomHub(log, rest=0)
    listener = await hub.join(4)
    # A burst of 20 frames between two sweeps (appends to the in-memory log never yield): the
    # room keeps the newest 8, so the socket, handed nothing since its opening, missed 12.
    for n in range(20):
        await log.append(4, "session.pinned", {"sku_id": n, "offset_s": None})
    await until(lambda: not listener.queue.empty())
    assert listener.queue.get_nowait() is RESYNC and listener.offered == 20
    # Every socket has now been handed frame 20: the room's window is empty again.
    room = hub._rooms[4]
    assert room.frames == [] and room.floor == 20
    await hub.close()


async def test_the_sweep_rest_is_a_bounded_setting_the_hub_is_built_with(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="room_sweep_rest"):
        Settings(data_dir=tmp_path, room_sweep_rest=-0.1)
    with pytest.raises(ValidationError, match="room_sweep_rest"):
        Settings(data_dir=tmp_path, room_sweep_rest=5)
    ctx = core_context(Settings(data_dir=tmp_path, room_sweep_rest=0))
    try:
        assert ctx.room_hub.rest == 0
        room = ctx.room_hub  # the rooms it opens sweep with that rest
        listener = await room.join(5)
        assert room._rooms[5].rest == 0 and listener.offered == 0
        room.leave(5, listener)
    finally:
        await ctx.close()
