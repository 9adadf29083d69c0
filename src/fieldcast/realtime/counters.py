"""Honest room counters: likes and flowers, concurrent viewers (summed over every app process),
unique viewers, total views (人次) and average watch time — all from real connections.

No robot viewers and no multipliers: a viewer is a socket that is open and heartbeating; a view is
a join, except that the same viewer coming back within a minute (a reconnect) is the same view.
Flowers are symbolic: a count, never money, never credited to anyone.

Each process reports its own open sockets and watch time every tick; the totals add up the fresh
reports. In-process and Redis adapters, picked once at start-up."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis

from fieldcast.realtime.backend_errors import counts_errors

REVIEW_WINDOW_S = 60  # the same viewer rejoining within this is a reconnect, not a new view
PRESENCE_FRESH_S = 5.0  # a process whose last report is older than this has gone away
KEY_TTL_S = 3 * 24 * 3600


@dataclass(frozen=True)
class RoomTotals:
    likes: int = 0
    flowers: int = 0
    viewers: int = 0  # open sockets now, all processes
    unique_viewers: int = 0
    views: int = 0
    watch_s: float = 0.0

    @property
    def avg_watch_s(self) -> float:
        return self.watch_s / self.unique_viewers if self.unique_viewers else 0.0

    def as_data(self) -> dict[str, float | int]:
        return {
            "likes": self.likes,
            "flowers": self.flowers,
            "viewers": self.viewers,
            "unique_viewers": self.unique_viewers,
            "views": self.views,
            "avg_watch_s": round(self.avg_watch_s),  # whole seconds: a change worth sending
        }


class RoomCounters(Protocol):
    # Calls to the shared backend that failed (realtime/backend_errors.py); 0 in-process.
    backend_errors: int

    async def add_reactions(self, room_id: int, likes: int, flowers: int) -> None: ...

    async def viewer_joined(self, room_id: int, viewer: str) -> None: ...

    async def report_presence(self, room_id: int, process: str, sockets: int, watch_s: float) -> None: ...

    async def totals(self, room_id: int) -> RoomTotals: ...

    async def close(self) -> None: ...


class MemoryCounters:
    backend = "memory"
    backend_errors = 0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._now = clock
        self._likes: dict[int, int] = defaultdict(int)
        self._flowers: dict[int, int] = defaultdict(int)
        self._unique: dict[int, set[str]] = defaultdict(set)
        self._views: dict[int, int] = defaultdict(int)
        self._last_join: dict[tuple[int, str], float] = {}
        self._presence: dict[int, dict[str, tuple[int, float]]] = defaultdict(dict)
        self._watch: dict[int, float] = defaultdict(float)

    async def add_reactions(self, room_id: int, likes: int, flowers: int) -> None:
        self._likes[room_id] += likes
        self._flowers[room_id] += flowers

    async def viewer_joined(self, room_id: int, viewer: str) -> None:
        now = self._now()
        self._unique[room_id].add(viewer)
        last = self._last_join.get((room_id, viewer))
        if last is None or now - last > REVIEW_WINDOW_S:
            self._views[room_id] += 1
        self._last_join[(room_id, viewer)] = now

    async def report_presence(self, room_id: int, process: str, sockets: int, watch_s: float) -> None:
        self._presence[room_id][process] = (sockets, self._now())
        self._watch[room_id] += watch_s

    async def totals(self, room_id: int) -> RoomTotals:
        now = self._now()
        viewers = sum(n for n, at in self._presence.get(room_id, {}).values() if now - at <= PRESENCE_FRESH_S)
        return RoomTotals(
            likes=self._likes.get(room_id, 0),
            flowers=self._flowers.get(room_id, 0),
            viewers=viewers,
            unique_viewers=len(self._unique.get(room_id, ())),
            views=self._views.get(room_id, 0),
            watch_s=self._watch.get(room_id, 0.0),
        )

    async def close(self) -> None:
        return None


class RedisCounters:
    backend = "redis"

    def __init__(self, url: str) -> None:
        self._redis = aioredis.Redis.from_url(url)
        self.backend_errors = 0

    @staticmethod
    def _k(room_id: int, name: str) -> str:
        return f"fc:room:{room_id}:{name}"

    @counts_errors
    async def add_reactions(self, room_id: int, likes: int, flowers: int) -> None:
        pipe = self._redis.pipeline(transaction=False)
        if likes:
            pipe.incrby(self._k(room_id, "likes"), likes)
            pipe.expire(self._k(room_id, "likes"), KEY_TTL_S)
        if flowers:
            pipe.incrby(self._k(room_id, "flowers"), flowers)
            pipe.expire(self._k(room_id, "flowers"), KEY_TTL_S)
        await pipe.execute()

    @counts_errors
    async def viewer_joined(self, room_id: int, viewer: str) -> None:
        seen = self._k(room_id, f"seen:{viewer}")
        pipe = self._redis.pipeline(transaction=False)
        pipe.sadd(self._k(room_id, "uv"), viewer)
        pipe.expire(self._k(room_id, "uv"), KEY_TTL_S)
        # SET NX with a TTL: the first join in a minute is a view, a reconnect is not; the EXPIRE
        # then refreshes the window either way, so a flapping connection stays one view.
        pipe.set(seen, 1, nx=True, ex=REVIEW_WINDOW_S)
        pipe.expire(seen, REVIEW_WINDOW_S)
        _added, _ttl, fresh, _refreshed = await pipe.execute()
        if fresh:
            views = self._redis.pipeline(transaction=False)
            views.incr(self._k(room_id, "views"))
            views.expire(self._k(room_id, "views"), KEY_TTL_S)
            await views.execute()

    @counts_errors
    async def report_presence(self, room_id: int, process: str, sockets: int, watch_s: float) -> None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.hset(self._k(room_id, "presence"), process, f"{sockets}:{time.time():.3f}")
        pipe.expire(self._k(room_id, "presence"), KEY_TTL_S)
        if watch_s:
            pipe.incrbyfloat(self._k(room_id, "watch_s"), watch_s)
            pipe.expire(self._k(room_id, "watch_s"), KEY_TTL_S)
        await pipe.execute()

    @counts_errors
    async def totals(self, room_id: int) -> RoomTotals:
        pipe = self._redis.pipeline(transaction=False)
        for name in ("likes", "flowers", "views", "watch_s"):
            pipe.get(self._k(room_id, name))
        pipe.scard(self._k(room_id, "uv"))
        pipe.hgetall(self._k(room_id, "presence"))
        likes, flowers, views, watch_s, unique, presence = await pipe.execute()
        now = time.time()
        viewers = 0
        for raw in presence.values():
            count, _, at = raw.decode().partition(":")
            if now - float(at) <= PRESENCE_FRESH_S:
                viewers += int(count)
        return RoomTotals(
            likes=int(likes or 0),
            flowers=int(flowers or 0),
            viewers=viewers,
            unique_viewers=int(unique or 0),
            views=int(views or 0),
            watch_s=float(watch_s or 0.0),
        )

    async def close(self) -> None:
        await self._redis.aclose()


def make_counters(redis_url: str) -> RoomCounters:
    return RedisCounters(redis_url) if redis_url else MemoryCounters()
