"""Room chat over HTTP: the JSON API under /api/v1 (`api`) and the replay's chat transcript page
(`pages`). Thin: parse, call one action or query, return."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from fieldcast.accounts.auth import CurrentUser
from fieldcast.chat import actions as a
from fieldcast.chat import queries as q
from fieldcast.chat import schemas as s
from fieldcast.chat.models import BannedWord, ChatMessage
from fieldcast.chat.ratelimit import RateLimiter
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import NotFound
from fieldcast.i18n import N_
from fieldcast.inputs import BIGINT_MAX, Id
from fieldcast.live.routes import session_or_404
from fieldcast.web.api import PROBLEMS, Limit, Offset
from fieldcast.web.context import context_of
from fieldcast.web.deps import Ctx, Uow
from fieldcast.web.templating import render

api = APIRouter(prefix="/api/v1", responses=PROBLEMS, tags=["chat"])
pages = APIRouter(include_in_schema=False)

HistoryLimit = Annotated[int, Query(ge=1, le=q.HISTORY_MAX)]
AfterId = Annotated[int, Query(ge=0, le=BIGINT_MAX)]


def chat_limiter(request: Request) -> RateLimiter:
    """The app's chat rate limiter (in-process or Redis), made once in create_app."""
    limiter: RateLimiter = context_of(request).chat_limiter
    return limiter


async def _message_or_404(uow: UnitOfWork, message_id: Id) -> ChatMessage:
    message = await q.load_message(uow.session, message_id)
    if message is None:
        raise NotFound(N_("No such message."))
    return message


# -- messages -------------------------------------------------------------------------------------


@api.post("/sessions/{session_id}/chat", response_model=s.ChatPostedOut, status_code=201)
async def api_post(session_id: Id, data: s.ChatIn, request: Request, uow: Uow, user: CurrentUser) -> s.ChatPostedOut:
    """Post a comment (signed in; at most 200 characters; a burst of 5, then one per 2 s).
    Hosts get Advertising-Law warnings on their own message in `warnings`."""
    live = await session_or_404(uow, session_id)
    return await a.send_message(uow, chat_limiter(request), user, live, data.body)


@api.get("/sessions/{session_id}/chat", response_model=s.ChatHistory)
async def api_history(
    session_id: Id, uow: Uow, user: CurrentUser, after_id: AfterId = 0, limit: HistoryLimit = 50
) -> s.ChatHistory:
    """The room's comments in order, for the replay. Removed ones are marked removed; their text
    is shown to the room's moderators only."""
    live = await session_or_404(uow, session_id)
    moderator = await a.is_moderator(uow, user, live)
    return await q.history(uow.session, live.id, after_id=after_id, limit=limit, show_removed_text=moderator)


@api.post("/chat/{message_id}/remove", response_model=s.ChatMessageOut)
async def api_remove(message_id: Id, data: s.RemoveIn, uow: Uow, user: CurrentUser) -> s.ChatMessageOut:
    """Remove a comment with a reason (hosts, organisers, supervisors). Logged with its text."""
    message = await _message_or_404(uow, message_id)
    live = await session_or_404(uow, message.session_id)
    await a.delete_message(uow, user, live, message, data.reason)
    return await q.one_message(uow.session, message, show_removed_text=True)


# -- mutes ----------------------------------------------------------------------------------------


@api.get("/sessions/{session_id}/mutes", response_model=list[s.MuteOut])
async def api_mutes(session_id: Id, uow: Uow, user: CurrentUser) -> list[s.MuteOut]:
    live = await session_or_404(uow, session_id)
    await a.require_moderator(uow, user, live)
    return [s.MuteOut.model_validate(m) for m in await q.active_mutes(uow.session, live.id)]


@api.post("/sessions/{session_id}/mutes", response_model=s.MuteOut, status_code=201)
async def api_mute(session_id: Id, data: s.MuteIn, uow: Uow, user: CurrentUser) -> s.MuteOut:
    """Mute a user in this room for `minutes`, or for the rest of the show. Needs a reason."""
    live = await session_or_404(uow, session_id)
    mute = await a.mute_user(uow, user, live, data.user_id, data.reason, data.minutes)
    return s.MuteOut.model_validate(mute)


@api.delete("/sessions/{session_id}/mutes/{user_id}", status_code=204)
async def api_unmute(session_id: Id, user_id: Id, uow: Uow, user: CurrentUser) -> Response:
    live = await session_or_404(uow, session_id)
    await a.unmute_user(uow, user, live, user_id)
    return Response(status_code=204)


@api.post("/chat/mutes", response_model=s.MuteOut, status_code=201)
async def api_mute_platform(data: s.MuteIn, uow: Uow, user: CurrentUser) -> s.MuteOut:
    """Platform admins: mute a user in every room."""
    mute = await a.mute_platform_wide(uow, user, data.user_id, data.reason, data.minutes)
    return s.MuteOut.model_validate(mute)


@api.delete("/chat/mutes/{user_id}", status_code=204)
async def api_unmute_platform(user_id: Id, uow: Uow, user: CurrentUser) -> Response:
    await a.unmute_platform_wide(uow, user, user_id)
    return Response(status_code=204)


@api.get("/sessions/{session_id}/moderation-log", response_model=list[s.ModerationEntryOut])
async def api_moderation_log(
    session_id: Id, uow: Uow, user: CurrentUser, limit: Limit = 50, offset: Offset = 0
) -> list[s.ModerationEntryOut]:
    """Every removal and mute in this room, newest first, with who, when, why and the removed text."""
    live = await session_or_404(uow, session_id)
    await a.require_moderator(uow, user, live)
    return await q.moderation_log(uow.session, live.id, limit=limit, offset=offset)


# -- banned words ---------------------------------------------------------------------------------


@api.get("/chat/banned-words", response_model=list[s.BannedWordOut])
async def api_banned_words(uow: Uow, user: CurrentUser, organisation_id: Id | None = None) -> list[s.BannedWordOut]:
    """The platform list (no organisation_id; platform admins) or one organisation's list."""
    await a.require_word_list_manager(uow, user, organisation_id)
    return [s.BannedWordOut.model_validate(w) for w in await q.list_banned_words(uow.session, organisation_id)]


@api.post("/chat/banned-words", response_model=s.BannedWordOut, status_code=201)
async def api_add_banned_word(data: s.BannedWordIn, uow: Uow, user: CurrentUser) -> s.BannedWordOut:
    return s.BannedWordOut.model_validate(await a.add_banned_word(uow, user, data))


@api.delete("/chat/banned-words/{word_id}", status_code=204)
async def api_remove_banned_word(word_id: Id, uow: Uow, user: CurrentUser) -> Response:
    row = await uow.session.get(BannedWord, word_id)
    if row is None:
        raise NotFound(N_("No such word."))
    await a.remove_banned_word(uow, user, row)
    return Response(status_code=204)


# -- pages ----------------------------------------------------------------------------------------


@pages.get("/live/{session_id}/chat")
async def chat_page(
    session_id: Id, request: Request, uow: Uow, ctx: Ctx, user: CurrentUser, after_id: AfterId = 0
) -> Response:
    """The comment transcript of a room (what the replay shows beside the video), server-rendered."""
    live = await session_or_404(uow, session_id)
    moderator = await a.is_moderator(uow, user, live)
    page = await q.history(uow.session, live.id, after_id=after_id, limit=q.HISTORY_MAX, show_removed_text=moderator)
    return render(request, "chat/history.html", {"live": live, "page": page, "is_moderator": moderator})
