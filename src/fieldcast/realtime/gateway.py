"""The room WebSocket: `/ws/rooms/{session_id}[?after=<last id seen>]`.

The first frame is a snapshot of the room (`{"type": "snapshot", "last_id": n, "data": ...}`),
or — when the client resumes with `after` and the room log still holds everything since — the
frames it missed. Then room events follow (`{"id", "type", "room", "at", "data"}`), one object per
frame or, under load, a JSON array of them. A client that cannot keep up is closed with 4008 and
resumes with `after`; the event contract is docs/events.md."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from fieldcast.live import queries as live_queries
from fieldcast.realtime.chat import queries as chat_queries
from fieldcast.realtime.hub import CLOSE_TOO_SLOW, write_frames
from fieldcast.realtime.room_log import FellBehind, frame_id
from fieldcast.web.context import AppContext, app_context
from fieldcast.web.deps import SESSION_USER

log = logging.getLogger(__name__)
router = APIRouter()

CLOSE_NO_ROOM = 4404
SNAPSHOT_CHAT_LINES = 50
SNAPSHOT_REUSE_S = 1.0
CLOSE_IDLE = 4000  # no message (not even a heartbeat) for IDLE_S
CLIENT_MESSAGE_MAX = 4096
IDLE_S = 75.0  # clients send "ping" every 25 s
REACTIONS_PER_MESSAGE = 50
REACTIONS_PER_S = 20
SESSION_VIEWER = "viewer"  # the anonymous viewer id in the signed session cookie


async def snapshot_frame(ctx: AppContext, room_id: int) -> tuple[int, str] | None:
    """The room as it is now — the session with its shelf and pinned card, the last chat lines
    and the counters — and the id of the last event it already reflects."""
    last = await ctx.room_log.last_id(room_id)
    cached = ctx.room_hub.snapshots.get(room_id)
    now = time.monotonic()
    # Everyone joining a busy room at once gets the same snapshot: build it once per event id and
    # second, not once per viewer (the counters in it are at most that old; the next tick fixes).
    if cached is not None and cached[0] == last and now - cached[1] < SNAPSHOT_REUSE_S:
        return last, cached[2]
    async with ctx.uow() as uow:
        live = await live_queries.load_session(uow.session, room_id)
        if live is None:
            return None
        detail = await live_queries.session_detail(uow.session, live, ctx.settings.hls_base_url)
        chat = await chat_queries.recent(uow.session, room_id, SNAPSHOT_CHAT_LINES)
    counters = await ctx.room_hub.counters.totals(room_id)
    body = {
        "type": "snapshot",
        "room": room_id,
        "last_id": last,
        "data": detail.model_dump(mode="json"),
        "chat": [line.model_dump(mode="json") for line in chat],
        "counters": counters.as_data(),
    }
    text = orjson.dumps(body).decode()
    ctx.room_hub.snapshots[room_id] = (last, now, text)
    return last, text


def _batch(texts: list[str]) -> str:
    return texts[0] if len(texts) == 1 else "[" + ",".join(texts) + "]"


async def _opening(ctx: AppContext, room_id: int, after: int | None) -> tuple[int, str | None] | None:
    """What to send first and the last event id it covers: the missed frames of a resuming
    client, else a snapshot. None when there is no such room."""
    if after is not None:
        try:
            frames = await ctx.room_log.since(room_id, after)
        except FellBehind:
            pass
        else:
            async with ctx.uow() as uow:
                if await live_queries.load_session(uow.session, room_id) is None:
                    return None
            return (frame_id(frames[-1]), _batch([f.decode() for f in frames])) if frames else (after, None)
    return await snapshot_frame(ctx, room_id)


@router.websocket("/ws/rooms/{session_id}")
async def room_socket(websocket: WebSocket, session_id: int, after: int | None = None) -> None:
    ctx = app_context(websocket)
    hub = ctx.room_hub
    # Join before reading the backlog or the snapshot: nothing appended in between is lost
    # (the writer drops what the opening already covered).
    listener = await hub.join(session_id)
    try:
        opening = await _opening(ctx, session_id, after)
        await websocket.accept()  # before closing, so the client sees the code, not an HTTP 403
        if opening is None:
            await websocket.close(CLOSE_NO_ROOM)
            return
        await hub.counters.viewer_joined(session_id, viewer_key(websocket))
        last, first = opening
        if first is not None:
            await websocket.send_text(first)

        async def resync() -> int:
            fresh = await snapshot_frame(ctx, session_id)
            if fresh is None:
                raise WebSocketDisconnect(CLOSE_NO_ROOM)
            await websocket.send_text(fresh[1])
            return fresh[0]

        too_slow: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def cut_off() -> None:
            if not too_slow.done():
                too_slow.set_result(None)

        listener.on_overflow = cut_off
        writer = asyncio.create_task(write_frames(listener, websocket.send_text, last, resync))
        reader = asyncio.create_task(
            _read_until_closed(websocket, lambda likes, flowers: hub.react(session_id, likes, flowers))
        )
        done, pending = await asyncio.wait({writer, reader, too_slow}, return_when=asyncio.FIRST_COMPLETED)
        for future in pending:
            future.cancel()
        for future in pending - {too_slow}:
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError, OSError):
                await future
        if too_slow in done:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect, OSError):
                await websocket.close(CLOSE_TOO_SLOW)
        for task in done - {too_slow}:
            exc = None if task.cancelled() else task.exception()
            if exc is not None and not isinstance(exc, (WebSocketDisconnect, RuntimeError, OSError)):
                log.warning("room %s socket ended with %r", session_id, exc)
    finally:
        hub.leave(session_id, listener)


def viewer_key(websocket: WebSocket) -> str:
    """Who is watching, for unique-viewer counts: the signed-in user, else the anonymous id kept
    in the signed session cookie (set by the room page), else this one connection."""
    session = websocket.scope.get("session") or {}
    if session.get(SESSION_USER) is not None:
        return f"u:{session[SESSION_USER]}"
    if session.get(SESSION_VIEWER):
        return f"a:{session[SESSION_VIEWER]}"
    return f"c:{secrets.token_hex(8)}"


class _Reactions:
    """At most REACTIONS_PER_S likes and flowers a second from one socket; the rest are dropped."""

    def __init__(self) -> None:
        self.window = 0.0
        self.used = 0

    def allow(self, wanted: int, now: float) -> int:
        if now - self.window >= 1.0:
            self.window, self.used = now, 0
        granted = max(0, min(wanted, REACTIONS_PER_S - self.used))
        self.used += granted
        return granted


async def _read_until_closed(websocket: WebSocket, react: Callable[[int, int], None]) -> None:
    """Client messages: "ping" (heartbeat, answered "pong"), {"type": "like"|"flower", "count": n}.
    A socket silent for longer than IDLE_S is closed: an open socket that stopped heartbeating
    must not count as a viewer."""
    limiter = _Reactions()
    loop = asyncio.get_running_loop()
    while True:
        try:
            message = await asyncio.wait_for(websocket.receive(), timeout=IDLE_S)
        except TimeoutError:
            await websocket.close(CLOSE_IDLE)
            return
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text") or ""
        if len(text) > CLIENT_MESSAGE_MAX:
            await websocket.close(1009)
            return
        if text in ('"ping"', "ping"):
            await websocket.send_text('"pong"')
            continue
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(data, dict) or data.get("type") not in ("like", "flower"):
            continue
        count = data.get("count", 1)
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= REACTIONS_PER_MESSAGE:
            continue
        granted = limiter.allow(count, loop.time())
        if granted and data["type"] == "like":
            react(granted, 0)
        elif granted:
            react(0, granted)
