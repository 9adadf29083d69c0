"""Media fixtures: the app served by a real uvicorn on a loopback port (WebSockets and nginx's
callbacks need a real socket), ffmpeg and nginx; a ready-to-go-live show is made by
tests/factories.py (schedule_show)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from fieldcast.app import create_app
from fieldcast.config import Settings
from fieldcast.db.engine import make_engine
from fieldcast.live.models import LiveSession
from fieldcast.media.ffmpeg import ffmpeg_executable
from tests.conftest import TEST_SECRET, free_port, wipe

SERVER_START_S = 15.0


@dataclass
class Served:
    app: FastAPI
    base_url: str
    settings: Settings
    clients: list[httpx.AsyncClient]
    # Where room sockets are served, when not by the app itself (the fan-out server).
    ws_base: str | None = None

    def client(self) -> httpx.AsyncClient:
        c = httpx.AsyncClient(base_url=self.base_url, timeout=10.0)
        self.clients.append(c)
        return c


@contextlib.asynccontextmanager
async def serve(app: FastAPI, settings: Settings, port: int | None = None) -> AsyncIterator[Served]:
    """uvicorn in this event loop; its lifespan starts and closes the media backend."""
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(SERVER_START_S):
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn exited before it started")
            await asyncio.sleep(0.02)
    served = Served(app, f"http://127.0.0.1:{port}", settings, [])
    try:
        yield served
    finally:
        for c in served.clients:
            await c.aclose()
        server.should_exit = True
        await asyncio.wait_for(task, 20)


def media_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "data_dir": data_dir,
        "secret_key": TEST_SECRET,
        "redis_url": "",
        "reconnect_grace_s": 1.0,
        "warm_routes": False,  # a test's app answers a handful of requests
    }
    values.update(overrides)
    return Settings(**values)


async def fresh_app(settings: Settings) -> FastAPI:
    engine = make_engine(settings.sqlalchemy_url)
    await wipe(engine)
    await engine.dispose()
    return create_app(settings)


@pytest.fixture
def ffmpeg() -> str:
    return ffmpeg_executable("")


async def session_state(app: FastAPI, session_id: int) -> LiveSession:
    async with app.state.ctx.uow() as uow:
        live = await uow.session.get(LiveSession, session_id)
        assert live is not None
        return live


async def wait_for(check: Callable[[], Any], *, within_s: float, every_s: float = 0.2, what: str = "condition") -> Any:
    """Poll an async or plain check until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {within_s:.0f} s waiting for {what}")
        await asyncio.sleep(every_s)


NGINX = Path(shutil.which("nginx") or "/usr/sbin/nginx")


def _tail(log: Path) -> str:
    return log.read_text()[-3000:] if log.exists() else ""


async def _wait_for_port(port: int, proc: asyncio.subprocess.Process, log: Path, within_s: float = 10.0) -> None:
    end = time.monotonic() + within_s
    while time.monotonic() < end:
        if proc.returncode is not None:
            pytest.fail(f"nginx exited with {proc.returncode}:\n{_tail(log)}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        await asyncio.sleep(0.05)
    pytest.fail(f"nginx did not listen on {port} within {within_s:.0f} s")


@contextlib.asynccontextmanager
async def nginx_serving(prefix: Path, conf: Path, port: int) -> AsyncIterator[None]:
    """A real nginx in the foreground on `conf` (its error log in prefix/error.log), listening on
    `port` before the block starts, stopped after it."""
    log = prefix / "error.log"
    proc = await asyncio.create_subprocess_exec(
        str(NGINX), "-p", str(prefix), "-e", str(log), "-c", str(conf), "-g", "daemon off;",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        await _wait_for_port(port, proc, log)
        yield
    finally:
        if proc.returncode is None:
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()
