"""Where the demo's shoppable clips are to be cut: around each "explaining now" mark of the ended
demo shows whose replay is ready, a few seconds before the mark to a few after, inside the
replay. The seed asks for them through the clips action (seed_clips); the serving app's cutter
makes them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from fieldcast.accounts.models import User
from fieldcast.clips.actions import create_clip
from fieldcast.clips.models import Clip
from fieldcast.clips.schemas import ClipIn
from fieldcast.config import Settings
from fieldcast.db.uow import UnitOfWork
from fieldcast.live.models import LiveSession, ProductMark, ReplayState, SessionState

BEFORE_S = 2.0
AFTER_S = 12.0
MOST_CLIPS = 3


@dataclass(frozen=True)
class ClipWindow:
    session_id: int
    organisation_id: int
    sku_id: int
    mark_id: int
    start_s: float  # in the replay
    end_s: float


async def clip_windows(uow_factory: Callable[..., UnitOfWork]) -> list[ClipWindow]:
    """One window per mark of every ended demo show with a ready replay, clamped to the replay."""
    async with uow_factory(write=False) as uow:
        rows = (
            await uow.session.execute(
                sa.select(LiveSession.id, LiveSession.organisation_id, LiveSession.replay_duration_s, ProductMark)
                .join(ProductMark, ProductMark.session_id == LiveSession.id)
                .where(
                    LiveSession.is_demo.is_(True),
                    LiveSession.state == SessionState.ENDED,
                    LiveSession.replay_state == ReplayState.READY,
                )
                .order_by(LiveSession.id, ProductMark.offset_s, ProductMark.id)
            )
        ).all()
    windows: list[ClipWindow] = []
    for session_id, organisation_id, duration_s, mark in rows:
        end = mark.offset_s + AFTER_S
        if duration_s is not None:
            end = min(end, duration_s)
        start = max(0.0, mark.offset_s - BEFORE_S)
        if end > start:
            windows.append(ClipWindow(session_id, organisation_id, mark.sku_id, mark.id, start, end))
    return windows


async def seed_clips(
    uow_factory: Callable[..., UnitOfWork], cutter: User, settings: Settings, *, most: int = MOST_CLIPS
) -> int:
    """Once: ask for a clip around each of the first `most` windows, through the clips action as
    the demo organiser, marked demo. The rows wait as `pending`; the serving app's cutter makes
    them (ffmpeg, off the request path) as soon as it starts. How many clips were asked for."""
    async with uow_factory(write=False) as uow:
        if await uow.session.scalar(sa.select(sa.func.count(Clip.id)).where(Clip.is_demo.is_(True))):
            return 0
    asked = 0
    for window in (await clip_windows(uow_factory))[:most]:
        async with uow_factory() as uow:
            data = ClipIn(start_s=window.start_s, end_s=window.end_s, sku_id=window.sku_id)
            await create_clip(
                uow,
                cutter,
                window.session_id,
                data,
                lead_s=settings.clip_lead_s,
                around_s=settings.clip_around_length_s,
                is_demo=True,
            )
        asked += 1
    return asked
