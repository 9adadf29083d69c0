"""Where the demo's shoppable clips are to be cut: around each "explaining now" mark of the ended
demo shows whose replay is ready, a few seconds before the mark to a few after, inside the
replay. The clips capability (#19 point 7) cuts them through its own action when it lands; the
demo seed then calls it for each window (see the report of the `demo` branch)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from fieldcast.db.uow import UnitOfWork
from fieldcast.live.models import LiveSession, ProductMark, ReplayState, SessionState

BEFORE_S = 2.0
AFTER_S = 12.0


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
