"""Browser go-live on the embedded backend: webm chunks over the WebSocket (as MediaRecorder
sends them) become live HLS served by the app, the session goes live, and when the host stops
the show ends after the grace period and leaves a replay. Real uvicorn, real ffmpeg."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from fieldcast.live.models import ReplayState, SessionState
from fieldcast.media import ingest_ws
from fieldcast.media.ingest_ws import CLOSE_ENDED, CLOSE_NOT_ALLOWED, CLOSE_NOT_FOUND, CLOSE_NOT_SIGNED_IN
from tests.factories import schedule_show
from tests.media.conftest import Served, fresh_app, media_settings, serve, session_state, wait_for

pytestmark = pytest.mark.timeout(90)

SESSION_COOKIE = "fc_session"


@pytest.fixture
async def embedded(database_url: str, tmp_path: Path) -> AsyncIterator[Served]:
    settings = media_settings(database_url, tmp_path)
    app = await fresh_app(settings)
    async with serve(app, settings) as served:
        yield served


def ws_url(served: Served, session_id: int) -> str:
    return served.base_url.replace("http://", "ws://") + f"/ws/ingest/{session_id}"


def cookie_header(client: httpx.AsyncClient | None) -> dict[str, str]:
    if client is None:
        return {}
    return {"Cookie": f"{SESSION_COOKIE}={client.cookies[SESSION_COOKIE]}"}


# What MediaRecorder produces: Chrome/Firefox/Android live webm (VP8/Opus) in small clusters;
# Safari on iPhone fragmented MP4 (H.264/AAC).
RECORDER_OUTPUT = {
    "video/webm;codecs=vp8,opus": ["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "600k",
                                   "-c:a", "libopus", "-f", "webm", "-live", "1", "-cluster_time_limit", "250"],
    "video/mp4": ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-f", "mp4",
                  "-movflags", "frag_keyframe+empty_moov+default_base_moof", "-frag_duration", "250000"],
}  # fmt: skip


async def recorder(ffmpeg: str, mime: str) -> asyncio.subprocess.Process:
    """A stand-in for MediaRecorder: test picture and tone, paced in real time, to stdout."""
    return await asyncio.create_subprocess_exec(
        ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin",
        "-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
        "-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
        *RECORDER_OUTPUT[mime], "pipe:1",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def pump(proc: asyncio.subprocess.Process, ws: ClientConnection) -> None:
    assert proc.stdout is not None
    while chunk := await proc.stdout.read(64 * 1024):
        await ws.send(chunk)


async def statuses(ws: ClientConnection, into: list[dict[str, Any]]) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for message in ws:
            into.append(json.loads(message))


async def refusal(served: Served, session_id: int, client: httpx.AsyncClient | None) -> tuple[dict[str, Any], int]:
    async with connect(
        ws_url(served, session_id), additional_headers=cookie_header(client), origin=served.base_url
    ) as ws:  # type: ignore[arg-type]
        message = json.loads(await asyncio.wait_for(ws.recv(), 10))
        with contextlib.suppress(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
        assert ws.close_code is not None
        return message, ws.close_code


@pytest.mark.parametrize("mime", list(RECORDER_OUTPUT))
async def test_browser_go_live_makes_hls_then_a_replay(embedded: Served, ffmpeg: str, mime: str) -> None:
    show = await schedule_show(embedded.app, embedded.client, "golive")
    host = show.org["host"]
    publisher = await recorder(ffmpeg, mime)
    received: list[dict[str, Any]] = []
    try:
        async with connect(
            ws_url(embedded, show.session_id), additional_headers=cookie_header(host), origin=embedded.base_url
        ) as ws:  # type: ignore[arg-type]
            await ws.send(json.dumps({"mime": mime}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"status": "ready"}
            reader = asyncio.create_task(statuses(ws, received))
            feeder = asyncio.create_task(pump(publisher, ws))
            live_msg = await wait_for(
                lambda: next((m for m in received if m.get("status") == "live"), None), within_s=30, what="live"
            )
            playlist_url = f"/hls/live/{show.stream_name}/index.m3u8"
            assert live_msg["hls_url"] == playlist_url
            assert (await session_state(embedded.app, show.session_id)).state == SessionState.LIVE

            viewer = embedded.client()
            playlist = await viewer.get(playlist_url)
            assert playlist.status_code == 200
            assert playlist.headers["content-type"].startswith("application/vnd.apple.mpegurl")
            assert playlist.headers["cache-control"] == "no-cache"
            segment_name = next(line for line in playlist.text.splitlines() if line.endswith(".ts"))
            segment = await viewer.get(f"/hls/live/{show.stream_name}/{segment_name}")
            assert segment.status_code == 200
            assert segment.headers["content-type"] == "video/mp2t"
            assert segment.content[:1] == b"\x47"  # MPEG-TS sync byte
            feeder.cancel()
            await ws.close()
            reader.cancel()
    finally:
        with contextlib.suppress(ProcessLookupError):
            publisher.kill()
        await publisher.wait()

    # The host stopped: after the grace period (1 s here) the show ends and the replay is built.
    async def ended_with_replay() -> bool:
        live = await session_state(embedded.app, show.session_id)
        return live.state == SessionState.ENDED and live.replay_state == ReplayState.READY

    await wait_for(ended_with_replay, within_s=30, what="the show to end with a replay")
    live = await session_state(embedded.app, show.session_id)
    assert live.replay_duration_s is not None and live.replay_duration_s > 1
    replay = await embedded.client().get(f"/hls/replay/{show.stream_name}/index.m3u8")
    assert replay.status_code == 200
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in replay.text
    assert "#EXT-X-ENDLIST" in replay.text


async def test_refusals_have_their_close_codes(embedded: Served) -> None:
    show = await schedule_show(embedded.app, embedded.client, "refuse")
    message, code = await refusal(embedded, show.session_id, None)
    assert (message["status"], code) == ("error", CLOSE_NOT_SIGNED_IN)
    assert message["detail"]

    message, code = await refusal(embedded, show.session_id, show.org["outsider"])
    assert (message["status"], code) == ("error", CLOSE_NOT_ALLOWED)

    message, code = await refusal(embedded, 999_999, show.org["host"])
    assert code == CLOSE_NOT_FOUND

    r = await show.org["owner"].post(f"/api/v1/sessions/{show.session_id}/cancel", json={"reason": "weather"})
    assert r.status_code == 200, r.text
    message, code = await refusal(embedded, show.session_id, show.org["host"])
    assert code == CLOSE_ENDED


async def test_foreign_origin_is_refused_at_the_handshake(embedded: Served) -> None:
    show = await schedule_show(embedded.app, embedded.client, "origin")
    with pytest.raises(InvalidStatus) as refused:
        async with connect(
            ws_url(embedded, show.session_id),
            additional_headers=cookie_header(show.org["host"]),
            origin="https://evil.example",  # type: ignore[arg-type]
        ):
            pass
    assert refused.value.response.status_code == 403


async def test_unknown_format_is_refused(embedded: Served) -> None:
    show = await schedule_show(embedded.app, embedded.client, "format")
    async with connect(
        ws_url(embedded, show.session_id), additional_headers=cookie_header(show.org["host"]), origin=embedded.base_url
    ) as ws:  # type: ignore[arg-type]
        await ws.send(json.dumps({"mime": "video/quicktime"}))
        message = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert message["status"] == "error"
        with contextlib.suppress(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
        assert ws.close_code == 4415
    assert (await session_state(embedded.app, show.session_id)).state == SessionState.SCHEDULED


async def test_a_host_whose_role_is_removed_loses_the_browser_stream(
    embedded: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue #14 item 2: the go-live socket is a host command too. Refused at once after the
    host's role goes, and a stream already running is cut off at its next check."""
    monkeypatch.setattr(ingest_ws, "REAUTHORISE_S", 0.0)  # check before every chunk
    show = await schedule_show(embedded.app, embedded.client, "demoted")
    org = show.org
    async with connect(
        ws_url(embedded, show.session_id), additional_headers=cookie_header(org["host"]), origin=embedded.base_url
    ) as ws:  # type: ignore[arg-type]
        await ws.send(json.dumps({"mime": "video/webm;codecs=vp8,opus"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"status": "ready"}
        r = await org["owner"].delete(f"/api/v1/organisations/{org.slug}/members/{org.ids['host']}/roles/host")
        assert r.status_code == 204, r.text
        await ws.send(b"\x1a\x45\xdf\xa3")  # the start of a webm header: any chunk wakes the check
        message = json.loads(await asyncio.wait_for(ws.recv(), 10))
        with contextlib.suppress(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
    assert (message["status"], ws.close_code) == ("error", CLOSE_NOT_ALLOWED)
    message, code = await refusal(embedded, show.session_id, org["host"])
    assert (message["status"], code) == ("error", CLOSE_NOT_ALLOWED)
