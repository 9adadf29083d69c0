"""create_app(): the ASGI app over the composition root's context: middlewares, every capability's
routes, and the process's background tasks (outbox relay, housekeeping, media)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from fieldcast import __version__
from fieldcast.accounts import pages as accounts_pages
from fieldcast.accounts import routes as accounts_routes
from fieldcast.aftersales import pages as aftersales_pages
from fieldcast.aftersales import routes as aftersales_routes
from fieldcast.aftersales.tasks import aftersales_upkeep
from fieldcast.analytics import campaign_pages, campaign_routes, postshow_pages
from fieldcast.analytics import event_routes as analytics_event_routes
from fieldcast.analytics import pages as analytics_pages
from fieldcast.analytics import routes as analytics_routes
from fieldcast.analytics.tasks import analytics_upkeep
from fieldcast.bootstrap import AppContext, app_context, housekeeping
from fieldcast.catalog import claims_routes, regions_routes
from fieldcast.catalog import pages as catalog_pages
from fieldcast.catalog import routes as catalog_routes
from fieldcast.chat import routes as chat_routes
from fieldcast.clips import pages as clip_pages
from fieldcast.clips import routes as clip_routes
from fieldcast.commerce import fulfilment_pages, fulfilment_routes
from fieldcast.commerce import pages as commerce_pages
from fieldcast.commerce import routes as commerce_routes
from fieldcast.commerce.coupons import pages as coupon_pages
from fieldcast.commerce.coupons import routes as coupon_routes
from fieldcast.commerce.credits import pages as credit_pages
from fieldcast.commerce.credits import routes as credit_routes
from fieldcast.commerce.fulfilment_tasks import fulfilment_upkeep
from fieldcast.commerce.gate import RedisGate
from fieldcast.config import LANGUAGES, Settings, load_settings
from fieldcast.draws import pages as draw_pages
from fieldcast.draws import routes as draw_routes
from fieldcast.i18n import translations
from fieldcast.integrity import pages as integrity_pages
from fieldcast.integrity import routes as integrity_routes
from fieldcast.integrity.rules import Thresholds
from fieldcast.integrity.watch import watch as integrity_watch
from fieldcast.live import manage_pages as live_manage_pages
from fieldcast.live import routes as live_routes
from fieldcast.live import selling as live_selling
from fieldcast.media import hooks as media_hooks
from fieldcast.media import ingest_ws
from fieldcast.media.hls_static import HlsFiles
from fieldcast.pages import audit as audit_pages
from fieldcast.pages import console as console_pages
from fieldcast.pages import home as home_pages
from fieldcast.pages import metrics as metrics_pages
from fieldcast.pages import room as room_pages
from fieldcast.payments import pages as payment_pages
from fieldcast.payments import routes as payment_routes
from fieldcast.payments import sandbox_pages
from fieldcast.payments.claims import ClaimWriter, Load
from fieldcast.payments.fast_refusal import FastRefusal
from fieldcast.payments.tasks import upkeep
from fieldcast.realtime import gateway
from fieldcast.realtime.health import HealthCheck
from fieldcast.reviews import pages as review_pages
from fieldcast.reviews import routes as review_routes
from fieldcast.session_cookie import SESSION_COOKIE
from fieldcast.web.idempotency import IdempotencyMiddleware
from fieldcast.web.middleware import (
    LANG_COOKIE,
    BodyLimitMiddleware,
    LanguageMiddleware,
    SecurityHeadersMiddleware,
    SocketFastPath,
    security_headers,
)
from fieldcast.web.outer import OuterApp
from fieldcast.web.page_cache import PageCache
from fieldcast.web.problems import install_problem_handlers
from fieldcast.web.templating import render

STATIC_DIR = Path(__file__).parent / "web" / "static"

# Something more to run while the app serves (the demo's streams and audience): entered after the
# app's own services start, left before they stop.
Extra = Callable[[AppContext], AbstractAsyncContextManager[None]]


def _origin(url: str) -> str:
    """scheme://host[:port] of an absolute URL, or "" for a root-relative one."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


async def _stop(task: asyncio.Task[None], within_s: float = 10.0) -> None:
    """Wait for a task that was asked to stop; cancel it only if it does not within `within_s`
    (a cancelled transaction could hold SQLite's write lock until garbage collection)."""
    done, _ = await asyncio.wait({task}, timeout=within_s)
    if not done:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


class HooksOnlyToTheSecret:
    """Every request under /hooks/ that is not authorised as the media hooks authorise theirs
    (media/hooks.py) is refused here with the hooks' own plain 403, whatever its path or method:
    no 404 or 405 tells a stranger which hooks exist, and nothing else (sessions, the page cache)
    sees it."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hook = scope["type"] == "http" and scope["path"].startswith(HOOKS_PATH)
        if hook and not media_hooks.authorised(Request(scope), self.settings):
            await PlainTextResponse("refused", status_code=403)(scope, receive, send)
            return
        await self.app(scope, receive, send)


HOOKS_PATH = "/hooks/"


def warm_routes(app: FastAPI) -> None:
    """Build the router's per-route state now, not on the first request. FastAPI builds each
    included route's context lazily when a request is first matched against it, which walks every
    route (about a second of CPU in this app): without this, a flash sale's first buyers pay for
    it. A path that matches nothing walks them all."""
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/\x00warm-up",
        "root_path": "",
        "headers": [],
        "query_string": b"",
    }
    for route in app.router.routes:
        route.matches(scope)


def create_app(settings: Settings | None = None, *, extras: Sequence[Extra] = ()) -> FastAPI:
    settings = settings or load_settings()
    ctx = app_context(settings)

    checkout_load = Load()  # the fast path counts its taps; the claim writer gives way to a burst
    claim_writer = (
        ClaimWriter(
            ctx.gate,
            ctx.uow,
            ctx.payment_provider,
            settings.order_pay_minutes,
            idle_s=settings.flash_claim_idle_s,
            load=checkout_load,
        )
        if isinstance(ctx.gate, RedisGate) and settings.flash_claims
        else None
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stopping = asyncio.Event()
        relay = asyncio.create_task(ctx.relay.run(), name="outbox-relay")
        chores: list[asyncio.Task[None]] = []
        if claim_writer is not None:  # every serving process writes the flash-sale claims it is handed
            chores.append(asyncio.create_task(claim_writer.run(stopping), name="claim-writer"))
            chores.append(asyncio.create_task(claim_writer.tell_rooms(stopping), name="claim-stock-notices"))
        if settings.upkeep:
            chores += [
                asyncio.create_task(upkeep(ctx.uow, ctx.gate, stopping), name="commerce-upkeep"),
                asyncio.create_task(
                    fulfilment_upkeep(ctx.uow, ctx.tracker, settings.order_auto_confirm_days, stopping),
                    name="fulfilment",
                ),
                asyncio.create_task(
                    aftersales_upkeep(ctx.uow, ctx.gate, stopping, days=settings.refund_auto_approve_days),
                    name="aftersales-upkeep",
                ),
                asyncio.create_task(housekeeping(ctx, stopping), name="housekeeping"),
                asyncio.create_task(
                    integrity_watch(
                        ctx.bus,
                        ctx.uow,
                        Thresholds.from_settings(settings),
                        settings.integrity_watch_delay_s,
                        stopping,
                    ),
                    name="integrity-watch",
                ),
                asyncio.create_task(
                    analytics_upkeep(ctx.uow, ctx.room_hub.counters, stopping, settings.analytics_sweep_s),
                    name="analytics-rollup",
                ),
            ]
            if settings.clip_cut_poll_s > 0:
                chores.append(asyncio.create_task(ctx.clip_cutter.run(stopping), name="clip-cutter"))
        try:
            if settings.warm_routes:
                warm_routes(_app)
            for language in LANGUAGES:  # compiled now, not by the first request in each language
                translations(language)
            await ctx.media.start()
            # A show whose stream dropped just before a restart lost its end timer with the process.
            await ctx.media.resume_end_checks()
            async with contextlib.AsyncExitStack() as stack:
                for extra in extras:
                    await stack.enter_async_context(extra(ctx))
                yield
        finally:
            stopping.set()
            ctx.relay.stop()
            for chore in chores:
                await _stop(chore)
            await _stop(relay)
            await ctx.close()

    app = OuterApp(
        title="Fieldcast API",
        version=__version__,
        description="Live commerce for public-welfare selling. Errors are RFC 9457 problem+json.",
        lifespan=lifespan,
        # FIELDCAST_API_DOCS=false: no /api/docs and no /openapi.json (404), e.g. on a public site.
        docs_url="/api/docs" if settings.api_docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.api_docs else None,
        # No OpenTelemetry here (GET /metrics is ours): FastAPI would otherwise look in the
        # environment for a configured provider on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.ctx = ctx
    app.state.claim_writer = claim_writer

    async def html_error(request: Request, status: int, detail: str) -> Response:
        return render(request, "error.html", {"status": status, "detail": detail}, status_code=status)

    install_problem_handlers(app, html_error)

    # Order: outermost first at request time is the last added.
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.resolved_secret_key,
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_age_s,
        same_site="lax",
        https_only=settings.secure_cookies,
    )
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=settings.max_request_bytes, upload_max_bytes=settings.max_upload_bytes
    )
    if settings.page_cache:  # anonymous GETs of public pages and APIs, from memory
        app.add_middleware(
            PageCache,
            version=ctx.data_version,
            secret_key=settings.resolved_secret_key,
            session_cookie=SESSION_COOKIE,
            max_age=settings.session_max_age_s,
            https_only=settings.secure_cookies,
            ttl_s=settings.page_cache_ttl_s,
            max_bytes=settings.page_cache_max_mb * 1024 * 1024,
        )
    app.add_middleware(SecurityHeadersMiddleware, media_origin=_origin(settings.hls_base_url))
    app.add_middleware(LanguageMiddleware, default=settings.default_language)
    app.add_middleware(
        SocketFastPath,
        router=app.router,
        prefix="/ws/rooms/",
        secret_key=settings.resolved_secret_key,
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_age_s,
    )
    app.add_middleware(HooksOnlyToTheSecret, settings=settings)
    app.add_middleware(home_pages.HealthFastPath, check=HealthCheck(ctx.db, ctx.bus, settings.health_interval_s))
    if isinstance(ctx.gate, RedisGate):  # a flash sale's taps, decided in front of everything else
        app.add_outer_middleware(
            FastRefusal,
            gate=ctx.gate,
            lookup=ctx.token_lookup,
            auth_version=ctx.auth_version,
            new_uow=ctx.uow,
            admit_at_once=settings.database_pool_size,
            default_language=settings.default_language,
            headers=security_headers(_origin(settings.hls_base_url)),
            claims=claim_writer is not None,
            load=checkout_load,
        )
    if settings.metrics_enabled:  # request timing around all of the above, and GET /metrics
        metrics_pages.install(app, ctx)

    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")
    app.mount("/media", StaticFiles(directory=settings.resolved_media_dir, check_dir=False), name="media")
    if ctx.media.serves_hls and settings.hls_base_url.startswith("/"):
        app.mount(
            settings.hls_base_url.rstrip("/"),
            HlsFiles(directory=settings.resolved_hls_dir, check_dir=False),
            name="hls",
        )
    api_routers: list[APIRouter] = [
        media_hooks.router,
        ingest_ws.router,
        accounts_routes.api,
        catalog_routes.api,
        regions_routes.router,
        claims_routes.router,
        live_routes.api,
        chat_routes.api,
        draw_routes.api,
        commerce_routes.api,
        fulfilment_routes.api,
        coupon_routes.api,
        credit_routes.api,
        payment_routes.api,
        review_routes.api,
        aftersales_routes.api,
        integrity_routes.api,
        room_pages.api,
        gateway.router,
        home_pages.health,
        audit_pages.api,
        analytics_routes.api,
        analytics_event_routes.api,
        clip_routes.api,
        campaign_routes.api,
    ]
    page_routers: list[APIRouter] = [
        home_pages.router,
        accounts_pages.pages,
        catalog_pages.pages,
        live_manage_pages.router,
        console_pages.router,
        chat_routes.pages,
        commerce_pages.pages,
        fulfilment_pages.pages,
        coupon_pages.pages,
        credit_pages.pages,
        payment_pages.pages,
        aftersales_pages.pages,
        integrity_pages.pages,
        postshow_pages.pages,
        room_pages.pages,
        sandbox_pages.router,
        review_pages.pages,
        draw_pages.pages,
        audit_pages.pages,
        analytics_pages.pages,
        clip_pages.pages,
        campaign_pages.pages,
    ]
    for router in api_routers:
        app.include_router(router)
    # Every page shows the notification bell in its header.
    # The product page (catalog) shows its reviews (above catalog): loaded onto the request here.
    # Its storefronts and product pages show the rooms selling their goods (live, above catalog).
    sections = {
        id(catalog_pages.pages): [
            Depends(review_pages.product_reviews_section),
            Depends(live_selling.selling_rooms_section),
        ],
        # A show's orders page (commerce) shows its figures side by side (integrity, above commerce).
        id(commerce_pages.pages): [Depends(integrity_pages.session_gmv_section)],
    }
    for router in page_routers:
        app.include_router(router, dependencies=[Depends(home_pages.notification_bell), *sections.get(id(router), [])])
    app.state.lang_cookie = LANG_COOKIE
    return app
