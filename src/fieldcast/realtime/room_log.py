"""The ordered event log of each live room, on top of the bus.

Every room event gets an id that increases within its room, is encoded once (the same bytes go to
every subscriber) and is kept in a bounded per-room history, so a client that reconnects with the
last id it saw gets exactly what it missed — or learns it fell too far behind and needs a fresh
snapshot. The in-process adapter and the Redis adapter (INCR + list + PUBLISH in one Lua script,
so ids, history order and delivery order agree across processes) are picked once, at start-up.

Events come from the outbox relay, which delivers at least once: an append that carries the
delivery key of a message already appended (its outbox id and time, so a database restored from
a backup, whose ids start over, is not taken for a repeat) returns that event's id and publishes
nothing again."""

from __future__ import annotations

import contextlib
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
import redis.asyncio as aioredis

from fieldcast.realtime.backend_errors import counts_errors
from fieldcast.realtime.bus import Bus, MemoryBus, pubsub_namespace

HISTORY_MAX = 500  # events kept per room for resuming clients
HISTORY_TTL_S = 3 * 24 * 3600  # a room's log outlives its show by days, not forever
# Delivery keys remembered per room to drop a repeated delivery; a repeat comes from a relay retry
# moments after the first, so a window of the latest ids is enough.
DEDUPE_WINDOW = 2000
REDIS_TIMEOUT_S = 5.0  # a Redis that does not answer fails an append instead of hanging the relay


class FellBehind(Exception):
    """The client's last id is older than the kept history (or unknown): send a fresh snapshot."""


def channel(room_id: int) -> str:
    return f"room:{room_id}"


def frame_id(frame: bytes) -> int:
    """The id of an encoded frame: every frame starts with `{"id":<n>,`."""
    return int(frame[6 : frame.index(b",", 6)])


def _body(room_id: int, event_type: str, data: Mapping[str, Any], at: datetime | None) -> bytes:
    """The frame without its opening brace and id: the id is put in front when it is assigned.
    `at` is when the event happened (the action's commit), default now."""
    return orjson.dumps({"type": event_type, "room": room_id, "at": at or datetime.now(UTC), "data": data})[1:]


def _backlog(frames: list[bytes], after_id: int, last: int) -> list[bytes]:
    if after_id == last:
        return []
    if after_id > last or not frames or frame_id(frames[0]) > after_id + 1:
        raise FellBehind
    return [f for f in frames if frame_id(f) > after_id]


class RoomLog(Protocol):
    # Calls to the shared backend that failed (realtime/backend_errors.py); 0 in-process.
    backend_errors: int

    async def append(
        self,
        room_id: int,
        event_type: str,
        data: Mapping[str, Any],
        *,
        dedupe: str | None = None,
        at: datetime | None = None,
    ) -> int:
        """Give the event the room's next id, keep it and publish it; a repeated `dedupe` key
        returns the id it got the first time and does nothing else."""
        ...

    async def last_id(self, room_id: int) -> int: ...

    async def since(self, room_id: int, after_id: int) -> list[bytes]:
        """The frames after `after_id`, in order; raises FellBehind when they are not all kept."""
        ...

    def follow(self, room_id: int, after_id: int) -> contextlib.AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """Every frame after `after_id`, then each new one as it comes, with no gap and no repeat;
        raises FellBehind (from the iterator) when that cannot be kept."""
        ...

    async def close(self) -> None: ...


class _Following:
    """Shared by both adapters: subscribe first, then read the backlog, then drop live frames
    the backlog already gave; a hole in the live ids (a lost pub/sub message) is filled from
    the history, or ends in FellBehind."""

    bus: Bus

    async def since(self, room_id: int, after_id: int) -> list[bytes]:
        raise NotImplementedError

    @contextlib.asynccontextmanager
    async def follow(self, room_id: int, after_id: int) -> AsyncIterator[AsyncIterator[bytes]]:
        async with self.bus.subscribe(channel(room_id)) as live:

            async def frames() -> AsyncIterator[bytes]:
                seen = after_id
                for frame in await self.since(room_id, seen):
                    seen = frame_id(frame)
                    yield frame
                async for frame in live:
                    current = frame_id(frame)
                    if current <= seen:
                        continue
                    if current > seen + 1:
                        for missed in await self.since(room_id, seen):
                            if frame_id(missed) < current:
                                yield missed
                    seen = current
                    yield frame

            yield frames()


class MemoryRoomLog(_Following):
    """One process: ids and history in memory, delivery through the in-process bus."""

    backend = "memory"
    backend_errors = 0

    def __init__(self, bus: MemoryBus, history_max: int = HISTORY_MAX) -> None:
        self.bus = bus
        self._history_max = history_max
        self._last: dict[int, int] = {}
        self._history: dict[int, deque[bytes]] = {}
        self._delivered: dict[int, OrderedDict[str, int]] = {}

    async def append(
        self,
        room_id: int,
        event_type: str,
        data: Mapping[str, Any],
        *,
        dedupe: str | None = None,
        at: datetime | None = None,
    ) -> int:
        delivered = self._delivered.setdefault(room_id, OrderedDict())
        if dedupe is not None and dedupe in delivered:
            return delivered[dedupe]
        event_id = self._last.get(room_id, 0) + 1
        self._last[room_id] = event_id
        if dedupe is not None:
            delivered[dedupe] = event_id
            if len(delivered) > DEDUPE_WINDOW:
                delivered.popitem(last=False)
        frame = b'{"id":%d,' % event_id + _body(room_id, event_type, data, at)
        self._history.setdefault(room_id, deque(maxlen=self._history_max)).append(frame)
        await self.bus.publish(channel(room_id), frame)
        return event_id

    async def last_id(self, room_id: int) -> int:
        return self._last.get(room_id, 0)

    async def since(self, room_id: int, after_id: int) -> list[bytes]:
        return _backlog(list(self._history.get(room_id, ())), after_id, self._last.get(room_id, 0))

    async def close(self) -> None:
        self._history.clear()
        self._delivered.clear()


# KEYS: seq, history, channel, delivered keys (sorted set: member delivery key, score event id).
# ARGV: frame body (JSON without "{" and id), history max, ttl, delivery key ("" = none), window.
_APPEND = """
if ARGV[4] ~= '' then
  local seen = redis.call('ZSCORE', KEYS[4], ARGV[4])
  if seen then return tonumber(seen) end
end
local id = redis.call('INCR', KEYS[1])
local frame = '{"id":' .. id .. ',' .. ARGV[1]
redis.call('RPUSH', KEYS[2], frame)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
if ARGV[4] ~= '' then
  redis.call('ZADD', KEYS[4], id, ARGV[4])
  redis.call('ZREMRANGEBYRANK', KEYS[4], 0, -tonumber(ARGV[5]) - 1)
  redis.call('EXPIRE', KEYS[4], ARGV[3])
end
redis.call('PUBLISH', KEYS[3], frame)
return id
"""

# One atomic read of the last id and the kept frames, so the two agree.
_READ = """
return {redis.call('GET', KEYS[1]) or '0', redis.call('LRANGE', KEYS[2], 0, -1)}
"""


class RedisRoomLog(_Following):
    """Many processes: ids, history and delivery in Redis; any process may append or follow."""

    backend = "redis"

    def __init__(self, url: str, bus: Bus, history_max: int = HISTORY_MAX) -> None:
        self.bus = bus
        self._redis = aioredis.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
        )
        self._history_max = history_max
        self.backend_errors = 0
        self._append = self._redis.register_script(_APPEND)
        self._read = self._redis.register_script(_READ)
        # The script publishes itself: to the channel's name on the wire, as RedisBus names it.
        self._namespace = pubsub_namespace(self._redis)

    def _keys(self, room_id: int) -> list[str]:
        wire = self._namespace + channel(room_id)
        return [f"fc:room:{room_id}:seq", f"fc:room:{room_id}:log", wire, f"fc:room:{room_id}:outbox"]

    @counts_errors
    async def append(
        self,
        room_id: int,
        event_type: str,
        data: Mapping[str, Any],
        *,
        dedupe: str | None = None,
        at: datetime | None = None,
    ) -> int:
        body = _body(room_id, event_type, data, at)
        args: list[bytes | int | str] = [
            body,
            self._history_max,
            HISTORY_TTL_S,
            dedupe or "",
            DEDUPE_WINDOW,
        ]
        return int(await self._append(keys=self._keys(room_id), args=args))

    @counts_errors
    async def last_id(self, room_id: int) -> int:
        return int(await self._redis.get(self._keys(room_id)[0]) or 0)

    @counts_errors
    async def since(self, room_id: int, after_id: int) -> list[bytes]:
        last, frames = await self._read(keys=self._keys(room_id)[:2])
        return _backlog(list(frames), after_id, int(last))

    async def close(self) -> None:
        await self._redis.aclose()


def make_room_log(redis_url: str, bus: Bus) -> RoomLog:
    """Pick the adapter once, with the bus: Redis when a URL is configured, else in-process."""
    if redis_url:
        return RedisRoomLog(redis_url, bus)
    if not isinstance(bus, MemoryBus):
        raise TypeError("the in-process room log needs the in-process bus")
    return MemoryRoomLog(bus)
