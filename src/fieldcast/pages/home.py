"""Site-wide routes: home page, language switch, health check, and the notification bell of every page."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Protocol

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from fieldcast.accounts import queries as account_queries
from fieldcast.accounts.auth import CurrentUser
from fieldcast.accounts.models import Membership
from fieldcast.config import Language
from fieldcast.db.engine import Database
from fieldcast.i18n import coerce_language, current_language, gettext
from fieldcast.integrity.actions import DECIDERS
from fieldcast.live import queries as live_queries
from fieldcast.live.cards import room_cards
from fieldcast.live.models import SessionState
from fieldcast.realtime.bus import Bus
from fieldcast.realtime.health import HealthCheck
from fieldcast.web.context import context_of
from fieldcast.web.deps import Uow
from fieldcast.web.forms import check_form_csrf, safe_next
from fieldcast.web.middleware import LANG_COOKIE
from fieldcast.web.templating import render

router = APIRouter()
STATIC = Path(__file__).resolve().parents[1] / "web" / "static"
FAVICON = STATIC / "favicon.ico"
# Drawn from the brand mark by scripts/build_icons.py; base.html links them.
APPLE_TOUCH_ICON = STATIC / "apple-touch-icon.png"
APP_ICONS = (("/static/icon-192.png", "192x192"), ("/static/icon-512.png", "512x512"))
ICON_CACHE = {"Cache-Control": "public, max-age=604800"}


@router.get("/", include_in_schema=False)
async def home(request: Request, uow: Uow, user: CurrentUser) -> Response:
    hosts, hosts_total = await account_queries.list_verified_hosts(uow.session, limit=12)
    orgs, orgs_total = await account_queries.list_organisations(uow.session, limit=12)
    hls = request.app.state.ctx.settings.hls_base_url
    live, _ = await live_queries.list_sessions(
        uow.session, live_queries.SessionFilter(state=SessionState.LIVE), limit=12
    )
    soon, _ = await live_queries.list_sessions(
        uow.session, live_queries.SessionFilter(state=SessionState.SCHEDULED), limit=12
    )
    return render(
        request,
        "home.html",
        {
            "user": user,
            "live_sessions": await room_cards(request, await live_queries.sessions_out(uow.session, live, hls)),
            "upcoming_sessions": await room_cards(request, await live_queries.sessions_out(uow.session, soon, hls)),
            "hosts": hosts,
            "hosts_total": hosts_total,
            "organisations": orgs,
            "organisations_total": orgs_total,
        },
    )


def _language_switch(request: Request, code: str, next: str | None) -> tuple[Response, Language | None]:
    response = RedirectResponse(safe_next(next, "/"), status_code=303)
    language = coerce_language(code)
    if language is not None:
        response.set_cookie(
            LANG_COOKIE,
            language,
            max_age=365 * 24 * 3600,
            samesite="lax",
            secure=request.app.state.ctx.settings.secure_cookies,
        )
    return response, language


@router.get("/lang/{code}", include_in_schema=False)
async def switch_language(code: str, request: Request, next: str | None = None) -> Response:
    """The header's link for visitors: this browser's cookie only. A GET (a link, an <img> on
    another site) never changes what is stored for an account."""
    response, _language = _language_switch(request, code, next)
    return response


@router.post("/lang/{code}", include_in_schema=False)
async def save_language(code: str, request: Request, uow: Uow, user: CurrentUser, next: str | None = None) -> Response:
    """The header's button for signed-in people (a form with the CSRF token): the cookie, and the
    account's stored language."""
    await check_form_csrf(request)
    response, language = _language_switch(request, code, next)
    if language is not None and user is not None:
        user.language = language
    return response


@router.get("/favicon.ico", include_in_schema=False)
async def favicon() -> Response:
    """Browsers ask for /favicon.ico whatever the page says; the same icon base.html links."""
    return FileResponse(FAVICON, media_type="image/x-icon", headers=ICON_CACHE)


@router.get("/apple-touch-icon.png", include_in_schema=False)
async def apple_touch_icon() -> Response:
    """iOS asks the site's root for its home-screen icon when a page links none."""
    return FileResponse(APPLE_TOUCH_ICON, media_type="image/png", headers=ICON_CACHE)


@router.get("/manifest.webmanifest", include_in_schema=False)
async def web_app_manifest() -> Response:
    """The web app manifest (name and icons for "add to home screen"), in the visitor's language."""
    body = {
        "name": gettext("Fieldcast"),
        "short_name": gettext("Fieldcast"),
        "description": gettext("Live selling for public welfare"),
        "lang": current_language.get(),
        "start_url": "/",
        "display": "minimal-ui",
        "background_color": "#ffffff",
        "theme_color": "#ffffff",
        "icons": [{"src": src, "sizes": sizes, "type": "image/png"} for src, sizes in APP_ICONS],
    }
    headers = {"Cache-Control": "no-cache", "Vary": "Cookie, Accept-Language"}
    return JSONResponse(body, media_type="application/manifest+json", headers=headers)


class HealthServices(Protocol):
    db: Database
    bus: Bus


# Not a page: none of the pages' dependencies (the bell reads the caller, and a revoked API token
# would make the health check a 401).
health = APIRouter(tags=["operations"])
HEALTH_RESPONSES: dict[int | str, dict[str, object]] = {
    503: {"description": "The database or the bus is down; the body says which."}
}


HEALTH_PATH = "/healthz"
_HEALTH_ROUTE = SimpleNamespace(path=HEALTH_PATH)  # what the metrics label reads (web/metrics.py)


class HealthFastPath:
    """GET /healthz answered before the middlewares and the router: a health check must stay
    cheap and must not depend on them (the route below documents it and answers other methods)."""

    def __init__(self, app: ASGIApp, check: HealthCheck) -> None:
        self.app = app
        self.check = check

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != HEALTH_PATH or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        status, body = await self.check.answer()
        scope["route"] = _HEALTH_ROUTE
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@health.get(HEALTH_PATH, responses=HEALTH_RESPONSES)
async def healthz(request: Request) -> Response:
    """Database and bus status; 503 when either is down (checked at most once a second)."""
    ctx: HealthServices = context_of(request)
    status, body = await HealthCheck(ctx.db, ctx.bus, 0).answer()
    return Response(body, status_code=status, media_type="application/json")


async def notification_bell(request: Request, uow: Uow, user: CurrentUser) -> None:
    """The bell in the page header (a dependency of every page router), and whether the menu
    links the supervisor's view (an owner, organiser or supervisor somewhere): one query per page
    view (an indexed count and an indexed exists), none for API calls."""
    if user is not None and request.method == "GET":
        supervises = sa.exists().where(Membership.user_id == user.id, Membership.role.in_(DECIDERS))
        row = (
            await uow.session.execute(
                sa.select(live_queries.unread_count_select(user.id).scalar_subquery(), supervises)
            )
        ).one()
        request.state.unread_notifications = int(row[0] or 0)
        request.state.supervises = bool(row[1])
