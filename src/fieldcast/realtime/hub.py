"""Fan-out of room frames inside one process: one room-log subscription per room, however many
sockets watch it.

Frames are gathered for a short flush interval and encoded once per room into one message (a
frame, or a JSON array of frames), and that same string goes to every socket: a busy room costs
each socket at most one send per flush, and the process one encoding, not one per socket. The
counters ride along with the next flush. Every socket has a bounded queue; a socket that cannot
keep up has its backlog merged into one message, and one whose queue still fills is cut off with a
clear close code and resumes from its last id — it never holds back the room or the others.

Each message also carries its WebSocket frame, built once (server frames are not masked, so the
bytes are the same for every socket). A server that owns its sockets' transports (the fan-out
process) writes those very bytes to every socket that is keeping up (`Listener.direct`); only a
socket that fell behind goes through its queue and writer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from websockets.frames import Frame, Opcode

from fieldcast.realtime.counters import MemoryCounters, RoomCounters
from fieldcast.realtime.room_log import FellBehind, RoomLog, frame_id

log = logging.getLogger(__name__)

QUEUE_MAX = 256  # messages a socket may have waiting before it is cut off
BATCH_MAX = 64  # queued messages merged into one send at most
CLOSE_TOO_SLOW = 4008  # "this socket could not keep up: reconnect with ?after=<last id>"
VOLATILE = 0  # the id of frames that are not in the room log (counters): always sent, never resumed
TICK_S = 0.25  # likes, flowers and viewer counts go out as totals this often, never per click
FLUSH_S = 0.1  # a room is flushed at most this often: frames arriving in between go out together


@dataclass(frozen=True, slots=True)
class Message:
    """One send's worth of frames, encoded once for all sockets. `parts` keeps the frames (id,
    text) for the rare socket that needs them regrouped (a backlog, or the join boundary);
    `frame` is `text` as one unmasked WebSocket text frame; `first_id` is the smallest room-log
    id in it (a socket that already has it needs the parts regrouped)."""

    max_id: int
    text: str
    parts: tuple[tuple[int, str], ...]
    resync: bool = False
    frame: bytes = b""
    first_id: int = 0


RESYNC = Message(-1, "", (), resync=True)  # the room's own subscription fell behind


def encode(parts: list[tuple[int, str]]) -> str:
    return parts[0][1] if len(parts) == 1 else "[" + ",".join(text for _, text in parts) + "]"


def message(parts: list[tuple[int, str]]) -> Message:
    text = encode(parts)
    ids = [i for i, _ in parts if i != VOLATILE]
    return Message(
        max(i for i, _ in parts),
        text,
        tuple(parts),
        frame=Frame(Opcode.TEXT, text.encode()).serialize(mask=False),
        first_id=min(ids) if ids else 1 << 62,
    )


@dataclass(eq=False)
class Listener:
    """One socket's view of a room: its queue, the last room-log id it was sent, and whether it
    was cut off for being slow."""

    queue: asyncio.Queue[Message] = field(default_factory=lambda: asyncio.Queue(QUEUE_MAX))
    # Called once when the queue overflows (the gateway closes the socket with CLOSE_TOO_SLOW).
    on_overflow: Callable[[], None] | None = None
    overflowed: bool = False
    last: int = 0  # the newest room-log id this socket has been sent (or its opening covered)
    writing: bool = False  # its writer holds messages it took from the queue
    # Writes a message's shared frame straight to the socket now; False = the socket is backed up
    # (or closing), so the message goes through the queue. None = always through the queue.
    direct: Callable[[Message], bool] | None = None

    def offer(self, message: Message) -> None:
        if (
            self.direct is not None
            and not self.writing
            and self.queue.empty()
            and not message.resync
            and message.first_id > self.last
            and self.direct(message)
        ):
            self.last = max(self.last, message.max_id)
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            if not self.overflowed:
                self.overflowed = True
                if self.on_overflow is not None:
                    self.on_overflow()


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
    pending: list[tuple[int, str]] = field(default_factory=list)  # frames waiting for the flush
    counters_text: str | None = None  # the newest counters frame waiting for the flush
    flush_handle: asyncio.TimerHandle | asyncio.Handle | None = None
    flush_s: float = FLUSH_S
    last_flush: float = -math.inf  # loop time the previous flush finished

    def schedule_flush(self) -> None:
        """A quiet room's frame goes out at once; in a busy room frames gather until flush_s
        after the previous flush finished. Writing to every socket of a large room takes a while
        (about 20 µs a socket, mostly the kernel's): the pause keeps the process from spending
        all its time on sends — fewer, larger frames for the same events."""
        if self.flush_handle is None:
            loop = asyncio.get_running_loop()
            wait = self.last_flush + self.flush_s - loop.time()
            self.flush_handle = loop.call_later(wait, self.flush) if wait > 0 else loop.call_soon(self.flush)

    def flush(self) -> None:
        """Encode what gathered once and hand the same message to every listener."""
        self.flush_handle = None
        parts = self.pending
        if self.counters_text is not None:
            parts.append((VOLATILE, self.counters_text))
        self.pending, self.counters_text = [], None
        if not parts:
            return
        self.broadcast(message(parts))
        self.last_flush = asyncio.get_running_loop().time()

    def broadcast(self, message: Message) -> None:
        for listener in list(self.listeners):
            listener.offer(message)


class RoomHub:
    def __init__(
        self,
        room_log: RoomLog,
        counters: RoomCounters | None = None,
        tick_s: float = TICK_S,
        flush_s: float = FLUSH_S,
    ) -> None:
        self.room_log = room_log
        self.counters = counters or MemoryCounters()
        self.tick_s = tick_s
        self.flush_s = flush_s
        # This process in the shared presence table (several processes serve one room).
        self.process = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._rooms: dict[int, _Room] = {}
        # room -> (last event id, built at, text): the gateway's shared snapshot of a busy room,
        # and the build in progress (room -> (its last event id, its result)).
        self.snapshots: dict[int, tuple[int, float, str]] = {}
        self.snapshot_builds: dict[int, tuple[int, asyncio.Future[tuple[int, str] | None]]] = {}
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
        room = self._rooms.setdefault(room_id, _Room(flush_s=self.flush_s))
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
            if room.flush_handle is not None:
                room.flush_handle.cancel()
            del self._rooms[room_id]
            self.snapshots.pop(room_id, None)
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
            room.counters_text = orjson.dumps({"type": "room.counters", "room": room_id, "data": data}).decode()
            room.schedule_flush()

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
                        room.broadcast(RESYNC)
                    first = False
                    room.ready.set()
                    async for frame in frames:
                        room.pending.append((frame_id(frame), frame.decode()))
                        room.schedule_flush()
            except FellBehind:
                log.warning("room %s: the hub fell behind its log; listeners resync", room_id)
                room.broadcast(RESYNC)
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
    listener: Listener, send: Callable[[str], Awaitable[None]], on_resync: Callable[[], Awaitable[int]]
) -> None:
    """A socket's writer, from `listener.last` on: send each queued room message as it is (the
    shared string), except when a backlog piled up or the message straddles what the socket
    already has: then regroup its frames — skip ids it has, keep only the newest counters. On a
    resync ask for a fresh snapshot (`on_resync` sends it and returns its last id).

    `send` must hand its bytes to the socket before it first yields (the ASGI and websockets
    sends do), so a direct write that follows can never overtake it."""
    while True:
        listener.writing = False
        batch = [await listener.queue.get()]
        listener.writing = True
        while len(batch) < BATCH_MAX and not listener.queue.empty():
            batch.append(listener.queue.get_nowait())
        if any(m.resync for m in batch):
            listener.last = await on_resync()
            continue
        only, last = batch[0], listener.last
        if len(batch) == 1 and only.first_id > last:
            listener.last = max(last, only.max_id)
            await send(only.text)
            continue
        frames = [(i, t) for m in batch for i, t in m.parts if i > last]
        counters = [(i, t) for m in batch for i, t in m.parts if i == VOLATILE][-1:]
        listener.last = max(last, *(m.max_id for m in batch))
        if frames or counters:
            await send(encode(frames + counters))
