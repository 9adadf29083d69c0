"""Fan-out of room frames inside one process: one room-log subscription per room, however many
sockets watch it, and the same decoded frame object handed to each of them.

Every socket has a bounded queue. Its writer drains what has piled up and sends it as one batched
frame (so a busy room costs one send per tick, not one per event); a socket whose queue still
fills up is cut off with a clear close code and resumes from its last id — it never holds back
the room or the other sockets."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from fieldcast.realtime.counters import MemoryCounters, RoomCounters
from fieldcast.realtime.room_log import FellBehind, RoomLog, frame_id

log = logging.getLogger(__name__)

QUEUE_MAX = 1024  # frames a socket may have waiting before it is cut off
BATCH_MAX = 256  # frames sent together at most
CLOSE_TOO_SLOW = 4008  # "this socket could not keep up: reconnect with ?after=<last id>"
RESYNC = (-1, "")  # put to every listener when the room's own subscription fell behind
VOLATILE = 0  # the id of frames that are not in the room log (counters): always sent, never resumed
TICK_S = 0.25  # likes, flowers and viewer counts go out as totals this often, never per click


@dataclass(eq=False)
class Listener:
    """One socket's view of a room: its queue and whether it was cut off for being slow."""

    queue: asyncio.Queue[tuple[int, str]] = field(default_factory=lambda: asyncio.Queue(QUEUE_MAX))
    overflowed: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, item: tuple[int, str]) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.overflowed.set()


@dataclass(eq=False)
class _Room:
    listeners: set[Listener] = field(default_factory=set)
    task: asyncio.Task[None] | None = None
    # Set once the room's subscription is live: a listener reads its snapshot only after that,
    # so the snapshot's last id is never older than where the subscription started.
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    likes: int = 0  # counted here between ticks, then added to the shared totals
    flowers: int = 0
    last_counters: dict[str, Any] | None = None
    last_tick: float = field(default_factory=time.monotonic)


class RoomHub:
    def __init__(self, room_log: RoomLog, counters: RoomCounters | None = None, tick_s: float = TICK_S) -> None:
        self.room_log = room_log
        self.counters = counters or MemoryCounters()
        self.tick_s = tick_s
        # This process in the shared presence table (several processes serve one room).
        self.process = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._rooms: dict[int, _Room] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()

    def react(self, room_id: int, likes: int = 0, flowers: int = 0) -> None:
        """Count a viewer's likes or flowers locally; the next tick adds them to the totals."""
        room = self._rooms.get(room_id)
        if room is not None:
            room.likes += likes
            room.flowers += flowers

    def watching(self, room_id: int) -> int:
        room = self._rooms.get(room_id)
        return len(room.listeners) if room else 0

    async def join(self, room_id: int) -> Listener:
        """Register a listener; frames appended from now on reach its queue."""
        room = self._rooms.setdefault(room_id, _Room())
        listener = Listener()
        room.listeners.add(listener)
        if room.task is None or room.task.done():
            room.ready.clear()
            room.task = asyncio.create_task(self._pump(room_id, room), name=f"room-hub-{room_id}")
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.create_task(self._tick_forever(), name="room-hub-ticker")
        await room.ready.wait()
        return listener

    def leave(self, room_id: int, listener: Listener) -> None:
        room = self._rooms.get(room_id)
        if room is None:
            return
        room.listeners.discard(listener)
        if not room.listeners:
            if room.task is not None:
                room.task.cancel()
            del self._rooms[room_id]
            # Say at once that this process has nobody left here, and hand over uncounted likes.
            last = asyncio.create_task(self._flush(room_id, room, sockets=0))
            self._background.add(last)
            last.add_done_callback(self._background.discard)

    async def _flush(self, room_id: int, room: _Room, sockets: int) -> None:
        now = time.monotonic()
        watch_s = sockets * (now - room.last_tick)
        room.last_tick = now
        likes, flowers, room.likes, room.flowers = room.likes, room.flowers, 0, 0
        if likes or flowers:
            await self.counters.add_reactions(room_id, likes, flowers)
        await self.counters.report_presence(room_id, self.process, sockets, watch_s)

    async def tick(self) -> None:
        """Flush each room's counts and send its totals to local sockets when they changed."""
        for room_id, room in list(self._rooms.items()):
            try:
                await self._flush(room_id, room, sockets=len(room.listeners))
                data = (await self.counters.totals(room_id)).as_data()
            except Exception:
                log.exception("room %s: counters tick failed", room_id)
                continue
            if data == room.last_counters:
                continue
            room.last_counters = data
            text = orjson.dumps({"type": "room.counters", "room": room_id, "data": data}).decode()
            for listener in list(room.listeners):
                listener.offer((VOLATILE, text))

    async def _tick_forever(self) -> None:
        while self._rooms:
            await asyncio.sleep(self.tick_s)
            await self.tick()

    async def _pump(self, room_id: int, room: _Room) -> None:
        """Follow the room log from its head and hand each frame, decoded once, to every listener."""
        first = True
        while True:
            try:
                start = await self.room_log.last_id(room_id)
                async with self.room_log.follow(room_id, start) as frames:
                    if not first:  # frames may have passed while the subscription was down
                        for listener in list(room.listeners):
                            listener.offer(RESYNC)
                    first = False
                    room.ready.set()
                    async for frame in frames:
                        item = (frame_id(frame), frame.decode())
                        for listener in list(room.listeners):
                            listener.offer(item)
            except FellBehind:
                log.warning("room %s: the hub fell behind its log; listeners resync", room_id)
                for listener in list(room.listeners):
                    listener.offer(RESYNC)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("room %s: subscription failed; retrying", room_id)
                first = False
                room.ready.set()
                await asyncio.sleep(1.0)

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        for room in self._rooms.values():
            if room.task is not None:
                room.task.cancel()
        tasks = [r.task for r in self._rooms.values() if r.task is not None]
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._rooms.clear()


async def write_frames(
    listener: Listener, send: Callable[[str], Awaitable[None]], after_id: int, on_resync: Callable[[], Awaitable[int]]
) -> None:
    """A socket's writer: skip what it already has, batch what piled up, send; on a resync ask
    for a fresh snapshot (`on_resync` sends it and returns its last id)."""
    last = after_id
    while True:
        batch = [await listener.queue.get()]
        while len(batch) < BATCH_MAX and not listener.queue.empty():
            batch.append(listener.queue.get_nowait())
        if RESYNC in batch:
            last = await on_resync()
            continue
        # Of several counter frames waiting, only the newest matters: coalesce them.
        volatile = [text for event_id, text in batch if event_id == VOLATILE][-1:]
        texts = [text for event_id, text in batch if event_id > last] + volatile
        if not texts:
            continue
        last = max(last, *(event_id for event_id, _ in batch))
        await send(texts[0] if len(texts) == 1 else "[" + ",".join(texts) + "]")
