"""The room sockets' own server: `fieldcast fanout`.

The app serves `/ws/rooms/{id}` itself (realtime/gateway.py), and that is enough for a county's
rooms. For a room of tens of thousands of viewers, every send through ASGI costs several times
what the socket write does, so production runs this server beside the app processes and nginx
routes `/ws/rooms/` to it. It speaks exactly the same protocol (room_feed.py, docs/events.md),
follows the same room log through Redis, reports the same presence and counters, and reads the
same signed session cookie; it holds no HTTP routes but `/healthz`, which reports the database
and Redis as the app's does (realtime/health.py): 503 while either is down.

What makes it cheaper: it owns its sockets (the `websockets` library's server), so each room
message's WebSocket frame — built once by the hub — is written as the same bytes straight to
every socket that is keeping up (`Listener.direct`). A socket whose write buffer backs up gets its
messages through its bounded queue and writer instead (regrouped, then closed with 4008), exactly
as on the app's gateway. Run one per core: they share the port (SO_REUSEPORT)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, ClassVar, Protocol
from urllib.parse import parse_qs, urlsplit

from starlette.requests import cookie_parser
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from fieldcast.db.engine import Database
from fieldcast.errors import CLOSE_TRY_AGAIN, backend_unavailable
from fieldcast.realtime.bus import Bus
from fieldcast.realtime.health import HealthCheck
from fieldcast.realtime.hub import CLOSE_TOO_SLOW, Message, write_frames
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
from fieldcast.session_cookie import SESSION_COOKIE, SESSION_VIEWER, SessionCookie

log = logging.getLogger(__name__)

ROOM_PATH = re.compile(r"/ws/rooms/([0-9]{1,18})")
# Bytes a socket may have waiting in its transport and still be written to directly; beyond it
# the socket's messages go through its bounded queue (and its writer waits for the drain).
DIRECT_BUFFER_MAX = 64 * 1024


def room_target(path: str) -> tuple[int, int | None] | None:
    """(room id, `after`) of `/ws/rooms/<id>[?after=<n>]`; None for any other path or a bad query."""
    parts = urlsplit(path)
    match = ROOM_PATH.fullmatch(parts.path)
    if match is None:
        return None
    after = parse_qs(parts.query).get("after")
    if after is None:
        return int(match.group(1)), None
    if len(after) != 1 or not after[0].isdigit() or len(after[0]) > 18:
        return None
    return int(match.group(1)), int(after[0])


class FanoutServices(RoomServices, Protocol):
    db: Database
    bus: Bus

    async def close(self) -> None: ...


class FanoutServer:
    """The handshake check, `/healthz`, one handler per socket, and the session cookie reader."""

    def __init__(self, ctx: FanoutServices) -> None:
        self.ctx = ctx
        self.cookie = SessionCookie(ctx.settings.resolved_secret_key, ctx.settings.session_max_age_s)
        self.health = HealthCheck(ctx.db, ctx.bus, ctx.settings.health_interval_s)
        self.trusted_proxies = trusted_proxies(os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"))

    async def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path == "/healthz":
            status, body = await self.health.answer()
            response = connection.respond(HTTPStatus(status), body.decode() + "\n")
            del response.headers["Content-Type"]  # respond() wrote text/plain
            response.headers["Content-Type"] = "application/json"
            response.headers["Cache-Control"] = "no-store"
            return response
        if room_target(request.path) is None:
            return connection.respond(HTTPStatus.NOT_FOUND, "not a room socket\n")
        return None

    def session(self, request: Request | None) -> dict[str, Any]:
        """The signed session, read from the Cookie header as the app's requests read it."""
        header = request.headers.get("Cookie") if request is not None else None
        return self.cookie.read(cookie_parser(header).get(SESSION_COOKIE)) if header else {}

    async def handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None  # the handshake has happened
        target = room_target(ws.request.path)
        assert target is not None  # process_request refused every other path
        room_id, after = target
        hub = self.ctx.room_hub
        session = self.session(ws.request)
        viewer = viewer_key(session)
        entry: Connection | None = None
        # Join before reading the backlog or the snapshot: nothing appended in between is lost
        # (the writer drops what the opening already covered).
        listener = await hub.join(room_id, viewer)
        writer: asyncio.Task[None] | None = None
        try:
            try:
                opened = await opening(self.ctx, room_id, after)
                if opened is not None:
                    await hub.counters.viewer_joined(room_id, viewer)
            except Exception as exc:
                if not backend_unavailable(exc):
                    raise
                # Redis or the database is away: the client retries later (1013), no traceback.
                log.warning("room %s: socket closed with 1013, a backend is unavailable (%r)", room_id, exc)
                await ws.close(CLOSE_TRY_AGAIN)
                return
            if opened is None:
                await ws.close(CLOSE_NO_ROOM)
                return
            entry = self.ctx.room_journal.open(room_id, viewer, session, self.client_ip(ws), SESSION_VIEWER)
            last, first = opened
            if first is not None:
                await ws.send(first)
            listener.last = last
            listener.on_overflow = lambda: self._close_soon(ws, CLOSE_TOO_SLOW)
            writer = asyncio.create_task(write_frames(listener, ws.send, lambda: self._resync(ws, room_id)))
            writer.add_done_callback(lambda task: self._writer_ended(ws, task))
            listener.direct = _direct_writer(ws)
            await self._read_until_closed(ws, room_id, viewer, entry)
        except ConnectionClosed:
            pass
        finally:
            if writer is not None:
                writer.cancel()
            hub.leave(room_id, listener)
            if entry is not None:
                self.ctx.room_journal.close_entry(entry)

    def client_ip(self, ws: ServerConnection) -> str:
        """The client's address as uvicorn determines it for the app (`proxy_headers`): from
        X-Forwarded-For when the peer is a proxy it trusts (FORWARDED_ALLOW_IPS, 127.0.0.1 by
        default) — the nearest address in it that is not itself a trusted proxy — else the peer."""
        peer = ws.remote_address[0] if ws.remote_address else ""
        header = ws.request.headers.get("X-Forwarded-For") if ws.request is not None else None
        return forwarded_client(str(peer), header, self.trusted_proxies)

    async def _resync(self, ws: ServerConnection, room_id: int) -> int:
        fresh = await snapshot_frame(self.ctx, room_id)
        if fresh is None:
            raise LookupError(room_id)
        await ws.send(fresh[1])
        return fresh[0]

    def _writer_ended(self, ws: ServerConnection, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, LookupError):  # the room was deleted under a resyncing socket
            self._close_soon(ws, CLOSE_NO_ROOM)
        elif exc is not None and not isinstance(exc, ConnectionClosed):
            log.warning("room socket writer ended with %r", exc)
            self._close_soon(ws, 1011)

    _closing: ClassVar[set[asyncio.Task[None]]] = set()  # closes in flight (kept from the GC)

    @classmethod
    def _close_soon(cls, ws: ServerConnection, code: int) -> None:
        task = asyncio.get_running_loop().create_task(ws.close(code))
        cls._closing.add(task)
        task.add_done_callback(cls._closing.discard)

    async def _read_until_closed(
        self, ws: ServerConnection, room_id: int, viewer: str | None, entry: Connection | None = None
    ) -> None:
        """Client messages until the client goes; silent for IDLE_S (no heartbeat) = closed."""
        hub = self.ctx.room_hub
        messages = ClientMessages(lambda likes, flowers: hub.react(room_id, likes, flowers, viewer), entry)
        loop = asyncio.get_running_loop()
        while True:
            try:
                async with asyncio.timeout(IDLE_S):
                    data = await ws.recv()
            except TimeoutError:
                await ws.close(CLOSE_IDLE)
                return
            if not isinstance(data, str):
                continue
            try:
                reply = messages.handle(data, loop.time())
            except MessageTooBig:
                await ws.close(CLOSE_TOO_BIG)
                return
            if reply is not None:
                await ws.send(reply)


def trusted_proxies(setting: str) -> frozenset[str]:
    """uvicorn's FORWARDED_ALLOW_IPS: comma-separated addresses, or "*" for any."""
    return frozenset(part.strip() for part in setting.split(",") if part.strip())


def forwarded_client(peer: str, header: str | None, trusted: frozenset[str]) -> str:
    if not header or ("*" not in trusted and peer not in trusted):
        return peer
    hops = [hop.strip() for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        if "*" in trusted or hop not in trusted:
            return hop
    return hops[0] if hops else peer


def _direct_writer(ws: ServerConnection) -> Callable[[Message], bool]:
    """Listener.direct for one socket: write the message's shared frame bytes to its transport
    while the socket is open and keeping up."""
    transport = ws.transport

    def direct(message: Message) -> bool:
        if ws.protocol.state is not State.OPEN or transport.get_write_buffer_size() > DIRECT_BUFFER_MAX:
            return False
        transport.write(message.frame)
        return True

    return direct


async def serve_fanout(ctx: FanoutServices, host: str, port: int, *, reuse_port: bool = False) -> Server:
    """Start serving room sockets on host:port; the caller closes the returned server."""
    server = FanoutServer(ctx)
    return await serve(
        server.handle,
        host,
        port,
        process_request=server.process_request,
        compression=None,  # no per-message deflate: it would compress each frame again per socket
        max_size=CLIENT_MESSAGE_MAX,  # larger client messages close the socket with 1009
        ping_interval=None,  # clients heartbeat themselves; silent sockets close after IDLE_S
        reuse_port=reuse_port,
    )


async def run_fanout(ctx: FanoutServices, host: str, port: int) -> None:
    """`fieldcast fanout`: serve until cancelled (SIGINT/SIGTERM); closes `ctx` at the end."""
    try:
        server = await serve_fanout(ctx, host, port, reuse_port=True)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):  # close sockets with 1001, then stop
            loop.add_signal_handler(sig, server.close)
        log.info("room sockets on ws://%s:%s/ws/rooms/<id>", host, port)
        with contextlib.suppress(asyncio.CancelledError):
            await server.serve_forever()
    finally:
        await ctx.close()
