"""The event big screen (大屏): `/events/<slug>/screen`, made for a projector.

Every room of the event with its state and counters, the totals with verified GMV beside raw, the
rooms ranked by paid GMV, the products sold, a map of China shaded by buyers per province and a
ticker of purchases (province only). The page is drawn whole from the event's figures
(analytics/event.py); static/live/screen.js then keeps it moving through one room socket per live
room (counters, purchases, state) and reads GET /api/v1/events/<slug>/metrics again every few
seconds so the totals stay exact.

Who may open it: the readers of the metrics API (the event organisation's owners, organisers,
hosts and supervisors, and platform admins). Nobody signed in is sent to sign in first."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from fieldcast.accounts.auth import CurrentUser
from fieldcast.analytics.event_routes import event_metrics, readable_event
from fieldcast.web.deps import Uow
from fieldcast.web.forms import safe_next, see_other
from fieldcast.web.templating import render

pages = APIRouter(include_in_schema=False)

REFRESH_S = 10  # how often the screen reads the event's figures again


@pages.get("/events/{key}/screen")
async def screen_page(key: str, request: Request, uow: Uow, user: CurrentUser) -> Response:
    if user is None:
        return see_other(f"/signin?next={safe_next(request.url.path, '/')}")
    event = await readable_event(uow, user, key)
    metrics = await event_metrics(request, uow, event)
    return render(
        request,
        "analytics/screen.html",
        {"user": user, "m": metrics, "refresh_s": REFRESH_S},
    )
