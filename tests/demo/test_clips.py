"""The demo's shoppable clips: asked for by the seed around the ended show's marks, through the
clips action, and cut by the serving app's own cutter (ffmpeg), so `make demo` has clip pages."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from fieldcast.accounts.models import User
from fieldcast.clips.models import Clip, ClipState
from fieldcast.demo import seed as demo
from fieldcast.demo.catalog import ORGANISER_KEY
from fieldcast.demo.clips import MOST_CLIPS, seed_clips
from fieldcast.live.models import LiveSession, ProductMark
from tests.demo.conftest import ClientFactory, Seeded, all_rows

CUT_WITHIN_S = 120.0


async def _ready(seeded: Seeded) -> list[Clip]:
    deadline = asyncio.get_running_loop().time() + CUT_WITHIN_S
    while True:
        clips = await all_rows(seeded.app, Clip)
        if clips and all(c.state in (ClipState.READY, ClipState.FAILED) for c in clips):
            return clips
        assert asyncio.get_running_loop().time() < deadline, [(c.id, c.state) for c in clips]
        await asyncio.sleep(1.0)


async def test_the_seed_asks_for_clips_around_the_ended_shows_marks_and_the_app_cuts_them(
    seeded: Seeded, seeded_clients: ClientFactory
) -> None:
    clips = await _ready(seeded)
    assert len(clips) == MOST_CLIPS and all(c.is_demo for c in clips)
    assert {c.state for c in clips} == {ClipState.READY}, [(c.id, c.error) for c in clips]
    shows = {s.id: s for s in await all_rows(seeded.app, LiveSession)}
    marks = {(m.session_id, m.sku_id) for m in await all_rows(seeded.app, ProductMark)}
    for clip in clips:
        assert shows[clip.session_id].replay_duration_s is not None
        assert (clip.session_id, clip.sku_id) in marks  # sells what was explained then
        assert clip.duration_s is not None and 5 <= clip.duration_s <= 180
        assert (seeded.settings.resolved_media_dir / clip.video_path).stat().st_size > 0
    page = await seeded_clients().get(f"/clips/{clips[0].slug}")
    assert page.status_code == 200 and clips[0].title in page.text
    # The replay's room lists its clips for anyone, each linking its page.
    room = await seeded_clients().get(f"/live/{clips[0].session_id}")
    assert room.status_code == 200 and 'data-testid="room-clips"' in room.text
    assert all(f'href="/clips/{c.slug}"' in room.text for c in clips if c.session_id == clips[0].session_id)


async def test_seeding_again_asks_for_no_more_clips(seeded: Seeded) -> None:
    async with seeded.app.state.ctx.uow(write=False) as uow:
        organiser = await uow.session.scalar(
            sa.select(User).where(User.email == next(p.email for p in demo.PEOPLE if p.key == ORGANISER_KEY))
        )
    assert organiser is not None
    assert await seed_clips(seeded.app.state.ctx.uow, organiser, seeded.settings) == 0
    assert len(await all_rows(seeded.app, Clip)) == MOST_CLIPS
