"""The event big screen (大屏): `/events/<slug>/screen`, made for a projector.

Every room of the event with its state and counters, the totals with verified GMV beside raw, the
rooms ranked by paid GMV, the products sold, a map of China shaded by buyers per province and a
ticker of purchases (province only). The page is drawn whole from the event's figures
(analytics/event.py); static/live/screen.js then keeps it moving through one room socket per live
room (counters, purchases, state) and reads GET /api/v1/events/<slug>/metrics again every few
seconds so the totals stay exact.

Who may open it: the readers of the metrics API (the event organisation's owners, organisers,
hosts and supervisors, and platform admins), and a browser that opened the event's projector link
(`/screen/<token>`, analytics/screen_links.py) while it stands. Anybody else signed out is sent to
sign in first. Owners and organisers make, rotate and revoke the link from the event page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from fieldcast.accounts.auth import CurrentUser
from fieldcast.analytics import screen_links as links
from fieldcast.analytics.event_routes import event_metrics, readable_event
from fieldcast.errors import NotAuthenticated, NotFound
from fieldcast.i18n import N_
from fieldcast.live.models import LiveEvent
from fieldcast.live.queries import load_event
from fieldcast.web.deps import Uow
from fieldcast.web.forms import check_form_csrf, safe_next, see_other
from fieldcast.web.templating import render

pages = APIRouter(include_in_schema=False)

REFRESH_S = 10  # how often the screen reads the event's figures again


@pages.get("/events/{key}/screen")
async def screen_page(key: str, request: Request, uow: Uow, user: CurrentUser) -> Response:
    try:
        event = await readable_event(uow, user, key, request.session)
    except NotAuthenticated:
        return see_other(f"/signin?next={safe_next(request.url.path, '/')}")
    metrics = await event_metrics(request, uow, event)
    return render(request, "analytics/screen.html", {"user": user, "m": metrics, "refresh_s": REFRESH_S})


@pages.get("/screen/{token}")
async def screen_link_open(token: str, request: Request, uow: Uow) -> Response:
    """A projector link: remember it in this browser's session and go to the event's big screen."""
    link = await links.link_of_token(uow.session, token[:200])
    event = await uow.session.get(LiveEvent, link.event_id) if link is not None else None
    if link is None or event is None:
        raise NotFound(N_("This projector link does not work (any more): ask the event's organiser for a new one."))
    links.grant(request.session, link)
    return see_other(f"/events/{event.slug}/screen")


async def _event_or_404(uow: Uow, key: str) -> LiveEvent:
    event = await load_event(uow.session, key)
    if event is None:
        raise NotFound(N_("No such event."))
    return event


@pages.post("/events/{key}/screen/link")
async def screen_link_make(key: str, request: Request, uow: Uow, user: CurrentUser) -> Response:
    """Make the event's projector link (a new one revokes the one before) and show it, once."""
    await check_form_csrf(request)
    event = await _event_or_404(uow, key)
    token = await links.make_screen_link(uow, user, event)
    url = str(request.base_url).rstrip("/") + links.screen_url(token)
    return render(request, "analytics/screen_link.html", {"user": user, "event": event, "url": url})


@pages.post("/events/{key}/screen/link/revoke")
async def screen_link_revoke(key: str, request: Request, uow: Uow, user: CurrentUser) -> Response:
    await check_form_csrf(request)
    event = await _event_or_404(uow, key)
    await links.revoke_screen_link(uow, user, event)
    return see_other(f"/events/{event.slug}#screen-link")
