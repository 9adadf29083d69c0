"""The ingest watchdog: a show whose stream is gone ends even when no callback ever says so.
Video is stood in for by files written into the show's live HLS folder (what nginx-rtmp does while
a stream runs); the callbacks are the ones nginx-rtmp sends (see test_hooks.py). Two app
processes on one database both run the watchdog: one of them ends the show, once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.app import create_app
from fieldcast.db.audit import AuditEntry
from fieldcast.live.models import ReplayState, SessionState
from tests.factories import Show
from tests.media.conftest import session_state, wait_for
from tests.media.test_hooks import caller, close_all, hook, keyed, new_show, nginx_form, running

pytestmark = pytest.mark.timeout(60)
# The end is taken under a row lock: PostgreSQL is where two processes really race for it.
ON_BOTH_BACKENDS = True

# The grace period runs from the last video: the show ends about `reconnect_grace_s` after it.
WATCHDOG = {"reconnect_grace_s": 2.0, "ingest_watchdog_s": 0.2, "ingest_stale_s": 1.0, "live_still_interval_s": 0}


@contextlib.asynccontextmanager
async def video(app: FastAPI, show: Show) -> AsyncIterator[Path]:
    """A stream that runs while the block runs: a new segment every 0.25 s in its live folder."""
    folder = app.state.ctx.settings.resolved_hls_dir / "live" / show.stream_name
    folder.mkdir(parents=True, exist_ok=True)

    async def write() -> None:
        n = 0
        while True:
            (folder / f"{n}.ts").write_bytes(b"\x47" * 188)
            (folder / "index.m3u8").write_text(f"#EXTM3U\n#EXTINF:1.0,\n{n}.ts\n")
            n += 1
            await asyncio.sleep(0.25)

    task = asyncio.create_task(write())
    try:
        yield folder
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def go_live(app: FastAPI, show: Show, key: str) -> None:
    async with caller(app) as nginx:
        assert (await hook(nginx, "on_publish", keyed(show, key))).status_code == 200
        relay = nginx_form(show.stream_name, app="show")
        assert (await hook(nginx, "on_relay_publish", relay)).status_code == 200


async def end_audits(app: FastAPI, session_id: int) -> list[str]:
    async with app.state.ctx.uow(write=False) as uow:
        rows = await uow.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "session.end", AuditEntry.target_id == str(session_id))
        )
        return [str(row.details.get("via")) for row in rows]


async def test_no_end_callback_the_watchdog_ends_the_show(database_url: str, tmp_path: Path) -> None:
    async with running(database_url, tmp_path, **WATCHDOG) as app:
        show, key, clients = await new_show(app, "dogend")
        quiet, _quiet_key, more = await new_show(app, "dogquiet")
        clients += more
        # Started in the console, OBS still connecting: no video yet is not a lost stream.
        assert (await quiet.org["host"].post(f"/api/v1/sessions/{quiet.session_id}/start")).status_code == 200
        await go_live(app, show, key)
        async with video(app, show):
            await asyncio.sleep(3.0)  # well past the stale time and the grace period, video flowing
            live = await session_state(app, show.session_id)
            assert (live.state, live.ingest_stopped_at) == (SessionState.LIVE, None)
        # The stream is gone and nginx never calls on_publish_done (it died, or every app was down).
        gone_at = asyncio.get_running_loop().time()

        async def ended() -> bool:
            current = await session_state(app, show.session_id)
            return current.state == SessionState.ENDED and current.replay_state != ReplayState.PROCESSING

        await wait_for(ended, within_s=15, every_s=0.1, what="the watchdog to end the show")
        took = asyncio.get_running_loop().time() - gone_at
        # The grace period from the last video, and a watchdog pass or two (one every 0.2 s).
        assert 2.0 - 0.3 <= took < 2.0 + 2.0, took
        assert await end_audits(app, show.session_id) == ["ingest_timeout"]
        assert (await session_state(app, quiet.session_id)).state == SessionState.LIVE
        await close_all(clients)


async def test_video_back_within_the_grace_period_keeps_the_show(database_url: str, tmp_path: Path) -> None:
    async with running(database_url, tmp_path, **{**WATCHDOG, "reconnect_grace_s": 3.0}) as app:
        show, key, clients = await new_show(app, "dogback")
        await go_live(app, show, key)
        async with video(app, show):
            await asyncio.sleep(0.5)

        async def drop_noted() -> bool:
            return (await session_state(app, show.session_id)).ingest_stopped_at is not None

        await wait_for(drop_noted, within_s=5, every_s=0.1, what="the watchdog to note the drop")
        await go_live(app, show, key)  # the publisher reconnects: nginx calls on_publish again
        async with video(app, show):
            await asyncio.sleep(4.0)  # past the grace period of the first drop
            live = await session_state(app, show.session_id)
            assert (live.state, live.ingest_stopped_at) == (SessionState.LIVE, None)
        await close_all(clients)


async def test_two_processes_watch_one_of_them_ends_the_show_once(database_url: str, tmp_path: Path) -> None:
    async with running(database_url, tmp_path, **WATCHDOG) as app:
        other = create_app(app.state.ctx.settings)  # a second process on the same database and folders
        async with other.router.lifespan_context(other):
            show, key, clients = await new_show(app, "dogtwo")
            await go_live(app, show, key)
            async with video(app, show):
                await asyncio.sleep(0.5)

            async def ended() -> Any:
                current = await session_state(other, show.session_id)
                return current.state == SessionState.ENDED and current.replay_state != ReplayState.PROCESSING

            await wait_for(ended, within_s=15, every_s=0.1, what="the show to end")
            await asyncio.sleep(1.0)  # both watchdogs have had more passes
            await app.state.ctx.media.drain(within_s=5)
            await other.state.ctx.media.drain(within_s=5)
            assert await end_audits(app, show.session_id) == ["ingest_timeout"]
            await close_all(clients)
