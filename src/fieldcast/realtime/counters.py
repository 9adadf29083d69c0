"""Honest room counters: likes and flowers, concurrent viewers (summed over every app process),
unique viewers, total views (人次) and average watch time — all from real connections.

No robot viewers and no multipliers: a viewer is a socket that is open and heartbeating and
carries a viewer the site issued (a signed-in user, or the signed anonymous viewer id a room page
load sets); a view is such a join, except that the same viewer coming back within a minute (a
reconnect) is the same view. A socket without one (a script that never loaded a page) counts as a
connection, never as a person: it is reported apart, as `unissued_connections`, for the
integrity rules. Flowers are symbolic: a count, never money, never credited to anyone.

Likes and flowers are capped per viewer over time windows (VIEWER_REACTION_CAPS), shared by all
the viewer's sockets on every process; every unissued connection of a room shares one viewer's
allowance. The room socket also caps each socket (room_feed.ClientMessages), so many sockets of
one viewer cannot multiply their likes.

Each process reports its own open sockets and watch time every tick; the totals add up the fresh
reports. In-process and Redis adapters, picked once at start-up."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, cast

import redis.asyncio as aioredis

from fieldcast.realtime.backend_errors import counts_errors

REVIEW_WINDOW_S = 60  # the same viewer rejoining within this is a reconnect, not a new view
PRESENCE_FRESH_S = 5.0  # a process whose last report is older than this has gone away
KEY_TTL_S = 3 * 24 * 3600
# (window in seconds, most likes — and, apart, most flowers — one viewer adds to a room in it).
# A person tapping fast manages a few a second for a while; a script sending without pause is
# held to these however many sockets it opens.
VIEWER_REACTION_CAPS: tuple[tuple[int, int], ...] = ((10, 100), (60, 300))
UNISSUED = "unissued"  # the viewer key every unissued connection of a room shares for the caps

# Reactions by viewer: viewer key -> (likes, flowers) wanted since the last flush.
Reactions = Mapping[str, tuple[int, int]]


@dataclass(frozen=True)
class RoomTotals:
    likes: int = 0
    flowers: int = 0
    viewers: int = 0  # open sockets now, all processes
    unique_viewers: int = 0
    views: int = 0
    watch_s: float = 0.0
    # Joins of sockets that carried no viewer the site issued (connections, not people).
    unissued_connections: int = 0

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
            "unissued_connections": self.unissued_connections,
        }


class RoomCounters(Protocol):
    # Calls to the shared backend that failed (realtime/backend_errors.py); 0 in-process.
    backend_errors: int

    async def add_reactions(self, room_id: int, reactions: Reactions) -> tuple[int, int]:
        """Add each viewer's likes and flowers up to what the viewer's window caps still allow;
        returns (likes, flowers) added. The rest is dropped."""
        ...

    async def viewer_joined(self, room_id: int, viewer: str | None) -> None:
        """A socket joined; `viewer` is None when it carried no viewer the site issued."""
        ...

    async def report_presence(self, room_id: int, process: str, sockets: int, watch_s: float) -> None: ...

    async def totals(self, room_id: int) -> RoomTotals: ...

    async def viewers(self, room_ids: Sequence[int]) -> dict[int, int]:
        """Viewers now (open sockets, all processes) of each room, in one call for a whole list of
        rooms (the room cards): the same number `totals` gives."""
        ...

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
        self._unissued: dict[int, int] = defaultdict(int)
        # (room, viewer, kind, window) -> (window number, used in it)
        self._windows: dict[tuple[int, str, str, int], tuple[int, int]] = {}

    def _allow(self, room_id: int, viewer: str, kind: str, wanted: int, now: float) -> int:
        granted = wanted
        for window_s, cap in VIEWER_REACTION_CAPS:
            number = int(now // window_s)
            at, used = self._windows.get((room_id, viewer, kind, window_s), (number, 0))
            granted = min(granted, cap - (used if at == number else 0))
        granted = max(0, granted)
        for window_s, _cap in VIEWER_REACTION_CAPS:
            number = int(now // window_s)
            at, used = self._windows.get((room_id, viewer, kind, window_s), (number, 0))
            self._windows[(room_id, viewer, kind, window_s)] = (number, (used if at == number else 0) + granted)
        return granted

    def _forget_old_windows(self, now: float) -> None:
        longest = max(window_s for window_s, _cap in VIEWER_REACTION_CAPS)
        if len(self._windows) > 10_000:
            self._windows = {
                key: (at, used) for key, (at, used) in self._windows.items() if (at + 1) * key[3] + longest > now
            }

    async def add_reactions(self, room_id: int, reactions: Reactions) -> tuple[int, int]:
        now = self._now()
        self._forget_old_windows(now)
        likes = flowers = 0
        for viewer, (wanted_likes, wanted_flowers) in reactions.items():
            if wanted_likes > 0:
                likes += self._allow(room_id, viewer, "likes", wanted_likes, now)
            if wanted_flowers > 0:
                flowers += self._allow(room_id, viewer, "flowers", wanted_flowers, now)
        self._likes[room_id] += likes
        self._flowers[room_id] += flowers
        return likes, flowers

    async def viewer_joined(self, room_id: int, viewer: str | None) -> None:
        if viewer is None:
            self._unissued[room_id] += 1
            return
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
            unissued_connections=self._unissued.get(room_id, 0),
        )

    async def viewers(self, room_ids: Sequence[int]) -> dict[int, int]:
        now = self._now()
        return {
            room_id: sum(n for n, at in self._presence.get(room_id, {}).values() if now - at <= PRESENCE_FRESH_S)
            for room_id in room_ids
        }

    async def close(self) -> None:
        return None


# Adds each viewer's reactions up to the window caps, atomically (one call per flush of a room).
# KEYS: the room's likes and flowers totals, then for each viewer, for likes then flowers, one
# key per window. ARGV: the number of windows W, W caps, W TTLs, the totals' TTL, then each
# viewer's wanted likes and flowers. Returns {likes added, flowers added}.
ADD_REACTIONS_LUA = """
local W = tonumber(ARGV[1])
local caps, ttls = {}, {}
for w = 1, W do
  caps[w] = tonumber(ARGV[1 + w])
  ttls[w] = tonumber(ARGV[1 + W + w])
end
local total_ttl = tonumber(ARGV[2 + 2 * W])
local base = 3 + 2 * W
local added = {0, 0}
local k = 3
for i = base, #ARGV do
  local kind = ((i - base) % 2) + 1
  local allow = tonumber(ARGV[i])
  for w = 1, W do
    local used = tonumber(redis.call('GET', KEYS[k + w - 1]) or '0')
    if caps[w] - used < allow then allow = caps[w] - used end
  end
  if allow > 0 then
    for w = 1, W do
      redis.call('INCRBY', KEYS[k + w - 1], allow)
      redis.call('EXPIRE', KEYS[k + w - 1], ttls[w])
    end
    added[kind] = added[kind] + allow
  end
  k = k + W
end
for kind = 1, 2 do
  if added[kind] > 0 then
    redis.call('INCRBY', KEYS[kind], added[kind])
    redis.call('EXPIRE', KEYS[kind], total_ttl)
  end
end
return added
"""


class RedisCounters:
    backend = "redis"

    def __init__(self, url: str) -> None:
        self._redis = aioredis.Redis.from_url(url)
        self._add_reactions = self._redis.register_script(ADD_REACTIONS_LUA)
        self.backend_errors = 0

    @staticmethod
    def _k(room_id: int, name: str) -> str:
        return f"fc:room:{room_id}:{name}"

    @counts_errors
    async def add_reactions(self, room_id: int, reactions: Reactions) -> tuple[int, int]:
        wanted = {viewer: pair for viewer, pair in reactions.items() if pair[0] > 0 or pair[1] > 0}
        if not wanted:
            return 0, 0
        now = time.time()
        keys = [self._k(room_id, "likes"), self._k(room_id, "flowers")]
        args: list[int] = [len(VIEWER_REACTION_CAPS)]
        args += [cap for _window, cap in VIEWER_REACTION_CAPS]
        args += [window_s + 1 for window_s, _cap in VIEWER_REACTION_CAPS]
        args.append(KEY_TTL_S)
        for viewer, (likes, flowers) in wanted.items():
            for kind, count in (("likes", likes), ("flowers", flowers)):
                keys += [
                    self._k(room_id, f"rx:{kind}:{window_s}:{int(now // window_s)}:{viewer}")
                    for window_s, _cap in VIEWER_REACTION_CAPS
                ]
                args.append(max(0, count))
        added = cast(list[int], await self._add_reactions(keys=keys, args=args))
        return int(added[0]), int(added[1])

    @counts_errors
    async def viewer_joined(self, room_id: int, viewer: str | None) -> None:
        if viewer is None:
            pipe = self._redis.pipeline(transaction=False)
            pipe.incr(self._k(room_id, "unissued"))
            pipe.expire(self._k(room_id, "unissued"), KEY_TTL_S)
            await pipe.execute()
            return
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
        for name in ("likes", "flowers", "views", "watch_s", "unissued"):
            pipe.get(self._k(room_id, name))
        pipe.scard(self._k(room_id, "uv"))
        pipe.hgetall(self._k(room_id, "presence"))
        likes, flowers, views, watch_s, unissued, unique, presence = await pipe.execute()
        return RoomTotals(
            likes=int(likes or 0),
            flowers=int(flowers or 0),
            viewers=_fresh_sockets(presence, time.time()),
            unique_viewers=int(unique or 0),
            views=int(views or 0),
            watch_s=float(watch_s or 0.0),
            unissued_connections=int(unissued or 0),
        )

    @counts_errors
    async def viewers(self, room_ids: Sequence[int]) -> dict[int, int]:
        if not room_ids:
            return {}
        pipe = self._redis.pipeline(transaction=False)
        for room_id in room_ids:
            pipe.hgetall(self._k(room_id, "presence"))
        tables = await pipe.execute()
        now = time.time()
        return {room_id: _fresh_sockets(table, now) for room_id, table in zip(room_ids, tables, strict=True)}

    async def close(self) -> None:
        await self._redis.aclose()


def _fresh_sockets(presence: Mapping[bytes, bytes], now: float) -> int:
    """The open sockets of a room's presence table (process -> "sockets:reported at"), counting
    only the processes that reported lately."""
    viewers = 0
    for raw in presence.values():
        count, _, at = raw.decode().partition(":")
        if now - float(at) <= PRESENCE_FRESH_S:
            viewers += int(count)
    return viewers


def make_counters(redis_url: str) -> RoomCounters:
    return RedisCounters(redis_url) if redis_url else MemoryCounters()
