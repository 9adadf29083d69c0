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
from collections.abc import Callable

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from fieldcast.errors import CLOSE_TRY_AGAIN, backend_unavailable
from fieldcast.inputs import BigCount, Id
from fieldcast.realtime.hub import CLOSE_TOO_SLOW, write_frames
from fieldcast.realtime.journal import Connection
from fieldcast.realtime.room_feed import (
    CLIENT_MESSAGE_MAX,
    CLOSE_IDLE,
    CLOSE_NO_ROOM,
    CLOSE_TOO_BIG,
    IDLE_S,
    ClientMessages,
    MessageTooBig,
    RoomServices,
    opening,
    snapshot_frame,
    viewer_key,
)
from fieldcast.session_cookie import SESSION_VIEWER

log = logging.getLogger(__name__)
router = APIRouter()


@router.websocket("/ws/rooms/{session_id}")
async def room_socket(websocket: WebSocket, session_id: Id, after: BigCount | None = None) -> None:
    ctx: RoomServices = websocket.app.state.ctx  # the composition root's context
    hub = ctx.room_hub
    session = websocket.scope.get("session") or {}
    viewer = viewer_key(session)
    entry: Connection | None = None
    # Join before reading the backlog or the snapshot: nothing appended in between is lost
    # (the writer drops what the opening already covered).
    listener = await hub.join(session_id, viewer)
    try:
        try:
            opened = await opening(ctx, session_id, after)
            if opened is not None:
                await hub.counters.viewer_joined(session_id, viewer)
        except Exception as refused:
            if not backend_unavailable(refused):
                raise
            # Redis or the database is away: the client retries later (1013), no traceback.
            log.warning("room %s: socket closed with 1013, a backend is unavailable (%r)", session_id, refused)
            await websocket.accept()
            await websocket.close(CLOSE_TRY_AGAIN)
            return
        await websocket.accept()  # before closing, so the client sees the code, not an HTTP 403
        if opened is None:
            await websocket.close(CLOSE_NO_ROOM)
            return
        # The client's address as uvicorn gives it: behind nginx the real client, taken from
        # X-Forwarded-For of the proxies it trusts (see accounts.auth.client_address).
        ip = websocket.client.host if websocket.client else ""
        entry = ctx.room_journal.open(session_id, viewer, session, ip, SESSION_VIEWER)
        last, first = opened
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
        listener.last = last
        writer = asyncio.create_task(write_frames(listener, websocket.send_text, resync))
        reader = asyncio.create_task(
            _read_until_closed(websocket, lambda likes, flowers: hub.react(session_id, likes, flowers, viewer), entry)
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
        if entry is not None:
            ctx.room_journal.close_entry(entry)


async def _read_until_closed(
    websocket: WebSocket, react: Callable[[int, int], None], journal: Connection | None = None
) -> None:
    """Client messages until the client goes (room_feed.ClientMessages). A socket silent for
    longer than IDLE_S is closed: an open socket that stopped heartbeating must not count as a
    viewer."""
    messages = ClientMessages(react, journal)
    loop = asyncio.get_running_loop()
    while True:
        try:
            message = await asyncio.wait_for(websocket.receive(), timeout=IDLE_S)
        except TimeoutError:
            await websocket.close(CLOSE_IDLE)
            return
        if message["type"] == "websocket.disconnect":
            return
        text, data = message.get("text"), message.get("bytes")
        # Binary frames carry nothing for a room, but a large one is refused like a large text.
        if text is None and data is not None and len(data) > CLIENT_MESSAGE_MAX:
            await websocket.close(CLOSE_TOO_BIG)
            return
        try:
            reply = messages.handle(text or "", loop.time())
        except MessageTooBig:
            await websocket.close(CLOSE_TOO_BIG)
            return
        if reply is not None:
            await websocket.send_text(reply)
