"""Live rooms as HTML pages for viewers: the list of rooms, a room with its player, shelf, chat
and draws, events, notifications and follow buttons. The room composes live, chat and draws, so
it lives in the pages layer above them; the host console is `pages.console`, the forms that
schedule and change shows are `live.manage_pages`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, TypeVar

import orjson
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from fieldcast.accounts.auth import CurrentUser
from fieldcast.accounts.models import Role, User
from fieldcast.accounts.permissions import require_user
from fieldcast.accounts.queries import memberships_of, roles_in_org
from fieldcast.analytics import screen_links
from fieldcast.analytics.routes import READERS as EVENT_READERS
from fieldcast.catalog import regions
from fieldcast.chat import actions as chat_actions
from fieldcast.chat import queries as chat_queries
from fieldcast.clips.queries import public_clips
from fieldcast.commerce import queries as commerce_queries
from fieldcast.commerce.addresses import PHONE_INPUT_MAX
from fieldcast.commerce.coupons.queries import room_coupons
from fieldcast.commerce.models import QUANTITY_MAX, RECIPIENT_MAX, STREET_MAX
from fieldcast.db.uow import UnitOfWork
from fieldcast.draws import queries as draw_queries
from fieldcast.errors import NotFound
from fieldcast.i18n import N_
from fieldcast.inputs import Id
from fieldcast.integrity import gmv as integrity_gmv
from fieldcast.live import actions as a
from fieldcast.live import follows as fo
from fieldcast.live import queries as q
from fieldcast.live import schemas as s
from fieldcast.live.cards import room_cards, views_of
from fieldcast.live.models import LiveEvent, SessionState
from fieldcast.live.routes import session_or_404
from fieldcast.session_cookie import SESSION_VIEWER, new_viewer_id
from fieldcast.web.api import PROBLEMS, Offset
from fieldcast.web.deps import Ctx, Uow
from fieldcast.web.etag import json_with_etag
from fieldcast.web.forms import Form, check_form_csrf, read_raw_form, safe_next, see_other
from fieldcast.web.page_cache import server_now_text, signed_in_shell, valid_until
from fieldcast.web.templating import render

pages = APIRouter(include_in_schema=False)
# The one API route composed here: an event's totals need live (rooms, views) and commerce (sales).
api = APIRouter(prefix="/api/v1", responses=PROBLEMS, tags=["live"])

PAGE_SIZE = 24
BUY_QUANTITY_MAX = 99  # the sheet's stepper when the item sets no per-buyer limit
CHAT_LINES = 50  # chat lines a room page renders; newer ones arrive over the room socket
STATE_FILTERS = {"live": SessionState.LIVE, "upcoming": SessionState.SCHEDULED, "replay": SessionState.ENDED}
Listed = TypeVar("Listed", bound=s.SessionOut)


def group_by_state(items: list[Listed]) -> dict[str, list[Listed]]:
    """Live now, upcoming (soonest first) and ended (replays), in the order list_sessions gives."""
    groups: dict[str, list[Listed]] = {"live": [], "upcoming": [], "replay": []}
    for item in items:
        if item.state == SessionState.LIVE:
            groups["live"].append(item)
        elif item.state == SessionState.SCHEDULED:
            groups["upcoming"].append(item)
        elif item.state == SessionState.ENDED:
            groups["replay"].append(item)
    return groups


async def managed_orgs(uow: UnitOfWork, user: User | None) -> list[tuple[str, str]]:
    """(slug, name) of the organisations where the user may schedule shows and make events."""
    if user is None:
        return []
    managers = {Role.OWNER.value, Role.ORGANISER.value}
    return [(org.slug, org.name) for org, roles in await memberships_of(uow.session, user.id) if managers & set(roles)]


# -- the list of rooms -----------------------------------------------------------------------------


@pages.get("/live")
async def sessions_page(
    request: Request,
    uow: Uow,
    ctx: Ctx,
    user: CurrentUser,
    state: Annotated[str | None, Query(max_length=16)] = None,
    offset: Offset = 0,
) -> Response:
    chosen = state if state in STATE_FILTERS else ""
    flt = q.SessionFilter(state=STATE_FILTERS[chosen] if chosen else None)
    lives, total = await q.list_sessions(uow.session, flt, limit=PAGE_SIZE, offset=offset)
    items = await q.sessions_out(uow.session, lives, ctx.settings.hls_base_url)
    mine: list[s.SessionOut] = []
    if user is not None:
        own, _ = await q.list_sessions(uow.session, q.SessionFilter(host_id=user.id), limit=10)
        mine = [
            x for x in await q.sessions_out(uow.session, own, ctx.settings.hls_base_url) if x.state in a.OPEN_STATES
        ]
    return render(
        request,
        "live/sessions.html",
        {
            "user": user,
            "groups": group_by_state(await room_cards(request, items)),
            "total": total,
            "state": chosen,
            "offset": offset,
            "page_size": PAGE_SIZE,
            "mine": mine,
            "managed": await managed_orgs(uow, user),
        },
    )


# -- the shows a host hosts ------------------------------------------------------------------------


@pages.get("/me/shows")
async def my_shows_page(request: Request, uow: Uow, ctx: Ctx, user: CurrentUser, offset: Offset = 0) -> Response:
    """Where a host lands after signing in: the shows they host, live, upcoming and ended, each
    with its console."""
    if user is None:
        return see_other("/signin?next=/me/shows")
    own, total = await q.list_sessions(uow.session, q.SessionFilter(host_id=user.id), limit=PAGE_SIZE, offset=offset)
    items = await q.sessions_out(uow.session, own, ctx.settings.hls_base_url)
    return render(
        request,
        "live/my_shows.html",
        {
            "user": user,
            "groups": group_by_state(items),
            "total": total,
            "offset": offset,
            "page_size": PAGE_SIZE,
            "managed": await managed_orgs(uow, user),
        },
    )


# -- a room ----------------------------------------------------------------------------------------


@pages.get("/live/{session_id:int}")
async def room_page(session_id: Id, request: Request, uow: Uow, ctx: Ctx, user: CurrentUser) -> Response:
    """The room: one page for every viewer. Nothing here is one viewer's own (follows, operator and
    moderator tools, a mute, draws entered, coupons claimed): the page's script fetches that from
    `/api/v1/sessions/<id>/me`, so that the page cache serves signed-in viewers the same shell."""
    live = await session_or_404(uow, session_id)
    signed_in = user is not None or signed_in_shell(request)
    if not signed_in and SESSION_VIEWER not in request.session:
        # Tells anonymous viewers apart in the honest counts (signed with the session cookie).
        request.session[SESSION_VIEWER] = new_viewer_id()
    detail = await q.session_detail(uow.session, live, ctx.settings.hls_base_url)
    shelf = [*detail.shelf, *detail.partner_shelf]
    event = await q.load_event(uow.session, live.event_id) if live.event_id else None
    now = datetime.now(UTC)
    # A flash sale not yet started shows a countdown and a disabled Buy: right until it starts.
    for item in shelf:
        if item.flash_starts_at and item.flash_starts_at > now:
            valid_until(request, item.flash_starts_at)
    return render(
        request,
        "live/room.html",
        {
            # The header and forms of any signed-in viewer, and nothing of this one's own.
            "user": None,
            "signed_in": signed_in,
            "d": detail,
            # "Explaining now" belongs to the live show; a replay jumps through the marks instead.
            "pinned": next((x for x in shelf if x.sku_id == detail.pinned_sku_id), None)
            if live.state == SessionState.LIVE
            else None,
            "countdown_s": q.countdown_s(live, now),
            # The server's clock as the page was made: flash-sale countdowns run from it, never
            # from the device's clock alone.
            "server_now": now,
            "server_now_text": server_now_text(request, now),
            "event": event,
            "api_url": f"/api/v1/sessions/{live.id}",
            # The real-time panel: the last chat lines and the show's lucky draws.
            "chat_messages": await chat_queries.recent(uow.session, live.id, CHAT_LINES),
            "draws": await draw_queries.draws_of_session(uow.session, live.id),
            "site_url": str(request.base_url).rstrip("/"),
            # The buy sheet: its address form (for a buyer without one) and the stepper's ceiling.
            "address_form": Form(),
            "provinces": regions.children(None),
            "address_limits": {"recipient": RECIPIENT_MAX, "phone": PHONE_INPUT_MAX, "street": STREET_MAX},
            "buy_quantity_max": min(BUY_QUANTITY_MAX, QUANTITY_MAX),
            # Coupons handed out in the room (commerce/coupons); the viewer's claims come from /me.
            "room_coupons": await room_coupons(uow.session, live.id, None)
            if live.state in (SessionState.SCHEDULED, SessionState.LIVE)
            else [],
            # The shoppable clips cut from the replay (clips), each a page with Buy.
            "clips": await public_clips(uow.session, live.id) if live.state == SessionState.ENDED else [],
        },
    )


class RoomViewerOut(BaseModel):
    """What of a room is the signed-in viewer's own, for the room page's script to apply."""

    user_id: int
    is_platform_admin: bool
    unread_notifications: int
    operator: bool = Field(description="A host or organiser of the show: the console link, no draw entry.")
    moderator: bool
    muted: bool
    chat_open: bool = Field(description="The viewer may chat now (operators before the show goes live too).")
    followed_host_ids: list[int]
    follows_organisation: bool
    entered_draw_ids: list[int]
    claimed_coupon_batch_ids: list[int]


@api.get("/sessions/{session_id}/me", response_model=RoomViewerOut)
async def api_room_viewer(session_id: Id, uow: Uow, user: CurrentUser) -> Response:
    """The signed-in viewer's own state in a room: what the room page, the same for everyone,
    shows only to them. 401 when not signed in."""
    viewer = require_user(user)
    live = await session_or_404(uow, session_id)
    is_operator = await a.is_session_operator(uow.session, viewer, live)
    follows = await q.follows_of(uow.session, viewer.id)
    coupons = (
        await room_coupons(uow.session, live.id, viewer.id)
        if live.state in (SessionState.SCHEDULED, SessionState.LIVE)
        else []
    )
    out = RoomViewerOut(
        user_id=viewer.id,
        is_platform_admin=viewer.is_platform_admin,
        unread_notifications=await q.unread_count(uow.session, viewer.id),
        operator=is_operator,
        moderator=is_operator or await chat_actions.is_moderator(uow, viewer, live),
        muted=live.state == SessionState.LIVE
        and await chat_queries.active_mute(uow.session, viewer.id, live.id) is not None,
        chat_open=live.state == SessionState.LIVE or (is_operator and live.state == SessionState.SCHEDULED),
        followed_host_ids=sorted({f.host_id for f in follows if f.host_id}),
        follows_organisation=any(f.organisation_id == live.organisation_id for f in follows),
        entered_draw_ids=sorted(await draw_queries.entered_draw_ids(uow.session, viewer.id, live.id)),
        claimed_coupon_batch_ids=[c.batch.id for c in coupons if c.claim_state],
    )
    return Response(
        orjson.dumps(out.model_dump(mode="json")),
        media_type="application/json",
        headers={"cache-control": "private, no-store"},
    )


# -- follows ---------------------------------------------------------------------------------------


async def _follow_form(request: Request) -> tuple[s.FollowIn, str]:
    _raw, values = await read_raw_form(request)
    next_path = safe_next(values.get("next"), "/live")
    try:
        host_id = int(values["host_id"]) if values.get("host_id") else None
        org_id = int(values["organisation_id"]) if values.get("organisation_id") else None
        return s.FollowIn(host_id=host_id, organisation_id=org_id), next_path
    except ValueError as exc:  # pydantic's ValidationError is a ValueError too
        raise NotFound(N_("Nothing to follow.")) from exc


@pages.post("/follow")
async def follow_submit(request: Request, uow: Uow, user: CurrentUser) -> Response:
    data, next_path = await _follow_form(request)
    if user is None:
        return see_other(f"/signin?next={next_path}")
    await fo.follow(uow, user, data)
    return see_other(next_path)


@pages.post("/unfollow")
async def unfollow_submit(request: Request, uow: Uow, user: CurrentUser) -> Response:
    data, next_path = await _follow_form(request)
    await fo.unfollow(uow, user, data)
    return see_other(next_path)


# -- events ----------------------------------------------------------------------------------------


@pages.get("/events")
async def events_page(request: Request, uow: Uow, user: CurrentUser) -> Response:
    return render(
        request,
        "live/events.html",
        {"user": user, "events": await q.list_events(uow.session), "managed": await managed_orgs(uow, user)},
    )


async def event_with_totals(request: Request, uow: UnitOfWork, ctx: Ctx, event: LiveEvent) -> s.EventDetail:
    """An event with its rooms and every total: views from the rooms' counters, orders and sales
    from commerce, and beside the sales the raw, refunded, flagged and verified figures from
    integrity (a page-layer composition: live does not read orders)."""
    detail = await q.event_detail(uow.session, event, ctx.settings.hls_base_url)
    ids = [x.id for x in detail.sessions]
    detail.totals.viewers = await views_of(request, ids)
    detail.totals.orders, detail.totals.gmv_fen = await commerce_queries.sales_of_sessions(uow.session, ids)
    gmv = await integrity_gmv.sessions_gmv(uow.session, ids)
    detail.totals.raw_gmv_fen, detail.totals.refunded_fen = gmv.raw_fen, gmv.refunded_fen
    detail.totals.flagged_fen, detail.totals.verified_gmv_fen = gmv.flagged_fen, gmv.verified_fen
    return detail


async def event_roles(uow: UnitOfWork, user: User | None, event: LiveEvent) -> set[Role]:
    """The user's roles in the event's organisation (every role for a platform admin): the event
    page links the big screen for its readers and the projector link for its organisers."""
    if user is None:
        return set()
    if user.is_platform_admin:
        return set(Role)
    return await roles_in_org(uow.session, user.id, event.organisation_id)


@api.get("/events/{key}", response_model=s.EventDetail)
async def api_event(key: str, request: Request, uow: Uow, ctx: Ctx) -> Response:
    """An event (by id or slug) with its rooms and totals: rooms, live rooms, products on the
    shelves, views (the rooms' counters), paid orders and their sales."""
    event = await q.load_event(uow.session, key)
    if event is None:
        raise NotFound(N_("No such event."))
    detail = await event_with_totals(request, uow, ctx, event)
    return json_with_etag(request, detail.model_dump(mode="json"))


@pages.get("/events/{key}")
async def event_page(key: str, request: Request, uow: Uow, ctx: Ctx, user: CurrentUser) -> Response:
    event = await q.load_event(uow.session, key)
    if event is None:
        raise NotFound(N_("No such event."))
    detail = await event_with_totals(request, uow, ctx, event)
    roles = await event_roles(uow, user, event)
    return render(
        request,
        "live/event.html",
        {
            "user": user,
            "e": detail,
            "groups": group_by_state(await room_cards(request, detail.sessions)),
            "may_screen": bool(roles & set(EVENT_READERS)),
            "may_link": bool(roles & set(screen_links.LINK_MAKERS)),
            "screen_link": await screen_links.active_link(uow.session, event.id) if roles else None,
        },
    )


# -- notifications ---------------------------------------------------------------------------------


@pages.get("/notifications")
async def notifications_page(request: Request, uow: Uow, user: CurrentUser, offset: Offset = 0) -> Response:
    if user is None:
        return see_other("/signin?next=/notifications")
    items, total = await q.notifications_of(uow.session, user.id, limit=PAGE_SIZE, offset=offset)
    return render(
        request,
        "live/notifications.html",
        {"user": user, "items": items, "total": total, "offset": offset, "page_size": PAGE_SIZE},
    )


@pages.post("/notifications/read")
async def notifications_read_submit(request: Request, uow: Uow, user: CurrentUser) -> Response:
    await check_form_csrf(request)
    if user is None:
        return see_other("/signin?next=/notifications")
    await fo.mark_notifications_read(uow, user, None)
    return see_other("/notifications")
