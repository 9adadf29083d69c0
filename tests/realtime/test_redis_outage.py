"""Redis going away never turns a committed write into an error, and nothing is lost or repeated:
chat posted and a product pinned while Redis cannot be reached answer 2xx, and once it is back
the events reach a room socket that stayed open, each exactly once and in the order they
happened (the outbox holds them; the hub resumes its subscription from the last frame it had).

Redis is reached through a TCP proxy that the test cuts and restores, as a restarted Redis or a
network partition would look to the app."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import REDIS_URL, free_port, redis_or_skip
from tests.factories import make_live_org, session_body
from tests.media.conftest import fresh_app, media_settings, serve

pytestmark = pytest.mark.timeout(120)


class RedisProxy:
    """Forwards 127.0.0.1:<port> to the test Redis; `cut` drops every connection and refuses
    new ones, `restore` listens again on the same port."""

    def __init__(self, target: tuple[str, int], database: str) -> None:
        self.target = target
        self.database = database  # the test Redis URL's, so parallel workers stay apart
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.pipes: set[asyncio.Task[None]] = set()
        self.writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/{self.database}"

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(*self.target)
        self.writers |= {client_w, server_w}
        for task in (
            asyncio.create_task(self._pipe(client_r, server_w)),
            asyncio.create_task(self._pipe(server_r, client_w)),
        ):
            self.pipes.add(task)
            task.add_done_callback(self.pipes.discard)

    async def restore(self) -> None:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)

    async def cut(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()
        for task in list(self.pipes):
            task.cancel()


@pytest.fixture
async def proxy() -> AsyncIterator[RedisProxy]:
    await redis_or_skip()
    parts = urlsplit(REDIS_URL)
    p = RedisProxy((parts.hostname or "127.0.0.1", parts.port or 6379), parts.path.strip("/") or "0")
    await p.restore()
    try:
        yield p
    finally:
        await p.cut()


async def events(ws: ClientConnection, wanted: int, within_s: float) -> list[dict[str, Any]]:
    """Room events (not snapshots or counters) until `wanted` arrived or time ran out."""
    out: list[dict[str, Any]] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(within_s):
            while len(out) < wanted:
                message = orjson.loads(await ws.recv())
                for frame in message if isinstance(message, list) else [message]:
                    if frame.get("type") not in ("snapshot", "room.counters"):
                        out.append(frame)
    return out


async def test_writes_succeed_while_redis_is_down_and_their_events_arrive_once_in_order_after(
    proxy: RedisProxy, database_url: str, tmp_path: Path
) -> None:
    settings = media_settings(database_url, tmp_path, redis_url=proxy.url)
    app = await fresh_app(settings)
    async with serve(app, settings) as served:
        org = await make_live_org(app, served.client, "outage")
        r = await org["organiser"].post("/api/v1/sessions", json=session_body(org))
        sid = int(r.json()["id"])
        # Session ids restart with the database; Redis keeps rooms for days: start this room clean.
        direct = aioredis.Redis.from_url(REDIS_URL)
        keys = [k async for k in direct.scan_iter(f"fc:room:{sid}:*")]
        if keys:
            await direct.delete(*keys)
        await direct.aclose()
        assert (await org["host"].post(f"/api/v1/sessions/{sid}/start")).status_code == 200
        await app.state.ctx.relay.drain()

        ws_url = served.base_url.replace("http://", "ws://") + f"/ws/rooms/{sid}"
        async with connect(ws_url) as ws:
            snapshot = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
            assert snapshot["type"] == "snapshot" and snapshot["data"]["state"] == "live"

            await proxy.cut()
            viewer = org["outsider"]
            said = [await viewer.post(f"/api/v1/sessions/{sid}/chat", json={"body": b}) for b in ("一", "二")]
            pinned = await org["host"].post(f"/api/v1/sessions/{sid}/pin", json={"sku_id": org.inspected_sku})
            said.append(await viewer.post(f"/api/v1/sessions/{sid}/chat", json={"body": "三"}))
            assert [r.status_code for r in [*said, pinned]] == [201, 201, 201, 201], [r.text for r in said]
            assert await events(ws, 1, within_s=1.0) == []  # nothing can leave while Redis is away

            await proxy.restore()
            arrived = await events(ws, 4, within_s=30.0)
            arrived += await events(ws, 1, within_s=2.0)  # and nothing comes twice

    kinds = [(e["type"], e["data"].get("body") or e["data"].get("sku_id")) for e in arrived]
    assert kinds == [
        ("chat.posted", "一"),
        ("chat.posted", "二"),
        ("session.pinned", org.inspected_sku),
        ("chat.posted", "三"),
    ]
    ids = [e["id"] for e in arrived]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
