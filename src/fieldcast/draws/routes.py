"""Lucky draws over HTTP: the JSON API under /api/v1. Thin: parse, call one action or query, return.

Reading a draw and its entrant list needs no account: anyone may verify it."""

from __future__ import annotations

from fastapi import APIRouter

from fieldcast.accounts.auth import CurrentUser
from fieldcast.db.uow import UnitOfWork
from fieldcast.draws import actions as a
from fieldcast.draws import queries as q
from fieldcast.draws import schemas as s
from fieldcast.draws.models import LuckyDraw
from fieldcast.errors import NotFound
from fieldcast.i18n import N_
from fieldcast.inputs import Id
from fieldcast.live.queries import load_session
from fieldcast.web.api import PROBLEMS
from fieldcast.web.deps import Uow

api = APIRouter(prefix="/api/v1", responses=PROBLEMS, tags=["draws"])


async def _draw_or_404(uow: UnitOfWork, draw_id: Id) -> LuckyDraw:
    draw = await q.load_draw(uow.session, draw_id)
    if draw is None:
        raise NotFound(N_("No such draw."))
    return draw


async def _out(uow: UnitOfWork, draw: LuckyDraw) -> s.DrawOut:
    await uow.session.flush()
    return await q.draw_out(uow.session, draw)


@api.post("/sessions/{session_id}/draws", response_model=s.DrawOut, status_code=201)
async def api_create_draw(session_id: Id, data: s.DrawIn, uow: Uow, user: CurrentUser) -> s.DrawOut:
    """Announce a draw: prize, declared value (at most 50,000 yuan), winners, entry rule."""
    live = await load_session(uow.session, session_id)
    if live is None:
        raise NotFound(N_("No such session."))
    return await _out(uow, await a.create_draw(uow, user, live, data))


@api.get("/sessions/{session_id}/draws", response_model=list[s.DrawOut])
async def api_session_draws(session_id: Id, uow: Uow) -> list[s.DrawOut]:
    if await load_session(uow.session, session_id) is None:
        raise NotFound(N_("No such session."))
    return await q.draws_of_session(uow.session, session_id)


@api.get("/draws/{draw_id}", response_model=s.DrawOut)
async def api_draw(draw_id: Id, uow: Uow) -> s.DrawOut:
    """The public view; `seed` is null until the draw is drawn (or cancelled after opening)."""
    return await q.draw_out(uow.session, await _draw_or_404(uow, draw_id))


@api.get("/draws/{draw_id}/entrants", response_model=s.EntrantList)
async def api_draw_entrants(draw_id: Id, uow: Uow) -> s.EntrantList:
    """The published entrant list in the order the winner algorithm uses (ascending user id)."""
    return await q.entrants_of(uow.session, await _draw_or_404(uow, draw_id))


@api.post("/draws/{draw_id}/open", response_model=s.DrawOut)
async def api_open_draw(draw_id: Id, uow: Uow, user: CurrentUser, data: s.OpenIn | None = None) -> s.DrawOut:
    """Open entries; the hash of the server seed is published now."""
    draw = await a.open_draw(uow, user, await _draw_or_404(uow, draw_id), duration_s=data.duration_s if data else None)
    return await _out(uow, draw)


@api.post("/draws/{draw_id}/enter", response_model=s.EnterOut)
async def api_enter_draw(draw_id: Id, uow: Uow, user: CurrentUser) -> s.EnterOut:
    """Enter a presence draw from the room (keyword draws are entered by commenting the keyword).
    No purchase is required. Entering twice changes nothing."""
    entrant, created = await a.enter_draw(uow, user, await _draw_or_404(uow, draw_id), present=True)
    return s.EnterOut(draw_id=draw_id, created=created, label=entrant.display_label)


@api.post("/draws/{draw_id}/draw", response_model=s.DrawOut)
async def api_draw_winners(draw_id: Id, uow: Uow, user: CurrentUser) -> s.DrawOut:
    """Draw the winners and reveal the seed."""
    return await _out(uow, await a.draw_winners(uow, user, await _draw_or_404(uow, draw_id)))


@api.post("/draws/{draw_id}/cancel", response_model=s.DrawOut)
async def api_cancel_draw(draw_id: Id, data: s.CancelIn, uow: Uow, user: CurrentUser) -> s.DrawOut:
    return await _out(uow, await a.cancel_draw(uow, user, await _draw_or_404(uow, draw_id), data.reason))
