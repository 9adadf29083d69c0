"""Retention: raw recordings go once their replay is verified playable (after
FIELDCAST_RECORDING_KEEP_DAYS), a replay that does not verify keeps them, and the live HLS folders
of ended shows are removed, by the app itself and by `fieldcast media-gc`. Real ffmpeg makes a
real show (the embedded backend's test stream) and its replay."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from fieldcast.cli import cli
from fieldcast.live.models import ReplayState, SessionState
from fieldcast.media import retention
from fieldcast.media.replay import recordings_of
from tests.conftest import TEST_SECRET
from tests.factories import Show
from tests.media.conftest import session_state, wait_for
from tests.media.test_hooks import close_all, new_show, running

pytestmark = pytest.mark.timeout(120)

QUIET = {"live_still_interval_s": 0, "media_gc_interval_s": 0}


async def show_with_replay(app: FastAPI, slug: str) -> tuple[Show, list[httpx.AsyncClient]]:
    """A show that streamed a few seconds of test video, ended, with its replay ready."""
    show, _key, clients = await new_show(app, slug)
    await app.state.ctx.media.start_test_stream(show.session_id, show.stream_name)

    async def is_live() -> bool:
        return (await session_state(app, show.session_id)).state == SessionState.LIVE

    await wait_for(is_live, within_s=30, what="the test stream to go live")
    await asyncio.sleep(3)  # a few seconds of video
    r = await show.org["host"].post(f"/api/v1/sessions/{show.session_id}/end")
    assert r.status_code == 200, r.text

    async def replay_done() -> bool:
        return (await session_state(app, show.session_id)).replay_state != ReplayState.PROCESSING

    await wait_for(replay_done, within_s=60, what="the replay")
    assert (await session_state(app, show.session_id)).replay_state == ReplayState.READY
    await app.state.ctx.media.drain(within_s=30)
    return show, clients


async def test_recordings_are_kept_n_days_then_go_once_the_replay_verifies(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running(database_url, tmp_path, recording_keep_days=2, **QUIET) as app:
        settings = app.state.ctx.settings
        show, clients = await show_with_replay(app, "keepdays")
        recordings = recordings_of(settings.resolved_recordings_dir, show.stream_name)
        assert recordings  # kept: two days have not passed
        live_folder = settings.resolved_hls_dir / "live" / show.stream_name
        assert live_folder.is_dir()

        media = app.state.ctx.media
        report = await media.collect()
        assert report.recordings_deleted == [] and recordings_of(settings.resolved_recordings_dir, show.stream_name)
        assert live_folder.is_dir()  # written less than a minute ago: left alone
        monkeypatch.setattr(retention, "LIVE_FOLDER_QUIET_S", 0.0)

        later = datetime.now(UTC) + timedelta(days=3)
        replay = settings.resolved_hls_dir / "replay" / show.stream_name
        segment = sorted(replay.glob("*.ts"))[0]
        hidden = segment.rename(segment.with_suffix(".away"))
        async with app.state.ctx.uow(write=False) as uow:
            broken = await retention.collect(uow.session, settings, media.ffmpeg, now=later)
        # A replay missing a segment is not playable: its recordings stay, the live folder goes.
        assert broken.replays_unverified == [show.stream_name] and broken.recordings_deleted == []
        assert recordings_of(settings.resolved_recordings_dir, show.stream_name) == recordings
        assert broken.live_folders_removed == [show.stream_name] and not live_folder.exists()

        hidden.rename(segment)
        async with app.state.ctx.uow(write=False) as uow:
            cleaned = await retention.collect(uow.session, settings, media.ffmpeg, now=later)
        assert sorted(cleaned.recordings_deleted) == sorted(p.name for p in recordings)
        assert cleaned.bytes_freed > 0
        assert recordings_of(settings.resolved_recordings_dir, show.stream_name) == []
        assert (replay / "index.m3u8").is_file()  # the replay itself is never touched
        await close_all(clients)


async def test_with_no_days_to_keep_recordings_go_when_the_replay_is_ready(database_url: str, tmp_path: Path) -> None:
    async with running(database_url, tmp_path, recording_keep_days=0, **QUIET) as app:
        settings = app.state.ctx.settings
        show, clients = await show_with_replay(app, "keepnone")
        assert recordings_of(settings.resolved_recordings_dir, show.stream_name) == []
        assert (settings.resolved_hls_dir / "replay" / show.stream_name / "index.m3u8").is_file()
        await close_all(clients)


def test_media_gc_command_removes_the_live_folders_of_gone_shows(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIELDCAST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FIELDCAST_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("FIELDCAST_DATABASE_URL", database_url)
    monkeypatch.setenv("FIELDCAST_REDIS_URL", "")
    live = tmp_path / "data" / "hls" / "live"
    old, fresh = live / "no-such-show-old", live / "no-such-show-fresh"
    for folder in (old, fresh):
        folder.mkdir(parents=True)
        (folder / "index.m3u8").write_text("#EXTM3U\n")
    an_hour_ago = time.time() - 3600
    for path in (old / "index.m3u8", old):
        os.utime(path, (an_hour_ago, an_hour_ago))
    stray = tmp_path / "data" / "recordings" / "no-such-show-1700000000.flv"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"FLV")

    result = CliRunner().invoke(cli, ["media-gc"])
    assert result.exit_code == 0, result.output
    assert "0 recordings deleted" in result.output and "1 live HLS folders removed" in result.output
    assert not old.exists() and fresh.is_dir()
    assert stray.exists()  # a recording of no known show is never deleted
