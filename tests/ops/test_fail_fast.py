"""Fail fast, report truly (issue 20, item 3): with Redis configured, `fieldcast serve` and
`fieldcast fanout` refuse to start while Redis does not answer (one line, exit code 1, so the
supervisor retries); once running, `/healthz` of the app and of the fan-out turn 503 when Redis
goes away, room sockets close with 1013 (try again later), requests that need Redis answer
without a 500, and no traceback or unretrieved task exception reaches the log.

Redis here is a throwaway `redis-server` on a free port, killed in the middle of the test."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from fieldcast.errors import CLOSE_TRY_AGAIN
from fieldcast.realtime.fanout import serve_fanout
from fieldcast.realtime.hub import TICK_S
from tests.conftest import TEST_SECRET, free_port, unavailable
from tests.factories import make_live_org, session_body
from tests.media.conftest import fresh_app, media_settings, serve

pytestmark = pytest.mark.timeout(120)


def _command(tmp_path: Path, command: str, redis_url: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "FIELDCAST_REDIS_URL": redis_url,
        "FIELDCAST_DATA_DIR": str(tmp_path),
        "FIELDCAST_SECRET_KEY": TEST_SECRET,
        "FIELDCAST_PORT": str(free_port()),
        "FIELDCAST_FANOUT_PORT": str(free_port()),
    }
    return subprocess.run(
        [sys.executable, "-m", "fieldcast", command], env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("command", ["serve", "fanout"])
def test_refuses_to_start_while_redis_is_unreachable(command: str, tmp_path: Path) -> None:
    port = free_port()  # nothing listens here
    done = _command(tmp_path, command, f"redis://:hunter2-secret@127.0.0.1:{port}/0")
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"fieldcast {command}: Redis at redis://:***@127.0.0.1:{port}/0 is unreachable")
    assert lines[0].endswith("not starting")
    assert "hunter2-secret" not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


class ThrowawayRedis:
    """`redis-server` on a free port, without persistence, that the test can kill."""

    def __init__(self, tmp_path: Path) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            unavailable("redis-server is not installed")
        assert executable is not None
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                executable,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                str(tmp_path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def ready(self) -> None:
        client = aioredis.Redis.from_url(self.url)
        try:
            for _ in range(100):
                try:
                    await client.ping()
                    return
                except (OSError, aioredis.ConnectionError):
                    await asyncio.sleep(0.05)
            raise AssertionError("redis-server did not start")
        finally:
            await client.aclose()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def throwaway_redis(tmp_path: Path) -> Iterator[ThrowawayRedis]:
    server = ThrowawayRedis(tmp_path)
    try:
        yield server
    finally:
        server.kill()


async def _close_code(url: str) -> int | None:
    """The close code a room socket at `url` ends with (None: it stayed open and sent a frame)."""
    try:
        async with connect(url, open_timeout=10) as ws:
            await asyncio.wait_for(ws.recv(), 10)
            return None
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None


async def test_healthz_and_sockets_tell_the_truth_when_redis_goes_away(
    throwaway_redis: ThrowawayRedis, database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    await throwaway_redis.ready()
    settings = media_settings(database_url, tmp_path, redis_url=throwaway_redis.url, health_interval_s=0)
    app = await fresh_app(settings)
    async with serve(app, settings) as served:
        fanout = await serve_fanout(app.state.ctx, "127.0.0.1", 0)
        fanout_port = next(iter(fanout.sockets)).getsockname()[1]
        try:
            org = await make_live_org(app, served.client, "failfast")
            r = await org["organiser"].post("/api/v1/sessions", json=session_body(org))
            sid = int(r.json()["id"])
            assert (await org["host"].post(f"/api/v1/sessions/{sid}/start")).status_code == 200
            await app.state.ctx.relay.drain()
            app_ws = served.base_url.replace("http://", "ws://") + f"/ws/rooms/{sid}"
            fanout_ws = f"ws://127.0.0.1:{fanout_port}/ws/rooms/{sid}"
            async with httpx.AsyncClient() as plain:
                for base in (served.base_url, f"http://127.0.0.1:{fanout_port}"):
                    health = await plain.get(base + "/healthz")
                    assert health.status_code == 200, (base, health.text)
                    assert health.headers.get_list("content-type") == ["application/json"]
                    assert orjson.loads(health.content)["bus"]["status"] == "ok"
                assert await _close_code(app_ws) is None  # a snapshot: the room works
                assert await _close_code(fanout_ws) is None

                # A socket that stays open through the outage: its room's counters tick meets it.
                held = await connect(app_ws, open_timeout=10)
                await asyncio.wait_for(held.recv(), 10)

                throwaway_redis.kill()

                for base in (served.base_url, f"http://127.0.0.1:{fanout_port}"):
                    health = await plain.get(base + "/healthz")
                    assert health.status_code == 503, (base, health.text)
                    body = orjson.loads(health.content)
                    assert body["status"] == "degraded"
                    assert body["bus"]["status"] == "down"
                    assert body["database"]["status"] == "ok"
                assert await _close_code(app_ws) == CLOSE_TRY_AGAIN
                assert await _close_code(fanout_ws) == CLOSE_TRY_AGAIN
            said = await org["outsider"].post(f"/api/v1/sessions/{sid}/chat", json={"body": "还在吗"})
            assert said.status_code in (201, 503), said.text
            if said.status_code == 503:
                assert said.headers["content-type"].startswith("application/problem+json")
            await asyncio.sleep(2 * TICK_S)  # ticks of the held socket's room while Redis is away
            await held.close()
            await asyncio.sleep(0.5)  # the last flush of the room the socket left
        finally:
            fanout.close()
            await fanout.wait_closed()
    noisy = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert noisy == [], [f"{r.name}: {r.getMessage()}" for r in noisy]
