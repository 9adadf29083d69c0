"""Production as the README sets it up, on loopback: PostgreSQL, Redis, two `fieldcast serve`
processes and one `fieldcast fanout` behind the README's reverse-proxy block (a real nginx over
TLS), and nginx-rtmp running the configuration `fieldcast media-config` writes with an
`--app-url` for each app process. ffmpeg publishes as OBS does.

- The app process that answered `on_publish` is killed with SIGKILL while the stream is live: the
  stream stays up (nginx's callbacks go to the other process), stopping it ends the show within
  the grace period plus 10 s, and the replay becomes ready.
- nginx-rtmp itself is killed while a stream is live, so no end callback ever arrives: the ingest
  watchdog of the app processes ends the show.
- No log of the run (apps, fan-out, both nginx) holds the stream key or the callback secret."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import re
import signal
import socket
import ssl
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from websockets.asyncio.client import connect

from fieldcast.app import create_app
from fieldcast.config import Settings
from fieldcast.db.audit import AuditEntry
from fieldcast.db.engine import make_engine
from fieldcast.live.models import LiveSession, ReplayState, SessionState
from fieldcast.media.nginx_config import UPDATE_INTERVAL_S
from tests.conftest import REDIS_URL, RELAXED_LIMITS, TEST_SECRET, free_port, redis_or_skip, unavailable, wipe
from tests.factories import PASSWORD, Show, schedule_show, sign_up
from tests.media.conftest import NGINX
from tests.media.test_nginx_rtmp import RTMP_MODULE, publish
from tests.realtime.test_gateway import frames
from tests.realtime.test_nginx_rooms import readme_proxy_block, replace_once, self_signed

pytestmark = pytest.mark.timeout(300)

HOOK_SECRET = "prod-hook-secret-7f3a"
GRACE_S = 3.0
STALE_S = 4.0
START_S = 60.0


@pytest.fixture
def backend() -> str:
    return "postgres"  # as the README's production runs


@dataclass
class Proc:
    name: str
    proc: asyncio.subprocess.Process
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Production:
    tmp: Path
    settings: Settings
    seed: FastAPI  # an in-process app on the same database and Redis, for seeding and reading state
    apps: dict[int, Proc]  # by port
    fanout: Proc
    rtmp: Proc
    proxy_base: str
    rtmp_port: int
    http_port: int
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def client(self) -> httpx.AsyncClient:
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.seed), base_url="http://testserver", timeout=10)
        self.clients.append(c)
        return c

    async def session(self, session_id: int) -> LiveSession:
        async with self.seed.state.ctx.uow(write=False) as uow:
            live = await uow.session.get(LiveSession, session_id)
            assert live is not None
            return live

    def logs(self) -> str:
        nginx = [p.read_text(errors="replace") for p in self.tmp.glob("*/*.log")]
        return "\n".join([*(p.text() for p in self.apps.values()), self.fanout.text(), self.rtmp.text(), *nginx])


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    relaxed = {f"FIELDCAST_{name.upper()}" for name in RELAXED_LIMITS}
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDCAST_") or k in relaxed}
    env.update(
        FIELDCAST_DATA_DIR=str(settings.data_dir),
        FIELDCAST_DATABASE_URL=settings.database_url,
        FIELDCAST_REDIS_URL=settings.redis_url,
        FIELDCAST_SECRET_KEY=TEST_SECRET,
        FIELDCAST_RTMP_URL=settings.rtmp_url,
        FIELDCAST_HLS_BASE_URL=settings.hls_base_url,
        FIELDCAST_MEDIA_HOOK_SECRET=HOOK_SECRET,
        FIELDCAST_RECONNECT_GRACE_S=str(GRACE_S),
        FIELDCAST_INGEST_WATCHDOG_S="1",
        FIELDCAST_INGEST_STALE_S=str(STALE_S),
        FIELDCAST_LIVE_STILL_INTERVAL_S="0",
        FIELDCAST_LOG_LEVEL="info",
        FIELDCAST_ACCESS_LOG="true",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


async def _start(name: str, argv: list[str], env: dict[str, str], log: Path) -> Proc:
    handle = log.open("wb")
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=handle, stderr=asyncio.subprocess.STDOUT, start_new_session=True
    )
    handle.close()
    return Proc(name, proc, log)


async def _listening(proc: Proc, port: int) -> None:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if proc.proc.returncode is not None:
            pytest.fail(f"{proc.name} exited with {proc.proc.returncode}:\n{proc.text()[-3000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        await asyncio.sleep(0.1)
    pytest.fail(f"{proc.name} did not listen on {port} within {START_S:.0f} s:\n{proc.text()[-3000:]}")


async def _stop(proc: Proc) -> None:
    if proc.proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.proc.wait(), 15)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.proc.pid, signal.SIGKILL)
            await proc.proc.wait()


def _proxy_config(prefix: Path, port: int, app_ports: list[int], fanout_port: int, cert: Path, key: Path) -> Path:
    """The README's reverse-proxy block with what a test machine must change: ports, paths."""
    block = readme_proxy_block()
    servers = "".join(f"    server 127.0.0.1:{p};\n" for p in app_ports)
    block = replace_once(block, "    server 127.0.0.1:8001;\n    server 127.0.0.1:8002;\n", servers)
    block = replace_once(block, "server 127.0.0.1:8100;", f"server 127.0.0.1:{fanout_port};")
    block = replace_once(block, "proxy_cache_path /var/cache/nginx/fieldcast ", f"proxy_cache_path {prefix / 'cache'} ")
    block = replace_once(block, "listen 443 ssl http2;", f"listen 127.0.0.1:{port} ssl http2;")
    block = re.sub(r"ssl_certificate +\S+;", f"ssl_certificate {cert};", block)
    block = re.sub(r"ssl_certificate_key +\S+;", f"ssl_certificate_key {key};", block)
    user = f"user {getpass.getuser()};\n" if os.geteuid() == 0 else ""
    temp = "\n".join(f"    {k}_temp_path {prefix / k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"{user}pid {prefix / 'nginx.pid'};\nerror_log {prefix / 'error.log'} warn;\n"
        f"events {{ worker_connections 256; }}\nhttp {{\n    access_log {prefix / 'access.log'};\n{temp}\n{block}}}\n"
    )
    return conf


@contextlib.asynccontextmanager
async def production(database_url: str, tmp_path: Path) -> AsyncIterator[Production]:
    if not NGINX.exists() or not RTMP_MODULE.exists():
        unavailable("nginx with libnginx-mod-rtmp is missing (apt-get install nginx libnginx-mod-rtmp)")
    await redis_or_skip()
    rtmp_port, http_port, hook_port, proxy_port, fanout_port = (free_port() for _ in range(5))
    app_ports = [free_port(), free_port()]
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        secret_key=TEST_SECRET,
        redis_url=REDIS_URL,
        rtmp_url=f"rtmp://127.0.0.1:{rtmp_port}/live",
        hls_base_url=f"http://127.0.0.1:{http_port}/hls",
        media_hook_secret=HOOK_SECRET,
        reconnect_grace_s=GRACE_S,
        ingest_watchdog_s=0,  # the seeding app is no production process: it watches nothing
        media_gc_interval_s=0,
        live_still_interval_s=0,
        upkeep=False,
    )
    engine = make_engine(settings.sqlalchemy_url)
    await wipe(engine)
    await engine.dispose()
    fieldcast = [sys.executable, "-m", "fieldcast"]
    proxy_base = f"https://127.0.0.1:{proxy_port}"
    env = _env(settings, FIELDCAST_PUBLIC_URL=proxy_base)

    # nginx-rtmp from `fieldcast media-config`, one --app-url per app process.
    rtmp_prefix, conf = tmp_path / "rtmp", tmp_path / "conf" / "nginx-rtmp.conf"
    user = ["--user", getpass.getuser()] if os.geteuid() == 0 else []
    made = await asyncio.create_subprocess_exec(
        *fieldcast, "media-config", "--out", str(conf), "--prefix", str(rtmp_prefix),
        "--rtmp-port", str(rtmp_port), "--http-port", str(http_port), "--hook-port", str(hook_port),
        *(arg for port in app_ports for arg in ("--app-url", f"http://127.0.0.1:{port}")), *user,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await made.communicate()
    assert made.returncode == 0, out.decode()
    assert conf.stat().st_mode & 0o077 == 0
    nginx = [str(NGINX), "-p", str(rtmp_prefix), "-e", str(rtmp_prefix / "error.log"), "-g", "daemon off;"]
    rtmp = await _start("nginx-rtmp", [*nginx, "-c", str(conf)], env, tmp_path / "nginx-rtmp.out")

    proxy_prefix = tmp_path / "proxy"
    proxy_prefix.mkdir()
    cert, key = self_signed(proxy_prefix)
    proxy_conf = _proxy_config(proxy_prefix, proxy_port, app_ports, fanout_port, cert, key)
    proxy_argv = [str(NGINX), "-p", str(proxy_prefix), "-e", str(proxy_prefix / "error.log"), "-g", "daemon off;"]
    proxy = await _start("nginx-proxy", [*proxy_argv, "-c", str(proxy_conf)], env, tmp_path / "nginx-proxy.out")

    apps = {
        port: await _start(f"app-{port}", [*fieldcast, "serve", "--port", str(port)], env, tmp_path / f"app-{port}.log")
        for port in app_ports
    }
    fanout = await _start("fanout", [*fieldcast, "fanout", "--port", str(fanout_port)], env, tmp_path / "fanout.log")
    seed = create_app(settings)
    everything = [rtmp, proxy, *apps.values(), fanout]
    try:
        await _listening(rtmp, rtmp_port)
        await _listening(proxy, proxy_port)
        await _listening(fanout, fanout_port)
        for port, proc in apps.items():
            await _listening(proc, port)
        async with seed.router.lifespan_context(seed):
            prod = Production(tmp_path, settings, seed, apps, fanout, rtmp, proxy_base, rtmp_port, http_port)
            try:
                yield prod
            finally:
                for c in prod.clients:
                    await c.aclose()
    finally:
        for proc in everything:
            await _stop(proc)


async def _wait(check: Callable[[], Awaitable[bool]], *, within_s: float, what: str, every_s: float = 0.2) -> float:
    """Poll an async check until truthy; the seconds it took."""
    start = time.monotonic()
    while True:
        if await check():
            return time.monotonic() - start
        if time.monotonic() - start > within_s:
            raise AssertionError(f"timed out after {within_s:.0f} s waiting for {what}")
        await asyncio.sleep(every_s)


async def _playlist(http: httpx.AsyncClient, url: str) -> tuple[int, int]:
    """(media sequence, segments listed) of a live playlist, (-1, 0) when there is none yet."""
    r = await http.get(url)
    if r.status_code != 200:
        return -1, 0
    found = re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", r.text)
    return (int(found.group(1)) if found else 0), r.text.count(".ts")


async def _go_live(prod: Production, slug: str, ffmpeg: str) -> tuple[Show, str, asyncio.subprocess.Process]:
    show = await schedule_show(prod.seed, prod.client, slug)
    r = await show.org["host"].post(f"/api/v1/sessions/{show.session_id}/stream-key")
    assert r.status_code == 201, r.text
    key, url = r.json()["stream_key"], r.json()["publish_url"]
    assert url == f"{prod.settings.rtmp_url}/{show.stream_name}?key={key}"
    publisher = await publish(ffmpeg, url)

    async def live() -> bool:
        return (await prod.session(show.session_id)).state == SessionState.LIVE

    await _wait(live, within_s=30, what="the show to go live")
    return show, key, publisher


async def test_killing_the_app_that_took_on_publish_keeps_the_stream_and_the_show_still_ends(
    database_url: str, tmp_path: Path, ffmpeg: str
) -> None:
    async with production(database_url, tmp_path) as prod:
        show, key, publisher = await _go_live(prod, "prodkill", ffmpeg)
        playlist = f"http://127.0.0.1:{prod.http_port}/hls/live/{show.stream_name}/index.m3u8"
        async with httpx.AsyncClient(timeout=10) as http:

            async def playing() -> bool:
                return (await _playlist(http, playlist))[1] >= 2

            await _wait(playing, within_s=30, what=f"HLS at {playlist}")
            # Which process answered on_publish (its access log shows the call; no secret in it).
            took = [port for port, p in prod.apps.items() if "POST /hooks/media/on_publish " in p.text()]
            assert len(took) == 1, {port: p.text()[-2000:] for port, p in prod.apps.items()}
            victim, survivor = prod.apps[took[0]], next(p for port, p in prod.apps.items() if port != took[0])

            # A viewer through the README's proxy: the page from an app, the room socket from the fan-out.
            tls = ssl.create_default_context(cafile=str(tmp_path / "proxy" / "cert.pem"))
            async with httpx.AsyncClient(base_url=prod.proxy_base, verify=tls, timeout=10) as fan:
                detail = (await fan.get(f"/api/v1/sessions/{show.session_id}")).json()
                assert detail["state"] == "live" and detail["hls_url"] == playlist
                await sign_up(fan, "fan@prodkill.example.com", "观众")
                cookie = {"Cookie": f"fc_session={fan.cookies['fc_session']}"}
                wss = prod.proxy_base.replace("https://", "wss://")
                async with connect(f"{wss}/ws/rooms/{show.session_id}", ssl=tls, additional_headers=cookie) as ws:
                    snapshot = (await frames(ws, 1))[0]
                    assert snapshot["type"] == "snapshot" and snapshot["data"]["state"] == "live"

            os.kill(victim.proc.pid, signal.SIGKILL)
            await victim.proc.wait()
            updates_before = survivor.text().count("POST /hooks/media/on_update ")
            sequence_before, _ = await _playlist(http, playlist)
            # Two update rounds and more: each would have cut the stream had it gone to the dead process.
            await asyncio.sleep(2 * UPDATE_INTERVAL_S + 3)
            assert publisher.returncode is None, "the stream was cut when the app process died"
            sequence_after, listed = await _playlist(http, playlist)
            assert listed >= 2 and sequence_after >= sequence_before + 5, (sequence_before, sequence_after)
            assert survivor.text().count("POST /hooks/media/on_update ") > updates_before
            assert (await prod.session(show.session_id)).state == SessionState.LIVE

            publisher.terminate()  # the host stops streaming
            await asyncio.wait_for(publisher.communicate(), 15)

            async def ended() -> bool:
                return (await prod.session(show.session_id)).state == SessionState.ENDED

            took_s = await _wait(ended, within_s=GRACE_S + 10, what="the show to end", every_s=0.1)
            assert took_s <= GRACE_S + 10

            async def replay_built() -> bool:
                return (await prod.session(show.session_id)).replay_state != ReplayState.PROCESSING

            await _wait(replay_built, within_s=90, what="the replay")
            live = await prod.session(show.session_id)
            assert live.replay_state == ReplayState.READY, survivor.text()[-3000:]
            replay = await http.get(f"http://127.0.0.1:{prod.http_port}/hls/replay/{show.stream_name}/index.m3u8")
            assert replay.status_code == 200 and "#EXT-X-ENDLIST" in replay.text

        logs = prod.logs()
        for secret in (key, HOOK_SECRET, PASSWORD, TEST_SECRET):
            assert secret not in logs, f"a secret is in the logs: {secret[:6]}…"


async def test_with_nginx_rtmp_gone_no_end_callback_arrives_and_the_watchdog_ends_the_show(
    database_url: str, tmp_path: Path, ffmpeg: str
) -> None:
    async with production(database_url, tmp_path) as prod:
        show, key, publisher = await _go_live(prod, "prodwatch", ffmpeg)
        folder = prod.settings.resolved_hls_dir / "live" / show.stream_name

        async def writing() -> bool:
            return folder.is_dir() and len(list(folder.glob("*.ts"))) >= 2

        await _wait(writing, within_s=30, what="HLS to be written")
        # nginx (master and worker) dies at once: no on_publish_done, no on_update, ever.
        os.killpg(prod.rtmp.proc.pid, signal.SIGKILL)
        await prod.rtmp.proc.wait()
        gone = time.monotonic()
        await asyncio.wait_for(publisher.communicate(), 30)  # the publisher lost its server

        async def ended() -> bool:
            return (await prod.session(show.session_id)).state == SessionState.ENDED

        await _wait(ended, within_s=max(STALE_S, GRACE_S) + 15, what="the watchdog to end the show")
        # The grace period runs from the last video; the watchdog looks every second.
        assert time.monotonic() - gone <= max(STALE_S, GRACE_S) + 10
        async with prod.seed.state.ctx.uow(write=False) as uow:
            ends = list(
                await uow.session.scalars(
                    sa.select(AuditEntry.details).where(
                        AuditEntry.action == "session.end", AuditEntry.target_id == str(show.session_id)
                    )
                )
            )
        assert [d.get("via") for d in ends] == ["ingest_timeout"]  # one process ended it, once
        assert key not in prod.logs() and HOOK_SECRET not in prod.logs()
