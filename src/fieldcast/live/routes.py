"""Live rooms over HTTP: the JSON API under /api/v1. Thin: parse, call one action or query, return."""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from starlette.responses import Response

from fieldcast.accounts.auth import CurrentUser
from fieldcast.accounts.permissions import require_user
from fieldcast.catalog.images import MAX_IMAGE_BYTES
from fieldcast.config import Settings
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import Invalid, NotFound
from fieldcast.i18n import N_
from fieldcast.inputs import Id
from fieldcast.live import actions as a
from fieldcast.live import costreams as co
from fieldcast.live import follows as fo
from fieldcast.live import queries as q
from fieldcast.live import schemas as s
from fieldcast.live.keys import obs_stream_key, publish_url
from fieldcast.live.models import CoStream, LiveSession, SessionState, ShelfItem
from fieldcast.web.api import PROBLEMS, Limit, Offset, Page
from fieldcast.web.context import context_of
from fieldcast.web.deps import Uow
from fieldcast.web.etag import json_with_etag

api = APIRouter(prefix="/api/v1", responses=PROBLEMS, tags=["live"])


class LiveServices(Protocol):
    """What live's routes need of the process (the composition root's context)."""

    settings: Settings
    media: a.MediaControl


def live_services(request: Request) -> LiveServices:
    ctx: LiveServices = context_of(request)
    return ctx


LiveCtx = Annotated[LiveServices, Depends(live_services)]


async def session_or_404(uow: UnitOfWork, session_id: Id) -> LiveSession:
    live = await q.load_session(uow.session, session_id)
    if live is None:
        raise NotFound(N_("No such session."))
    return live


async def _shelf_item(uow: UnitOfWork, live: LiveSession, item_id: Id) -> ShelfItem:
    item = await uow.session.get(ShelfItem, item_id)
    if item is None or item.session_id != live.id:
        raise NotFound(N_("No such shelf item."))
    return item


async def _detail(uow: UnitOfWork, ctx: LiveServices, live: LiveSession) -> s.SessionDetail:
    await uow.session.flush()
    await uow.session.refresh(live)
    return await q.session_detail(uow.session, live, ctx.settings.hls_base_url)


def _rtmp_url(ctx: LiveServices) -> str | None:
    return ctx.settings.rtmp_public_url or ctx.settings.rtmp_url or None


# -- sessions -------------------------------------------------------------------------------------


@api.get("/sessions", response_model=Page[s.SessionOut])
async def api_sessions(
    request: Request,
    uow: Uow,
    ctx: LiveCtx,
    state: SessionState | None = None,
    event_id: Id | None = None,
    organisation_id: Id | None = None,
    host_id: Id | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Response:
    """Sessions, live first, then upcoming, then past. `?state=live` lists what is on air now."""
    flt = q.SessionFilter(state=state, event_id=event_id, organisation_id=organisation_id, host_id=host_id)
    lives, total = await q.list_sessions(uow.session, flt, limit=limit, offset=offset)
    items = await q.sessions_out(uow.session, lives, ctx.settings.hls_base_url)
    page = Page[s.SessionOut](items=items, total=total, limit=limit, offset=offset)
    return json_with_etag(request, page.model_dump(mode="json"))


@api.post("/sessions", response_model=s.SessionDetail, status_code=201)
async def api_schedule(data: s.SessionIn, uow: Uow, ctx: LiveCtx, user: CurrentUser) -> s.SessionDetail:
    """Schedule a show. Followers of its hosts and organisation are notified."""
    live = await a.schedule_session(uow, user, data)
    return await _detail(uow, ctx, live)


@api.get("/sessions/{session_id}", response_model=s.SessionDetail)
async def api_session(session_id: Id, request: Request, uow: Uow, ctx: LiveCtx) -> Response:
    live = await session_or_404(uow, session_id)
    detail = await q.session_detail(uow.session, live, ctx.settings.hls_base_url)
    return json_with_etag(request, detail.model_dump(mode="json"))


@api.patch("/sessions/{session_id}", response_model=s.SessionDetail)
async def api_update(
    session_id: Id, patch: s.SessionPatch, uow: Uow, ctx: LiveCtx, user: CurrentUser
) -> s.SessionDetail:
    live = await a.update_session(uow, user, await session_or_404(uow, session_id), patch)
    return await _detail(uow, ctx, live)


@api.post("/sessions/{session_id}/cover", response_model=s.SessionOut)
async def api_cover(
    session_id: Id,
    uow: Uow,
    ctx: LiveCtx,
    user: CurrentUser,
    image: Annotated[UploadFile, File(description="JPEG, PNG or WebP, at most 8 MB")],
) -> s.SessionOut:
    live = await session_or_404(uow, session_id)
    data = await image.read(MAX_IMAGE_BYTES + 1)
    await a.set_cover(uow, user, live, data, ctx.settings.resolved_media_dir)
    return await q.session_out(uow.session, live, ctx.settings.hls_base_url)


@api.post("/sessions/{session_id}/start", response_model=s.SessionDetail)
async def api_start(session_id: Id, uow: Uow, ctx: LiveCtx, user: CurrentUser) -> s.SessionDetail:
    """Open the room now (ingest also does this when the stream arrives)."""
    live = await a.start_session(uow, user, await session_or_404(uow, session_id))
    return await _detail(uow, ctx, live)


@api.post("/sessions/{session_id}/end", response_model=s.SessionDetail)
async def api_end(session_id: Id, uow: Uow, ctx: LiveCtx, user: CurrentUser) -> s.SessionDetail:
    """End the show: the key is revoked and the recording becomes the replay."""
    live = await a.end_session(uow, user, await session_or_404(uow, session_id), ctx.media)
    return await _detail(uow, ctx, live)


@api.post("/sessions/{session_id}/cancel", response_model=s.SessionDetail)
async def api_cancel(session_id: Id, data: s.CancelIn, uow: Uow, ctx: LiveCtx, user: CurrentUser) -> s.SessionDetail:
    live = await a.cancel_session(uow, user, await session_or_404(uow, session_id), data.reason)
    return await _detail(uow, ctx, live)


# -- shelf ----------------------------------------------------------------------------------------


@api.get("/sessions/{session_id}/shelf", response_model=list[s.ShelfItemOut])
async def api_shelf(session_id: Id, uow: Uow) -> list[s.ShelfItemOut]:
    live = await session_or_404(uow, session_id)
    return await q.shelf_of(uow.session, [live.id])


@api.post("/sessions/{session_id}/shelf", response_model=s.ShelfItemOut, status_code=201)
async def api_add_shelf(session_id: Id, data: s.ShelfItemIn, uow: Uow, user: CurrentUser) -> s.ShelfItemOut:
    live = await session_or_404(uow, session_id)
    item = await a.add_shelf_item(uow, user, live, data)
    return next(x for x in await q.shelf_of(uow.session, [live.id]) if x.id == item.id)


@api.patch("/sessions/{session_id}/shelf/{item_id}", response_model=s.ShelfItemOut)
async def api_update_shelf(
    session_id: Id, item_id: Id, patch: s.ShelfItemPatch, uow: Uow, user: CurrentUser
) -> s.ShelfItemOut:
    live = await session_or_404(uow, session_id)
    item = await a.update_shelf_item(uow, user, live, await _shelf_item(uow, live, item_id), patch)
    await uow.session.flush()
    return next(x for x in await q.shelf_of(uow.session, [live.id]) if x.id == item.id)


@api.delete("/sessions/{session_id}/shelf/{item_id}", status_code=204)
async def api_remove_shelf(session_id: Id, item_id: Id, uow: Uow, user: CurrentUser) -> Response:
    live = await session_or_404(uow, session_id)
    await a.remove_shelf_item(uow, user, live, await _shelf_item(uow, live, item_id))
    return Response(status_code=204)


# -- pinning and marks ----------------------------------------------------------------------------


@api.post("/sessions/{session_id}/pin", response_model=s.MarkOut, status_code=201)
async def api_pin(session_id: Id, data: s.PinIn, uow: Uow, user: CurrentUser) -> s.MarkOut:
    """ "Explaining now": pins the card and marks the moment for the replay."""
    live = await session_or_404(uow, session_id)
    mark = await a.pin_product(uow, user, live, data.sku_id)
    return next(x for x in await q.marks_of(uow.session, live.id) if x.id == mark.id)


@api.delete("/sessions/{session_id}/pin", status_code=204)
async def api_unpin(session_id: Id, uow: Uow, user: CurrentUser) -> Response:
    await a.unpin_product(uow, user, await session_or_404(uow, session_id))
    return Response(status_code=204)


@api.get("/sessions/{session_id}/marks", response_model=list[s.MarkOut])
async def api_marks(session_id: Id, uow: Uow) -> list[s.MarkOut]:
    live = await session_or_404(uow, session_id)
    return await q.marks_of(uow.session, live.id)


# -- stream keys ----------------------------------------------------------------------------------


@api.get("/sessions/{session_id}/stream-key", response_model=s.StreamKeyInfo)
async def api_key_info(session_id: Id, uow: Uow, ctx: LiveCtx, user: CurrentUser) -> s.StreamKeyInfo:
    """The RTMP URL and the prefix of the active key (the key itself is shown only when made)."""
    live = await session_or_404(uow, session_id)
    await a.require_session_operator(uow.session, user, live)
    return await q.stream_key_info(uow.session, live, _rtmp_url(ctx))


@api.post("/sessions/{session_id}/stream-key", response_model=s.StreamKeyOut, status_code=201)
async def api_new_key(session_id: Id, uow: Uow, ctx: LiveCtx, user: CurrentUser) -> s.StreamKeyOut:
    """Make a key, or rotate: the previous key stops working at once. Shown this once."""
    live = await session_or_404(uow, session_id)
    key = await a.issue_stream_key(uow, user, live)
    rtmp_url = _rtmp_url(ctx)
    return s.StreamKeyOut(
        session_id=live.id,
        stream_key=key,
        rtmp_url=rtmp_url,
        prefix=key[:8],
        obs_stream_key=obs_stream_key(live.stream_name, key),
        publish_url=publish_url(rtmp_url, live.stream_name, key) if rtmp_url else None,
    )


# -- co-streams -----------------------------------------------------------------------------------


async def _link_or_404(uow: UnitOfWork, link_id: Id) -> CoStream:
    link = await uow.session.get(CoStream, link_id)
    if link is None:
        raise NotFound(N_("No such co-stream."))
    return link


@api.get("/sessions/{session_id}/co-streams", response_model=list[s.CoStreamOut])
async def api_costreams(session_id: Id, uow: Uow) -> list[s.CoStreamOut]:
    live = await session_or_404(uow, session_id)
    return [s.CoStreamOut.model_validate(x) for x in await q.costreams_of(uow.session, live.id)]


@api.post("/sessions/{session_id}/co-streams", response_model=s.CoStreamOut, status_code=201)
async def api_invite(session_id: Id, data: s.CoStreamIn, uow: Uow, user: CurrentUser) -> s.CoStreamOut:
    """Invite another room to co-stream (连麦); its hosts are notified."""
    link = await co.invite_costream(uow, user, await session_or_404(uow, session_id), data.invitee_session_id)
    await uow.session.flush()
    await uow.session.refresh(link)
    return s.CoStreamOut.model_validate(link)


async def _answer(uow: UnitOfWork, user: CurrentUser, link_id: Id, *, accept: bool) -> s.CoStreamOut:
    link = await co.answer_costream(uow, user, await _link_or_404(uow, link_id), accept=accept)
    await uow.session.flush()
    await uow.session.refresh(link)
    return s.CoStreamOut.model_validate(link)


@api.post("/co-streams/{link_id}/accept", response_model=s.CoStreamOut)
async def api_accept(link_id: Id, uow: Uow, user: CurrentUser) -> s.CoStreamOut:
    return await _answer(uow, user, link_id, accept=True)


@api.post("/co-streams/{link_id}/decline", response_model=s.CoStreamOut)
async def api_decline(link_id: Id, uow: Uow, user: CurrentUser) -> s.CoStreamOut:
    return await _answer(uow, user, link_id, accept=False)


@api.post("/co-streams/{link_id}/end", response_model=s.CoStreamOut)
async def api_end_link(link_id: Id, uow: Uow, user: CurrentUser) -> s.CoStreamOut:
    link = await co.end_costream(uow, user, await _link_or_404(uow, link_id))
    await uow.session.flush()
    await uow.session.refresh(link)
    return s.CoStreamOut.model_validate(link)


# -- events ---------------------------------------------------------------------------------------


@api.get("/events", response_model=list[s.EventOut])
async def api_events(uow: Uow) -> list[s.EventOut]:
    return [s.EventOut.model_validate(x) for x in await q.list_events(uow.session)]


@api.post("/events", response_model=s.EventOut, status_code=201)
async def api_create_event(data: s.EventIn, uow: Uow, user: CurrentUser) -> s.EventOut:
    return s.EventOut.model_validate(await a.create_event(uow, user, data))


# -- follows and notifications --------------------------------------------------------------------


@api.get("/me/follows", response_model=list[s.FollowOut])
async def api_follows(uow: Uow, user: CurrentUser) -> list[s.FollowOut]:
    me = require_user(user)
    return [s.FollowOut.model_validate(x) for x in await q.follows_of(uow.session, me.id)]


@api.post("/me/follows", response_model=s.FollowOut, status_code=201)
async def api_follow(data: s.FollowIn, uow: Uow, user: CurrentUser) -> s.FollowOut:
    """Follow a host or an organisation (again: no-op). Followers hear of new and live shows."""
    return s.FollowOut.model_validate(await fo.follow(uow, user, data))


@api.delete("/me/follows", status_code=204)
async def api_unfollow(
    uow: Uow,
    user: CurrentUser,
    host_id: Annotated[Id | None, Query()] = None,
    organisation_id: Annotated[Id | None, Query()] = None,
) -> Response:
    if (host_id is None) == (organisation_id is None):
        raise Invalid(N_("Give exactly one of host_id and organisation_id."), field="host_id")
    await fo.unfollow(uow, user, s.FollowIn(host_id=host_id, organisation_id=organisation_id))
    return Response(status_code=204)


@api.get("/me/notifications", response_model=Page[s.NotificationOut])
async def api_notifications(
    uow: Uow, user: CurrentUser, limit: Limit = 50, offset: Offset = 0
) -> Page[s.NotificationOut]:
    me = require_user(user)
    items, total = await q.notifications_of(uow.session, me.id, limit=limit, offset=offset)
    return Page[s.NotificationOut](items=items, total=total, limit=limit, offset=offset)


@api.post("/me/notifications/read")
async def api_read(data: s.NotificationsRead, uow: Uow, user: CurrentUser) -> dict[str, int]:
    """Mark the given notifications (or all, without ids) as read."""
    return {"marked": await fo.mark_notifications_read(uow, user, data.ids)}
