"""Clips fixtures: a show that really ran and ended with a real replay. A 20 s test recording
(ffmpeg's test picture and tone, encoded as the live pipeline does: H.264/AAC, a keyframe every
second) is written where the embedded ffmpeg writes a show's recordings; ending the show then
builds the replay through the app's own media backend, as after any show."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.live.models import LiveSession, ProductMark, ReplayState
from fieldcast.media.ffmpeg import encode_args, ffmpeg_executable
from fieldcast.media.replay import recording_path
from tests.factories import LiveOrg, MakeClient, live_session, make_live_org

RECORDING_S = 20
MARK_AT_S = 8.0


@dataclass
class EndedShow:
    org: LiveOrg
    session_id: int
    stream_name: str
    mark_id: int
    replay_s: float


def recording_args(target: Path, seconds: int = RECORDING_S) -> list[str]:
    """ffmpeg's arguments for a recording as the embedded pipeline makes one, without waiting in
    real time."""
    return [
        "-hide_banner",
        "-loglevel",
        "error",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x180:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        str(seconds),
        *encode_args(audio_input=1),
        "-preset",
        "ultrafast",
        "-f",
        "mpegts",
        str(target),
    ]


async def record_test_stream(executable: str, target: Path, seconds: int = RECORDING_S) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    proc = await asyncio.create_subprocess_exec(executable, *recording_args(target, seconds))
    assert await proc.wait() == 0


@pytest.fixture
async def ended_show(app: FastAPI, make_client: MakeClient) -> EndedShow:
    org = await make_live_org(app, make_client, "clips")
    session_id = await live_session(org)
    pinned = await org["host"].post(f"/api/v1/sessions/{session_id}/pin", json={"sku_id": org.inspected_sku})
    assert pinned.status_code == 201, pinned.text
    ctx = app.state.ctx
    async with ctx.uow() as uow:
        live = await uow.session.get(LiveSession, session_id)
        assert live is not None
        stream_name = live.stream_name
        # The host pinned it 8 s into the show (the pin above came at once).
        await uow.session.execute(
            sa.update(ProductMark).where(ProductMark.session_id == session_id).values(offset_s=MARK_AT_S)
        )
    await record_test_stream(ffmpeg_executable(""), recording_path(ctx.settings.resolved_recordings_dir, stream_name))
    ended = await org["host"].post(f"/api/v1/sessions/{session_id}/end")
    assert ended.status_code == 200, ended.text
    await ctx.media.drain(60)
    async with ctx.uow() as uow:
        live = await uow.session.get(LiveSession, session_id)
        assert live is not None and live.replay_state == ReplayState.READY, live and live.replay_state
        mark_id = await uow.session.scalar(sa.select(ProductMark.id).where(ProductMark.session_id == session_id))
        assert mark_id is not None and live.replay_duration_s is not None
        return EndedShow(org, session_id, stream_name, int(mark_id), float(live.replay_duration_s))
