"""create_app(): wires settings, storage, bus, middlewares and every capability's routes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import Response

from fieldcast import __version__
from fieldcast.accounts import pages as accounts_pages
from fieldcast.accounts import routes as accounts_routes
from fieldcast.catalog import claims_routes, regions_routes
from fieldcast.catalog import pages as catalog_pages
from fieldcast.catalog import routes as catalog_routes
from fieldcast.config import Settings, load_settings
from fieldcast.demo_audience import run_demo_audience
from fieldcast.demo_live import start_demo_streams
from fieldcast.live import pages as live_pages
from fieldcast.live import routes as live_routes
from fieldcast.media import hooks as media_hooks
from fieldcast.media import ingest_ws
from fieldcast.media.backend import make_media
from fieldcast.media.hls_static import HlsFiles
from fieldcast.realtime import gateway
from fieldcast.realtime.chat import routes as chat_routes
from fieldcast.realtime.chat.ratelimit import make_rate_limiter
from fieldcast.realtime.draws import routes as draw_routes
from fieldcast.web import pages as web_pages
from fieldcast.web.context import AppContext, CoreContext
from fieldcast.web.deps import SESSION_COOKIE
from fieldcast.web.idempotency import IdempotencyMiddleware
from fieldcast.web.middleware import (
    LANG_COOKIE,
    BodyLimitMiddleware,
    LanguageMiddleware,
    SecurityHeadersMiddleware,
    SocketFastPath,
)
from fieldcast.web.problems import install_problem_handlers
from fieldcast.web.templating import render

STATIC_DIR = Path(__file__).parent / "web" / "static"


def _origin(url: str) -> str:
    """scheme://host[:port] of an absolute URL, or "" for a root-relative one."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def _own_ws_url(settings: Settings) -> str:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"ws://{host}:{settings.port}"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    core = CoreContext.from_settings(settings)
    sessionmaker = core.sessionmaker
    ctx = AppContext(
        **vars(core),
        media=make_media(settings, sessionmaker, core.room_log),
        chat_limiter=make_rate_limiter(settings.redis_url),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        audience: asyncio.Task[None] | None = None
        await ctx.media.start()
        try:
            # A show whose stream dropped just before a restart lost its end timer with the process.
            await ctx.media.resume_end_checks()
            if settings.demo and settings.demo_streams:
                # The demo's live rooms play test video through the same ingest path as a real host.
                await start_demo_streams(sessionmaker, ctx.media)
            if settings.demo and settings.demo_audience:
                # Demo viewers join through this very server's room socket once it listens.
                audience = asyncio.create_task(run_demo_audience(ctx, _own_ws_url(settings)), name="demo-audience")
            yield
        finally:
            if audience is not None:
                audience.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await audience
            await ctx.media.close()
            await ctx.chat_limiter.close()
            await ctx.close()

    app = FastAPI(
        title="Fieldcast API",
        version=__version__,
        description="Live commerce for public-welfare selling. Errors are RFC 9457 problem+json.",
        lifespan=lifespan,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.ctx = ctx

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

    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")
    app.mount("/media", StaticFiles(directory=settings.resolved_media_dir, check_dir=False), name="media")
    if ctx.media.serves_hls and settings.hls_base_url.startswith("/"):
        app.mount(
            settings.hls_base_url.rstrip("/"),
            HlsFiles(directory=settings.resolved_hls_dir, check_dir=False),
            name="hls",
        )
    app.include_router(media_hooks.router)
    app.include_router(ingest_ws.router)
    app.include_router(web_pages.router)
    app.include_router(accounts_routes.api)
    app.include_router(accounts_pages.pages)
    app.include_router(catalog_routes.api)
    app.include_router(catalog_pages.pages)
    app.include_router(regions_routes.router)
    app.include_router(claims_routes.router)
    app.include_router(live_routes.api)
    app.include_router(chat_routes.api)
    app.include_router(chat_routes.pages)
    app.include_router(draw_routes.api)
    app.include_router(gateway.router)
    app.include_router(live_pages.pages)
    app.state.lang_cookie = LANG_COOKIE
    return app
