"""Reads of lucky draws: the public view of a draw, a session's draws, the published entrant list."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.draws import schemas as s
from fieldcast.draws.models import DrawEntrant, DrawState, DrawWinner, LuckyDraw

# The seed becomes public once it can no longer change anything: after the draw, or after a
# cancellation (so the would-be winners of a cancelled draw can be checked too).
SEED_PUBLIC = (DrawState.DRAWN, DrawState.CANCELLED)


async def load_draw(session: AsyncSession, draw_id: int) -> LuckyDraw | None:
    return await session.get(LuckyDraw, draw_id)


def public_seed(draw: LuckyDraw) -> str | None:
    return draw.seed if draw.state in SEED_PUBLIC else None


async def draws_out(session: AsyncSession, draws: Sequence[LuckyDraw]) -> list[s.DrawOut]:
    """Public views of several draws in two queries (entrant counts, winners)."""
    ids = [d.id for d in draws]
    if not ids:
        return []
    counts: dict[int, int] = {
        draw_id: count
        for draw_id, count in await session.execute(
            sa.select(DrawEntrant.draw_id, sa.func.count())
            .where(DrawEntrant.draw_id.in_(ids))
            .group_by(DrawEntrant.draw_id)
        )
    }
    winners: dict[int, list[s.WinnerOut]] = defaultdict(list)
    for w in await session.scalars(
        sa.select(DrawWinner).where(DrawWinner.draw_id.in_(ids)).order_by(DrawWinner.draw_id, DrawWinner.rank)
    ):
        winners[w.draw_id].append(s.WinnerOut(rank=w.rank, user_id=w.user_id, label=w.display_label))
    return [
        s.DrawOut(
            id=d.id,
            session_id=d.session_id,
            prize_title=d.prize_title,
            prize_value_fen=d.prize_value_fen,
            winners_count=d.winners_count,
            entry_rule=d.entry_rule,
            keyword=d.keyword,
            terms=d.terms,
            state=d.state,
            seed_hash=d.seed_hash,
            seed=public_seed(d),
            created_at=d.created_at,
            opened_at=d.opened_at,
            closes_at=d.closes_at,
            drawn_at=d.drawn_at,
            cancelled_at=d.cancelled_at,
            cancel_reason=d.cancel_reason,
            entrant_count=counts.get(d.id, 0),
            winners=winners.get(d.id, []),
            entrants_url=f"/api/v1/draws/{d.id}/entrants",
        )
        for d in draws
    ]


async def draw_out(session: AsyncSession, draw: LuckyDraw) -> s.DrawOut:
    return (await draws_out(session, [draw]))[0]


async def draws_of_session(session: AsyncSession, session_id: int) -> list[s.DrawOut]:
    draws = list(
        await session.scalars(sa.select(LuckyDraw).where(LuckyDraw.session_id == session_id).order_by(LuckyDraw.id))
    )
    return await draws_out(session, draws)


async def entrants_of(session: AsyncSession, draw: LuckyDraw) -> s.EntrantList:
    """The published entrant list, ascending by user id (the order pick_winners uses)."""
    rows = await session.scalars(
        sa.select(DrawEntrant).where(DrawEntrant.draw_id == draw.id).order_by(DrawEntrant.user_id)
    )
    entrants = [s.EntrantOut(user_id=e.user_id, label=e.display_label, entered_at=e.entered_at) for e in rows]
    return s.EntrantList(draw_id=draw.id, state=draw.state, count=len(entrants), entrants=entrants)


async def entered_draw_ids(session: AsyncSession, user_id: int, session_id: int) -> set[int]:
    """The show's draws the user has entered (the room's cards say "you're in")."""
    rows = await session.scalars(
        sa.select(DrawEntrant.draw_id)
        .join(LuckyDraw, LuckyDraw.id == DrawEntrant.draw_id)
        .where(DrawEntrant.user_id == user_id, LuckyDraw.session_id == session_id)
    )
    return set(rows)
