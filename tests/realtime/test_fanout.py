"""The room sockets' own server (`fieldcast fanout`): the same protocol as the app's gateway
(tests/realtime/test_gateway.py runs every gateway test against both), plus what is its own —
the shared frame bytes written straight to the sockets that keep up, a socket that stops reading
being cut off without holding back the others, the signed session cookie, and a real
`fieldcast fanout` process following a room through Redis."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from fieldcast.realtime.bus import MemoryBus
from fieldcast.realtime.fanout import room_target, serve_fanout
from fieldcast.realtime.hub import CLOSE_TOO_SLOW, Message, RoomHub
from fieldcast.realtime.room_log import MemoryRoomLog
from tests.conftest import REDIS_URL, TEST_SECRET, free_port, redis_or_skip
from tests.factories import LiveOrg, live_session, make_live_org, schedule_session, sign_up
from tests.helpers import validate
from tests.media.conftest import Served, fresh_app, media_settings, serve
from tests.realtime.test_gateway import counters_until, frames, page_viewer

pytestmark = pytest.mark.timeout(120)


def test_only_room_paths_with_a_numeric_after_are_room_sockets() -> None:
    assert room_target("/ws/rooms/12") == (12, None)
    assert room_target("/ws/rooms/12?after=40") == (12, 40)
    for path in ("/ws/rooms/", "/ws/rooms/x", "/ws/rooms/12/extra", "/api/v1/sessions", "/ws/rooms/1?after=-1"):
        assert room_target(path) is None, path
    assert room_target("/ws/rooms/1?after=1&after=2") is None


async def test_sockets_that_keep_up_get_the_same_frame_bytes_written_directly() -> None:
    """Hub level: a sweep hands every direct listener the one message with its one frame; their
    queues (and so their writers) stay untouched."""
    log = MemoryRoomLog(MemoryBus())
    hub = RoomHub(log, rest=0)
    written: list[list[bytes]] = [[], []]
    listeners = [await hub.join(3), await hub.join(3)]
    for listener, out in zip(listeners, written, strict=True):

        def direct(message: Message, out: list[bytes] = out) -> bool:
            out.append(message.frame)
            return True

        listener.direct = direct
    for n in range(4):
        await log.append(3, "session.pinned", {"sku_id": n, "offset_s": None})
    deadline = time.monotonic() + 5
    while not (written[0] and written[1]):
        assert time.monotonic() < deadline, "nothing was written"
        await asyncio.sleep(0.01)
    assert written[0][0] is written[1][0]  # the same bytes object: framed once for the room
    frame = written[0][0]
    assert frame[0] == 0x81  # FIN + text, unmasked (server to client)
    payload = orjson.loads(frame[4:] if frame[1] == 126 else frame[2:])
    assert [f["id"] for f in payload] == [1, 2, 3, 4]
    assert all(listener.queue.empty() and listener.last == 4 for listener in listeners)
    await hub.close()


async def test_a_socket_with_a_backlog_gets_the_rest_through_its_queue_in_order() -> None:
    """While a socket's transport is backed up, its messages queue; ids already written are
    never sent twice and none is skipped."""
    log = MemoryRoomLog(MemoryBus())
    hub = RoomHub(log, rest=0)
    listener = await hub.join(4)
    backed_up = False
    direct_ids: list[int] = []

    def direct(message: Message) -> bool:
        if backed_up:
            return False
        direct_ids.extend(i for i, _ in message.parts)
        return True

    listener.direct = direct
    await log.append(4, "session.pinned", {"sku_id": 1, "offset_s": None})
    await asyncio.sleep(0.05)
    backed_up = True
    for n in range(2, 6):
        await log.append(4, "session.pinned", {"sku_id": n, "offset_s": None})
    await asyncio.sleep(0.05)
    queued = [i for m in list(listener.queue._queue) for i, _ in m.parts]  # type: ignore[attr-defined]
    assert direct_ids == [1] and queued == [2, 3, 4, 5]
    await hub.close()


@dataclass
class Fanout:
    served: Served
    ws_base: str
    hub: RoomHub


@pytest.fixture
async def fanout(database_url: str, tmp_path: Path) -> AsyncIterator[Fanout]:
    settings = media_settings(database_url, tmp_path)
    app = await fresh_app(settings)
    async with serve(app, settings) as served:
        ctx = app.state.ctx
        hub = RoomHub(ctx.room_log, ctx.room_hub.counters, rest=0)
        # The app's database and room log with a hub of the test's own (no rest between chunks).
        server = await serve_fanout(dataclasses.replace(ctx, room_hub=hub), "127.0.0.1", 0)
        port = next(iter(server.sockets)).getsockname()[1]
        try:
            yield Fanout(served, f"ws://127.0.0.1:{port}", hub)
        finally:
            server.close()
            await server.wait_closed()
            await hub.close()


async def live_room(served: Served, slug: str) -> tuple[LiveOrg, int]:
    org = await make_live_org(served.app, served.client, slug)
    sid = await live_session(org)
    await served.app.state.ctx.relay.drain()  # the room's events so far are in its log
    return org, sid


async def test_a_socket_that_stops_reading_is_cut_off_and_never_holds_back_the_others(fanout: Fanout) -> None:
    _org, sid = await live_room(fanout.served, "stall")
    log = fanout.served.app.state.ctx.room_log
    total, body = 2000, "慢" * 3000  # ~9 KB a frame, ~18 MB in all: more than the kernel buffers hold
    url = f"{fanout.ws_base}/ws/rooms/{sid}"
    # The stalled client stops reading its socket after one message (max_queue=1), and its
    # receive buffer is fixed small (the kernel would otherwise grow it to tens of MB).
    port = int(fanout.ws_base.rsplit(":", 1)[1])
    small = socket.socket()
    small.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    small.setblocking(False)
    await asyncio.get_running_loop().sock_connect(small, ("127.0.0.1", port))
    async with (
        connect(url, max_size=None) as fast,
        connect(url, max_size=None, max_queue=1, sock=small) as stalled,
    ):
        first = (await frames(fast, 1))[0]
        await frames(stalled, 1)
        received: list[int] = []
        progress = asyncio.Event()

        async def read_fast() -> None:
            while len(received) < total:
                received.extend(f["id"] for f in await frames(fast, 1) if f["type"] == "chat.posted")
                progress.set()

        reader = asyncio.create_task(read_fast())
        # One event at a time, each awaited on the fast socket (a client in this same event
        # loop): the test is that the stalled socket never delays it, and each event is then a
        # message of its own, so the stalled socket's queue fills by count.
        for n in range(total):
            await log.append(sid, "chat.posted", {"body": body})
            async with asyncio.timeout(5):  # each event reaches the fast socket promptly
                while len(received) < n + 1:
                    progress.clear()
                    await progress.wait()
        await asyncio.wait_for(reader, 30)
        assert received == list(range(first["last_id"] + 1, first["last_id"] + total + 1))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(stalled.recv(), 15)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_TOO_SLOW


async def test_the_signed_session_cookie_tells_viewers_apart_and_a_forged_one_is_anonymous(
    fanout: Fanout,
) -> None:
    _org, sid = await live_room(fanout.served, "cookie")
    fan = fanout.served.client()
    await sign_up(fan, "fan@fanout.example.com", "粉丝")
    cookie = {"Cookie": f"fc_session={fan.cookies['fc_session']}"}
    forged = {"Cookie": "fc_session=eyJ1aWQiOiAxfQ==.forged.signature"}
    url = f"{fanout.ws_base}/ws/rooms/{sid}"
    async with (
        connect(url, additional_headers=cookie) as a,
        connect(url, additional_headers=cookie) as b,
        connect(url, additional_headers=forged) as c,
    ):
        for ws in (a, b, c):
            await frames(ws, 1)
        data = await counters_until(a, lambda d: d["viewers"] == 2 and d["unissued_connections"] == 1)
    # The fan's two tabs are one viewer; the forged cookie is a connection the site issued no
    # viewer for: never a person, reported apart.
    assert data["unique_viewers"] == 1 and data["views"] == 1


async def test_only_room_sockets_and_the_health_check_are_served(fanout: Fanout) -> None:
    base = fanout.ws_base.replace("ws://", "http://")
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{base}/healthz")).status_code == 200
        assert (await client.get(f"{base}/api/v1/sessions")).status_code == 404
    with pytest.raises(Exception, match="404"):
        async with connect(f"{fanout.ws_base}/ws/rooms/abc"):
            pass


# -- a real `fieldcast fanout` process ------------------------------------------------------------


def test_fanout_refuses_to_start_without_redis(tmp_path: Path) -> None:
    env = {**os.environ, "FIELDCAST_REDIS_URL": "", "FIELDCAST_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "fieldcast", "fanout"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "FIELDCAST_REDIS_URL" in done.stderr


@contextlib.contextmanager
def fanout_process(settings: Any, port: int) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "FIELDCAST_DATABASE_URL": settings.database_url,
        "FIELDCAST_DATA_DIR": str(settings.data_dir),
        "FIELDCAST_REDIS_URL": REDIS_URL,
        "FIELDCAST_SECRET_KEY": TEST_SECRET,
        "FIELDCAST_FANOUT_PORT": str(port),
    }
    proc = subprocess.Popen([sys.executable, "-m", "fieldcast", "fanout"], env=env)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def wait_healthy(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient() as client:
        while True:
            assert proc.poll() is None, f"fieldcast fanout exited with {proc.returncode}"
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{base}/healthz")).status_code == 200:
                    return
            assert time.monotonic() < deadline, "fieldcast fanout did not start"
            await asyncio.sleep(0.1)


async def test_a_fanout_process_serves_the_room_the_app_writes_to_through_redis(
    database_url: str, tmp_path: Path
) -> None:
    await redis_or_skip()
    settings = media_settings(database_url, tmp_path, redis_url=REDIS_URL)
    app = await fresh_app(settings)
    port = free_port()
    async with serve(app, settings) as served:
        org = await make_live_org(served.app, served.client, "fanproc")
        sid = int((await schedule_session(org))["id"])
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(REDIS_URL)  # ids restart with the database: a clean room
        keys = [k async for k in client.scan_iter(f"fc:room:{sid}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
        await org["host"].post(f"/api/v1/sessions/{sid}/start")
        fan = served.client()
        await sign_up(fan, "fan@fanproc.example.com", "粉丝")
        with fanout_process(settings, port) as proc:
            await wait_healthy(f"http://127.0.0.1:{port}", proc)
            on_app_url = served.base_url.replace("http://", "ws://") + f"/ws/rooms/{sid}"
            # Two anonymous viewers as browsers make them: the room page issues each a cookie.
            viewers = [await page_viewer(served, sid) for _ in range(2)]
            async with (
                connect(f"ws://127.0.0.1:{port}/ws/rooms/{sid}", additional_headers=viewers[0]) as on_fanout,
                connect(on_app_url, additional_headers=viewers[1]) as on_app,
            ):
                snap = (await frames(on_fanout, 1))[0]
                assert snap["type"] == "snapshot" and snap["data"]["state"] == "live"
                await frames(on_app, 1)
                await counters_until(on_app, lambda d: d["viewers"] == 2)  # summed over both
                await on_fanout.send(orjson.dumps({"type": "like", "count": 9}).decode())
                await counters_until(on_app, lambda d: d["likes"] == 9)
                r = await fan.post(f"/api/v1/sessions/{sid}/chat", json={"body": "扇出进程也收到了"})
                assert r.status_code == 201, r.text
                r = await org["host"].post(f"/api/v1/sessions/{sid}/pin", json={"sku_id": org.inspected_sku})
                assert r.status_code == 201, r.text
                seen = await frames(on_fanout, 2)
            for frame in seen:
                validate(frame)
            assert [f["type"] for f in seen] == ["chat.posted", "session.pinned"]
            assert seen[0]["id"] == snap["last_id"] + 1 and seen[1]["id"] == seen[0]["id"] + 1
            # Resume on the fan-out process from the last id: nothing missed, nothing twice.
            await org["host"].delete(f"/api/v1/sessions/{sid}/pin")
            async with connect(f"ws://127.0.0.1:{port}/ws/rooms/{sid}?after={seen[1]['id']}") as again:
                missed = await frames(again, 1)
            assert [f["id"] for f in missed] == [seen[1]["id"] + 1]
