"""What a room socket sends and hears, whichever server holds the socket: the ASGI gateway inside
the app (`realtime/gateway.py`) or the dedicated fan-out process (`realtime/fanout.py`).

The first frame is a snapshot of the room, or the frames a resuming client missed; then the room
hub's messages. From the client come heartbeats ("ping" → "pong") and likes and flowers, capped
per socket (over a second, ten seconds and a minute) and counted locally by the hub, which caps
them again per viewer. The contract is docs/events.md."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import orjson

from fieldcast.config import Settings
from fieldcast.realtime.hub import RoomHub
from fieldcast.realtime.journal import Connection, Journal
from fieldcast.realtime.room_log import FellBehind, RoomLog, frame_id
from fieldcast.session_cookie import SESSION_USER, SESSION_VIEWER

CLOSE_IDLE = 4000  # no message (not even a heartbeat) for IDLE_S
CLOSE_NO_ROOM = 4404
CLOSE_TOO_BIG = 1009
SNAPSHOT_REUSE_S = 1.0
CLIENT_MESSAGE_MAX = 4096
IDLE_S = 75.0  # clients send "ping" every 25 s
REACTIONS_PER_MESSAGE = 50
REACTIONS_PER_S = 20
# (window in seconds, most likes and flowers together one socket may send in it): a socket
# sending flat out is held to a person's pace beyond the first second (the hub's per-viewer caps,
# realtime.counters.VIEWER_REACTION_CAPS, then hold many sockets of one viewer together).
SOCKET_REACTION_CAPS: tuple[tuple[float, int], ...] = ((1.0, REACTIONS_PER_S), (10.0, 100), (60.0, 300))
PONG = '"pong"'


class RoomState(Protocol):
    """The room as the capabilities above this layer know it (the pages layer composes it:
    fieldcast.pages.snapshot): transport does not know what a room holds."""

    async def describe(self, room_id: int) -> dict[str, Any] | None:
        """The snapshot's parts other than counters (`data`, `chat`, ...), or None when there
        is no such room."""
        ...

    async def exists(self, room_id: int) -> bool: ...


class RoomServices(Protocol):
    """What a room socket needs of its process: the app's context, or the fan-out process's."""

    settings: Settings
    room_log: RoomLog
    room_hub: RoomHub
    room_state: RoomState
    room_journal: Journal


async def snapshot_frame(ctx: RoomServices, room_id: int) -> tuple[int, str] | None:
    """The room as it is now — the session with its shelf and pinned card, the last chat lines
    and the counters — and the id of the last event it already reflects.

    Everyone joining a busy room at once gets the same snapshot: it is built once per event id
    (and second) and the viewers who ask while it is being built wait for that build rather than
    each querying the database (the counters in it are at most that old; the next tick fixes)."""
    hub = ctx.room_hub
    last = await ctx.room_log.last_id(room_id)
    cached = hub.snapshots.get(room_id)
    now = time.monotonic()
    if cached is not None and cached[0] == last and now - cached[1] < SNAPSHOT_REUSE_S:
        return last, cached[2]
    building = hub.snapshot_builds.get(room_id)
    # A build that started at this id or a later one reflects everything this viewer's queue
    # does not hold; an older one might not.
    if building is not None and building[0] >= last:
        return await asyncio.shield(building[1])
    future: asyncio.Future[tuple[int, str] | None] = asyncio.get_running_loop().create_future()
    hub.snapshot_builds[room_id] = (last, future)
    try:
        built = await _build_snapshot(ctx, room_id, last)
    except BaseException as exc:  # the waiters, if any, fail with the builder
        future.set_exception(exc if isinstance(exc, Exception) else RuntimeError("snapshot build cancelled"))
        future.exception()  # retrieved, so an unwaited failure is not logged twice
        raise
    else:
        future.set_result(built)
        if built is not None:
            hub.snapshots[room_id] = (last, now, built[1])
        return built
    finally:
        if hub.snapshot_builds.get(room_id) == (last, future):
            del hub.snapshot_builds[room_id]


async def _build_snapshot(ctx: RoomServices, room_id: int, last: int) -> tuple[int, str] | None:
    parts = await ctx.room_state.describe(room_id)
    if parts is None:
        return None
    counters = await ctx.room_hub.counters.totals(room_id)
    body = {"type": "snapshot", "room": room_id, "last_id": last, **parts, "counters": counters.as_data()}
    return last, orjson.dumps(body).decode()


def _batch(texts: list[str]) -> str:
    return texts[0] if len(texts) == 1 else "[" + ",".join(texts) + "]"


async def opening(ctx: RoomServices, room_id: int, after: int | None) -> tuple[int, str | None] | None:
    """What to send first and the last event id it covers: the missed frames of a resuming
    client, else a snapshot. None when there is no such room."""
    if after is not None:
        try:
            frames = await ctx.room_log.since(room_id, after)
        except FellBehind:
            pass
        else:
            if not await ctx.room_state.exists(room_id):
                return None
            return (frame_id(frames[-1]), _batch([f.decode() for f in frames])) if frames else (after, None)
    return await snapshot_frame(ctx, room_id)


def viewer_key(session: Mapping[str, Any]) -> str | None:
    """Who is watching, for unique-viewer counts and the per-viewer like caps: the signed-in user,
    else the anonymous id the room page put in the signed session cookie. None when the socket
    carries neither (a client that never loaded a page): a connection, not a person."""
    if session.get(SESSION_USER) is not None:
        return f"u:{session[SESSION_USER]}"
    if session.get(SESSION_VIEWER):
        return f"a:{session[SESSION_VIEWER]}"
    return None


class MessageTooBig(Exception):
    """A client message over CLIENT_MESSAGE_MAX: the socket is closed with 1009."""


class ClientMessages:
    """One socket's incoming messages: "ping" is answered "pong"; {"type": "like"|"flower",
    "count": n} (1..50) goes to `react`, within SOCKET_REACTION_CAPS (at most REACTIONS_PER_S a
    second, and less over ten seconds and a minute); {"type": "playing"} (the page's video
    started playing) gets no reply — the rest, and anything malformed, is dropped without an
    error. Heartbeats, playback and the reactions granted go to the socket's journal entry."""

    def __init__(self, react: Callable[[int, int], None], journal: Connection | None = None) -> None:
        self.react = react
        self.journal = journal
        # Per cap: when its current window began, and what was used in it.
        self.windows = [(-window_s, 0) for window_s, _cap in SOCKET_REACTION_CAPS]

    def _allow(self, wanted: int, now: float) -> int:
        granted = wanted
        for i, (window_s, cap) in enumerate(SOCKET_REACTION_CAPS):
            began, used = self.windows[i]
            if now - began >= window_s:
                began, used = now, 0
                self.windows[i] = (began, used)
            granted = min(granted, cap - used)
        granted = max(0, granted)
        self.windows = [(began, used + granted) for began, used in self.windows]
        return granted

    def handle(self, text: str, now: float) -> str | None:
        """Act on one text message; returns the reply to send, if any."""
        if len(text) > CLIENT_MESSAGE_MAX:
            raise MessageTooBig
        if text in ('"ping"', "ping"):
            if self.journal is not None:
                self.journal.heartbeat()
            return PONG
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(data, dict):
            return None
        if data.get("type") == "playing":
            if self.journal is not None:
                self.journal.playing()
            return None
        if data.get("type") not in ("like", "flower"):
            return None
        count = data.get("count", 1)
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= REACTIONS_PER_MESSAGE:
            return None
        granted = self._allow(count, now)
        likes, flowers = (granted, 0) if data["type"] == "like" else (0, granted)
        if granted:
            self.react(likes, flowers)
            if self.journal is not None:
                self.journal.reacted(likes, flowers)
        return None
