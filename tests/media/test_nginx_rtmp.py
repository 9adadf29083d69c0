"""Production ingest, end to end: nginx with libnginx-mod-rtmp on free ports runs the generated
configuration, the app (real uvicorn) answers its callbacks, and ffmpeg publishes a test stream
under the session's stream name with its key as an argument. The session turns live, nginx
serves playable HLS under the public stream name, wrong and rotated-away keys are refused, and
stopping the stream ends the show after the grace period with a replay playlist. Nothing is
mocked."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from fieldcast.live.keys import publish_url
from fieldcast.live.models import ReplayState, SessionState
from fieldcast.media.nginx_config import NginxOptions, write_config
from tests.conftest import free_port, unavailable
from tests.factories import schedule_show
from tests.media.conftest import (
    NGINX,
    Served,
    fresh_app,
    media_settings,
    nginx_serving,
    serve,
    session_state,
    wait_for,
)

pytestmark = pytest.mark.timeout(120)

RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")
HOOK_SECRET = "rtmp-hook-secret"


@dataclass
class Nginx:
    rtmp_port: int
    http_port: int
    prefix: Path

    @property
    def rtmp_url(self) -> str:
        return f"rtmp://127.0.0.1:{self.rtmp_port}/live"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text()[-3000:] if path.exists() else ""


@pytest.fixture
def nginx_ports() -> tuple[int, int, int]:
    if not NGINX.exists():
        unavailable(f"{NGINX} is missing (apt-get install nginx libnginx-mod-rtmp)")
    if not RTMP_MODULE.exists():
        unavailable(f"{RTMP_MODULE} is missing (apt-get install libnginx-mod-rtmp)")
    return free_port(), free_port(), free_port()


@contextlib.asynccontextmanager
async def nginx_and_app(
    database_url: str, tmp_path: Path, ports: tuple[int, int, int]
) -> AsyncIterator[tuple[Nginx, Served]]:
    rtmp_port, http_port, app_port = ports
    ngx = Nginx(rtmp_port, http_port, tmp_path / "nginx")
    settings = media_settings(
        database_url,
        tmp_path / "data",
        rtmp_url=ngx.rtmp_url,
        hls_base_url=f"{ngx.http_url}/hls",
        media_hook_secret=HOOK_SECRET,
        reconnect_grace_s=1.0,
    )
    conf = write_config(
        settings,
        NginxOptions(
            rtmp_port=rtmp_port,
            http_port=http_port,
            hook_port=free_port(),
            app_urls=(f"http://127.0.0.1:{app_port}",),
            prefix=ngx.prefix,
            # As root, nginx's workers would drop to nobody, who cannot write into pytest's tmp dirs.
            user=getpass.getuser() if os.geteuid() == 0 else None,
        ),
        tmp_path / "nginx.conf",
    )
    async with nginx_serving(ngx.prefix, conf, rtmp_port):
        app = await fresh_app(settings)
        async with serve(app, settings, port=app_port) as served:
            yield ngx, served


async def publish(ffmpeg: str, url: str, seconds: float | None = None) -> asyncio.subprocess.Process:
    """An OBS stand-in: test picture and tone, H.264/AAC, keyframe every second, over RTMP."""
    duration = ["-t", str(seconds)] if seconds else []
    return await asyncio.create_subprocess_exec(
        ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin",
        "-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
        "-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
        *duration,
        "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25",
        "-c:a", "aac", "-b:a", "64k", "-f", "flv", url,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def refused(ffmpeg: str, url: str) -> str:
    """Publishing must fail quickly (nginx drops the connection when the hook says 403)."""
    proc = await publish(ffmpeg, url, seconds=8)
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode != 0, "publish with a bad key was accepted"
    return err.decode(errors="replace")


async def decodes(ffmpeg: str, data: bytes, tmp_path: Path) -> bool:
    segment = tmp_path / "segment.ts"
    segment.write_bytes(data)
    proc = await asyncio.create_subprocess_exec(
        ffmpeg, "-hide_banner", "-loglevel", "error", "-i", str(segment), "-map", "0:v:0", "-f", "null", "-",
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    return proc.returncode == 0 and not err.strip()


async def test_publish_with_key_goes_live_serves_hls_and_leaves_a_replay(
    database_url: str, tmp_path: Path, nginx_ports: tuple[int, int, int], ffmpeg: str
) -> None:
    async with nginx_and_app(database_url, tmp_path, nginx_ports) as (ngx, served):
        show = await schedule_show(served.app, served.client, "rtmp")
        host = show.org["host"]
        old_key = (await host.post(f"/api/v1/sessions/{show.session_id}/stream-key")).json()["stream_key"]
        r = await host.post(f"/api/v1/sessions/{show.session_id}/stream-key")  # rotate
        assert r.status_code == 201, r.text
        key = r.json()["stream_key"]
        assert r.json()["rtmp_url"] == ngx.rtmp_url

        assert r.json()["publish_url"] == publish_url(ngx.rtmp_url, show.stream_name, key)

        await refused(ffmpeg, publish_url(ngx.rtmp_url, show.stream_name, "fck_wrong-key"))
        await refused(ffmpeg, publish_url(ngx.rtmp_url, show.stream_name, old_key))
        await refused(ffmpeg, f"{ngx.rtmp_url}/{show.stream_name}")  # the public name alone
        await refused(ffmpeg, f"{ngx.rtmp_url}/{key}")  # the key as the name (nginx would log it)
        assert (await session_state(served.app, show.session_id)).state == SessionState.SCHEDULED

        publisher = await publish(ffmpeg, r.json()["publish_url"])
        try:

            async def is_live() -> bool:
                return (await session_state(served.app, show.session_id)).state == SessionState.LIVE

            await wait_for(is_live, within_s=20, what="the session to turn live")
            viewer = served.client()
            detail = (await viewer.get(f"/api/v1/sessions/{show.session_id}")).json()
            playlist_url = f"{ngx.http_url}/hls/live/{show.stream_name}/index.m3u8"
            assert detail["hls_url"] == playlist_url

            async def playlist_with_segments() -> httpx.Response | None:
                response = await viewer.get(playlist_url)
                listed = response.status_code == 200 and response.text.count(".ts") >= 2
                return response if listed else None

            playlist = await wait_for(playlist_with_segments, within_s=20, what=f"HLS at {playlist_url}")
            assert playlist.headers["content-type"] == "application/vnd.apple.mpegurl"
            assert playlist.headers["cache-control"] == "no-cache"
            segment_name = [line for line in playlist.text.splitlines() if line.endswith(".ts")][-1]
            segment = await viewer.get(f"{ngx.http_url}/hls/live/{show.stream_name}/{segment_name}")
            assert segment.status_code == 200
            assert segment.headers["content-type"] == "video/mp2t"
            assert await decodes(ffmpeg, segment.content, tmp_path)
        finally:
            if publisher.returncode is None:
                publisher.terminate()
            await asyncio.wait_for(publisher.communicate(), 15)

        # The stream stopped: publish_done, 1 s grace, the show ends, the replay is built.
        async def ended_with_replay() -> bool:
            live = await session_state(served.app, show.session_id)
            return live.state == SessionState.ENDED and live.replay_state != ReplayState.PROCESSING

        await wait_for(ended_with_replay, within_s=40, what="the show to end and its replay to be built")
        live = await session_state(served.app, show.session_id)
        assert live.replay_state == ReplayState.READY, ngx.error_log()
        assert live.replay_duration_s is not None and live.replay_duration_s > 1
        replay = await served.client().get(f"{ngx.http_url}/hls/replay/{show.stream_name}/index.m3u8")
        assert replay.status_code == 200
        assert "#EXT-X-PLAYLIST-TYPE:VOD" in replay.text and "#EXT-X-ENDLIST" in replay.text

        # The key never reached a public path: HLS folders and recordings use the stream name.
        data = served.settings.data_dir
        assert not [p for p in data.rglob("*") if key in p.name or old_key in p.name]
        # The replay was built from recordings under the stream name; verified, they are deleted
        # (FIELDCAST_RECORDING_KEEP_DAYS=0).
        recordings = served.settings.resolved_recordings_dir

        def recordings_gone() -> bool:
            return not any(recordings.glob(f"{show.stream_name}-*"))

        await wait_for(recordings_gone, within_s=30, what="the verified replay's recordings to be deleted")
        # A revoked key (ended show) cannot publish again.
        await refused(ffmpeg, publish_url(ngx.rtmp_url, show.stream_name, key))
        # Neither nginx's logs nor the app's callbacks' URLs held a key or the callback secret.
        logs = "".join(p.read_text(errors="replace") for p in ngx.prefix.glob("*.log"))
        assert key not in logs and old_key not in logs and HOOK_SECRET not in logs


async def test_app_relays_demo_video_under_its_internal_name(
    database_url: str, tmp_path: Path, nginx_ports: tuple[int, int, int]
) -> None:
    """In nginx mode the app's own sources (demo video, browser go-live) publish to nginx like
    OBS, under a signed internal name; ending the show from the console stops them."""
    async with nginx_and_app(database_url, tmp_path, nginx_ports) as (ngx, served):
        show = await schedule_show(served.app, served.client, "relay")
        await served.app.state.ctx.media.start_test_stream(show.session_id, show.stream_name)

        async def is_live() -> bool:
            return (await session_state(served.app, show.session_id)).state == SessionState.LIVE

        await wait_for(is_live, within_s=20, what="the session to turn live")
        playlist_url = f"{ngx.http_url}/hls/live/{show.stream_name}/index.m3u8"
        viewer = served.client()

        async def listed() -> bool:
            response = await viewer.get(playlist_url)
            return response.status_code == 200 and ".ts" in response.text

        await wait_for(listed, within_s=20, what=f"HLS at {playlist_url}")
        r = await show.org["host"].post(f"/api/v1/sessions/{show.session_id}/end")
        assert r.status_code == 200, r.text

        async def replay_done() -> bool:
            return (await session_state(served.app, show.session_id)).replay_state != ReplayState.PROCESSING

        await wait_for(replay_done, within_s=40, what="the replay")
        assert (await session_state(served.app, show.session_id)).replay_state == ReplayState.READY
