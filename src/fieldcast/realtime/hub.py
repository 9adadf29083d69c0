"""Fan-out of room frames inside one process: one room-log subscription per room, however many
sockets watch it.

Each room keeps the frames its subscription received (a short window) and sweeps its sockets in
a fixed order, a chunk at a time: a socket that lacks something is handed one message with
everything it has not yet been sent — new frames, and the newest counters. Sockets that have
the same frames get the same message, encoded once. The sweep yields to the event loop after
every chunk and rests a little in proportion to the time it spent, so a frame arriving mid-sweep
reaches the sockets not yet visited in this sweep and the others in the next: in a busy room a
frame waits at most about one sweep, each socket gets at most one send per sweep, and the
process keeps time for reading. Every socket has a bounded queue; a socket that cannot keep up
has its backlog merged into one message, and one whose queue still fills is cut off with a clear
close code and resumes from its last id — it never holds back the room or the others.

Each message also carries its WebSocket frame, built once (server frames are not masked, so the
bytes are the same for every socket). A server that owns its sockets' transports (the fan-out
process) writes those very bytes to every socket that is keeping up (`Listener.direct`); only a
socket that fell behind goes through its queue and writer."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import functools
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from websockets.frames import Frame, Opcode

from fieldcast.errors import backend_unavailable
from fieldcast.realtime.counters import UNISSUED, MemoryCounters, RoomCounters
from fieldcast.realtime.room_log import FellBehind, RoomLog, frame_id

log = logging.getLogger(__name__)

QUEUE_MAX = 256  # messages a socket may have waiting before it is cut off
BATCH_MAX = 64  # queued messages merged into one send at most
CLOSE_TOO_SLOW = 4008  # "this socket could not keep up: reconnect with ?after=<last id>"
VOLATILE = 0  # the id of frames that are not in the room log (counters): always sent, never resumed
TICK_S = 0.25  # likes, flowers and viewer counts go out as totals this often, never per click
SWEEP_CHUNK = 256  # sockets visited between two yields to the event loop
# After each chunk the sweep rests this fraction of the time the chunk took. Writing to every
# socket of a large room takes a while (about 20 µs a socket, mostly the kernel's); the rest keeps
# the process from spending all its time on sends: fewer, larger frames for the same events.
SWEEP_REST = 0.25
WINDOW_MAX = 4096  # frames a room keeps for its sockets; a socket further behind resyncs


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


RESYNC = Message(-1, "", (), resync=True)  # the socket missed frames: it needs a fresh snapshot


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
    """One socket's view of a room: its queue, what it was sent and handed, and whether it was
    cut off for being slow."""

    queue: asyncio.Queue[Message] = field(default_factory=lambda: asyncio.Queue(QUEUE_MAX))
    # Called once when the queue overflows (the gateway closes the socket with CLOSE_TOO_SLOW).
    on_overflow: Callable[[], None] | None = None
    overflowed: bool = False
    last: int = 0  # the newest room-log id this socket has been sent (or its opening covered)
    writing: bool = False  # its writer holds messages it took from the queue
    # Writes a message's shared frame straight to the socket now; False = the socket is backed up
    # (or closing), so the message goes through the queue. None = always through the queue.
    direct: Callable[[Message], bool] | None = None
    # What the room's sweep has handed it (written or queued): the newest room-log id (-1 while
    # it joins: nothing yet), and the room's counters version.
    offered: int = -1
    counters_seen: int = 0
    # Who watches through it (realtime.room_feed.viewer_key): None for a connection that carries
    # no viewer the site issued — not a person in the presence count.
    viewer: str | None = None

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
    # In joining order: the order every sweep visits them in.
    listeners: dict[Listener, None] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None
    sweeper: asyncio.Task[None] | None = None
    # Set once the room's subscription is live: a listener reads its snapshot only after that,
    # so the snapshot's last id is never older than where the subscription started.
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    # Likes and flowers by viewer, counted here between ticks, then added to the shared totals
    # (within each viewer's window caps).
    reactions: dict[str, tuple[int, int]] = field(default_factory=dict)
    last_counters: dict[str, Any] | None = None
    last_tick: float = field(default_factory=time.monotonic)
    # The frames received, in id order: every id in (floor, head] is here. A socket that was
    # handed less than `floor` missed frames (the subscription restarted, or it lagged past
    # WINDOW_MAX) and is resynced.
    frames: list[tuple[int, str]] = field(default_factory=list)
    floor: int = 0
    head: int = 0
    counters_text: str | None = None  # the newest counters frame
    counters_version: int = 0
    # (id handed, counters version seen) -> the message for sockets at that point; valid until
    # the next frame or counters arrive.
    messages: dict[tuple[int, int], Message] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    rest: float = SWEEP_REST

    def subscribed(self, start: int) -> None:
        """The subscription (re)starts at `start`: frames before it may have been missed."""
        self.frames.clear()
        self.messages.clear()
        self.floor = self.head = start
        self.wake.set()

    def received(self, frame_id: int, text: str) -> None:
        self.frames.append((frame_id, text))
        self.head = frame_id
        if len(self.frames) > WINDOW_MAX:
            del self.frames[: len(self.frames) - WINDOW_MAX]
            self.floor = self.frames[0][0] - 1
        self.messages.clear()
        self.wake.set()

    def counters(self, text: str) -> None:
        self.counters_text = text
        self.counters_version += 1
        self.messages.clear()
        self.wake.set()

    def visit(self, listener: Listener) -> None:
        """Hand the listener what it lacks, as the message shared by every socket at its point."""
        offered, seen = listener.offered, listener.counters_seen
        if (offered >= self.head and seen >= self.counters_version) or offered < 0:
            return
        listener.offered, listener.counters_seen = self.head, self.counters_version
        if offered < self.floor:
            listener.offer(RESYNC)
            return
        key = (offered, seen)
        shared = self.messages.get(key)
        if shared is None:
            frames = self.frames[bisect.bisect_right(self.frames, offered, key=lambda f: f[0]) :]
            if seen < self.counters_version and self.counters_text is not None:
                frames.append((VOLATILE, self.counters_text))
            if not frames:
                return
            shared = self.messages[key] = message(frames)
        listener.offer(shared)

    async def sweep(self) -> None:
        """Visit every socket, a chunk at a time, whenever something new arrived; see the module
        docstring."""
        while True:
            await self.wake.wait()
            self.wake.clear()
            order = list(self.listeners)
            for start in range(0, len(order), SWEEP_CHUNK):
                began = time.perf_counter()
                for listener in order[start : start + SWEEP_CHUNK]:
                    if listener in self.listeners:  # not gone since the sweep began
                        try:
                            self.visit(listener)
                        except Exception:  # one socket's failure must not stop the room
                            log.exception("room socket hand-off failed")
                await asyncio.sleep((time.perf_counter() - began) * self.rest)
            if self.listeners:  # what every socket has been handed can go
                oldest = min((listener.offered for listener in self.listeners if listener.offered >= 0), default=0)
                keep = bisect.bisect_right(self.frames, oldest, key=lambda f: f[0])
                if keep:
                    del self.frames[:keep]
                    self.floor = max(self.floor, oldest)


class RoomHub:
    def __init__(
        self,
        room_log: RoomLog,
        counters: RoomCounters | None = None,
        tick_s: float = TICK_S,
        rest: float = SWEEP_REST,
    ) -> None:
        self.room_log = room_log
        self.counters = counters or MemoryCounters()
        self.tick_s = tick_s
        self.rest = rest
        # This process in the shared presence table (several processes serve one room).
        self.process = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._rooms: dict[int, _Room] = {}
        # room -> (last event id, built at, text): the gateway's shared snapshot of a busy room,
        # and the build in progress (room -> (its last event id, its result)).
        self.snapshots: dict[int, tuple[int, float, str]] = {}
        self.snapshot_builds: dict[int, tuple[int, asyncio.Future[tuple[int, str] | None]]] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._tick_failing = False  # the last tick met an unreachable backend (logged once)
        # Told each room's counters as they are sent to it (the connection journal keeps the
        # published figures for the integrity rules).
        self.on_published: Callable[[int, dict[str, Any]], None] | None = None

    def react(self, room_id: int, likes: int = 0, flowers: int = 0, viewer: str | None = None) -> None:
        """Count a viewer's likes or flowers locally; the next tick adds them to the totals, each
        viewer within their window caps (connections with no issued viewer share one allowance)."""
        room = self._rooms.get(room_id)
        if room is not None:
            key = viewer if viewer is not None else UNISSUED
            had_likes, had_flowers = room.reactions.get(key, (0, 0))
            room.reactions[key] = (had_likes + likes, had_flowers + flowers)

    def watching(self, room_id: int) -> int:
        room = self._rooms.get(room_id)
        return len(room.listeners) if room else 0

    @property
    def rooms(self) -> int:
        """Rooms this process follows (one room-log subscription each)."""
        return len(self._rooms)

    @property
    def sockets(self) -> int:
        """Sockets joined to a room in this process."""
        return sum(len(room.listeners) for room in self._rooms.values())

    async def join(self, room_id: int, viewer: str | None = None) -> Listener:
        """Register a listener (of `viewer`, None: a connection with no issued viewer); frames
        appended from now on reach its queue."""
        room = self._rooms.setdefault(room_id, _Room(rest=self.rest))
        listener = Listener(viewer=viewer)
        room.listeners[listener] = None
        if room.task is None or room.task.done():
            room.ready.clear()
            room.task = asyncio.create_task(self._pump(room_id, room), name=f"room-hub-{room_id}")
        if room.sweeper is None or room.sweeper.done():
            room.sweeper = asyncio.create_task(room.sweep(), name=f"room-sweep-{room_id}")
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.create_task(self._tick_forever(), name="room-hub-ticker")
        await room.ready.wait()
        # Whatever the room received so far is older than the snapshot the socket is about to
        # read (the log had it first): the sweep hands it only what comes after.
        listener.offered, listener.counters_seen = room.head, room.counters_version
        return listener

    def leave(self, room_id: int, listener: Listener) -> None:
        room = self._rooms.get(room_id)
        if room is None:
            return
        room.listeners.pop(listener, None)
        if not room.listeners:
            for task in (room.task, room.sweeper):
                if task is not None:
                    task.cancel()
            del self._rooms[room_id]
            self.snapshots.pop(room_id, None)
            # Say at once that this process has nobody left here, and hand over uncounted likes.
            last = asyncio.create_task(self._flush(room_id, room, sockets=0))
            self._background.add(last)
            last.add_done_callback(self._background.discard)
            last.add_done_callback(functools.partial(_log_failed_flush, room_id))

    async def _flush(self, room_id: int, room: _Room, sockets: int) -> None:
        now = time.monotonic()
        watch_s = sockets * (now - room.last_tick)
        room.last_tick = now
        reactions, room.reactions = room.reactions, {}
        if reactions:
            await self.counters.add_reactions(room_id, reactions)
        await self.counters.report_presence(room_id, self.process, sockets, watch_s)

    async def tick(self) -> None:
        """Flush each room's counts and send its totals to local sockets when they changed."""
        for room_id, room in list(self._rooms.items()):
            try:
                # People only: a connection with no issued viewer is not someone watching.
                people = sum(1 for listener in room.listeners if listener.viewer is not None)
                await self._flush(room_id, room, sockets=people)
                data = (await self.counters.totals(room_id)).as_data()
            except Exception as exc:
                if not backend_unavailable(exc):
                    log.exception("room %s: counters tick failed", room_id)
                elif not self._tick_failing:  # one line per outage, not a traceback a second
                    log.warning("room %s: counters tick failed, a backend is unavailable (%r)", room_id, exc)
                self._tick_failing = backend_unavailable(exc)
                continue
            self._tick_failing = False
            if data == room.last_counters:
                continue
            room.last_counters = data
            if self.on_published is not None:
                self.on_published(room_id, data)
            room.counters(orjson.dumps({"type": "room.counters", "room": room_id, "data": data}).decode())

    async def _tick_forever(self) -> None:
        while self._rooms:
            await asyncio.sleep(self.tick_s)
            await self.tick()

    async def _pump(self, room_id: int, room: _Room) -> None:
        """Follow the room log from its head; the sweep hands each frame, decoded once, to every
        listener. When the subscription drops (Redis restarted or unreachable), it resumes from
        the last frame it received, reading what it missed from the log's history, so listeners
        get every frame once and in order; only when that history no longer reaches back
        (FellBehind) does it restart at the head and listeners resync."""
        resume: int | None = None
        while True:
            try:
                start = resume if resume is not None else await self.room_log.last_id(room_id)
                async with self.room_log.follow(room_id, start) as frames:
                    if resume is None:
                        room.subscribed(start)
                    resume = start
                    room.ready.set()
                    async for frame in frames:
                        room.received(frame_id(frame), frame.decode())
                        resume = room.head
            except FellBehind:
                log.warning("room %s: the hub fell behind its log; listeners resync", room_id)
                resume = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("room %s: subscription failed (%r); retrying", room_id, exc)
                room.ready.set()
                await asyncio.sleep(1.0)

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        tasks = [t for r in self._rooms.values() for t in (r.task, r.sweeper) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._rooms.clear()


def _log_failed_flush(room_id: int, task: asyncio.Task[None]) -> None:
    """The last flush of a room nobody here watches any more: its exception is retrieved and
    logged in one line (Redis away: the presence key expires by itself, likes are lost)."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.warning("room %s: last counters flush failed (%r)", room_id, exc)


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
        frames: list[tuple[int, str]] = []
        counters: list[tuple[int, str]] = []
        for i, text in (part for m in batch for part in m.parts):
            if i == VOLATILE:
                counters = [(i, text)]
            elif i > last:
                frames.append((i, text))
                last = i
        listener.last = last
        if frames or counters:
            await send(encode(frames + counters))
