"""Live stills: a frame of a live room's real HLS (the embedded backend's own pipeline, real
ffmpeg) becomes a 480 px JPEG under the media folder that the room card and /media serve; a grab
that fails or hangs leaves no still and raises nothing; the rounds go on after a failing one and
end with the app."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image

from fieldcast.app import create_app
from fieldcast.config import Settings
from fieldcast.db.uow import UnitOfWork
from fieldcast.live.models import SessionState
from fieldcast.live.paths import still_media_path
from fieldcast.media.stills import STILL_WIDTH, LiveStills
from tests.factories import schedule_show
from tests.media.conftest import session_state, wait_for

pytestmark = pytest.mark.timeout(120)


def _stills(app: FastAPI) -> LiveStills:
    stills: LiveStills = app.state.ctx.media.stills
    return stills


async def test_a_still_is_grabbed_from_the_live_hls_and_shown_on_the_rooms_card(
    app: FastAPI, make_client: Callable[[], httpx.AsyncClient], settings: Settings
) -> None:
    show = await schedule_show(app, make_client, "stills")
    await app.state.ctx.media.start_test_stream(show.session_id, show.stream_name)

    async def is_live() -> bool:
        return (await session_state(app, show.session_id)).state == SessionState.LIVE

    await wait_for(is_live, within_s=30, what="the session to turn live on its test stream")
    target = settings.resolved_media_dir / still_media_path(show.session_id)
    assert not target.exists()

    assert await _stills(app).grab_round() == 1

    with Image.open(target) as still:
        assert still.format == "JPEG"
        assert still.size == (STILL_WIDTH, 270)  # the 640×360 test picture, scaled down
        # The test source's colour bars, not a black or grey frame.
        assert len(still.convert("RGB").resize((48, 27)).getcolors(48 * 27) or []) > 20
    assert not [p.name for p in target.parent.iterdir() if p.name.startswith(".")]  # no scratch file left

    viewer = make_client()
    page = (await viewer.get("/")).text
    card = page.split(f'data-session-id="{show.session_id}"', 1)[1].split("</li>", 1)[0]
    url = f"/media/stills/{show.session_id}.jpg?v={target.stat().st_mtime_ns // 1_000_000}"
    assert f'src="{url}"' in card and 'data-picture="still"' in card
    served = await viewer.get(url)
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    assert served.content == target.read_bytes()

    # Within half an interval of the last still (another process took it): left alone.
    _stills(app).every_s = 60.0
    assert await _stills(app).grab_round() == 0


async def test_a_failing_or_hanging_grab_leaves_no_still_and_raises_nothing(
    tmp_path: Path, ffmpeg: str, caplog: pytest.LogCaptureFixture
) -> None:
    hls, media = tmp_path / "hls", tmp_path / "media"

    def stills(binary: str, timeout_s: float = 10.0) -> LiveStills:
        return LiveStills(lambda: binary, _no_uow, hls_dir=hls, media_dir=media, every_s=60, timeout_s=timeout_s)

    (media / "stills").mkdir(parents=True)
    broken = hls / "live" / "broken"
    broken.mkdir(parents=True)
    (broken / "index.m3u8").write_text("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n0.ts\n#EXT-X-ENDLIST\n")
    (broken / "0.ts").write_bytes(b"not a transport stream" * 100)
    # A segment that never delivers a byte: ffmpeg blocks opening the pipe until it is killed.
    stuck = hls / "live" / "stuck"
    stuck.mkdir(parents=True)
    (stuck / "index.m3u8").write_text("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n0.ts\n")
    os.mkfifo(stuck / "0.ts")

    with caplog.at_level(logging.WARNING, logger="fieldcast.media.stills"):
        assert await stills(ffmpeg).grab(1, "broken") is False
        assert await stills(str(tmp_path / "no-ffmpeg")).grab(2, "broken") is False
        started = asyncio.get_running_loop().time()
        assert await stills(ffmpeg, timeout_s=1.0).grab(3, "stuck") is False
        assert asyncio.get_running_loop().time() - started < 10  # the deadline, then a kill
        assert await stills(ffmpeg).grab(4, "no-such-stream") is False  # no HLS: skipped quietly

    assert list((media / "stills").iterdir()) == []
    assert "session 1 failed" in caplog.text
    assert "session 2: ffmpeg could not run" in caplog.text
    assert "timed out" in caplog.text
    assert "session 4" not in caplog.text


def _no_uow(*, write: bool = True) -> UnitOfWork:
    raise ConnectionError("the database is away")


async def test_the_rounds_go_on_after_a_failing_one_and_end_with_the_app(tmp_path: Path, settings: Settings) -> None:
    calls = 0

    def failing_uow(*, write: bool = True) -> UnitOfWork:
        nonlocal calls
        calls += 1
        raise ConnectionError("the database is away")

    stills = LiveStills(lambda: "ffmpeg", failing_uow, hls_dir=tmp_path, media_dir=tmp_path, every_s=0.02)
    task = asyncio.create_task(stills.run())
    await wait_for(lambda: calls >= 3, within_s=5, what="three rounds")
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    app = create_app(settings.model_copy(update={"live_still_interval_s": 30.0}))
    async with app.router.lifespan_context(app):
        running = app.state.ctx.media._stills_task
        assert running is not None and not running.done()
    assert running.done()
    off = create_app(settings.model_copy(update={"live_still_interval_s": 0.0}))
    async with off.router.lifespan_context(off):
        assert off.state.ctx.media._stills_task is None
