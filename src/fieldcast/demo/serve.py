"""What the demo runs beside the app while it serves: test video in the live demo rooms, the flash
sale's countdown, and a simulated audience (demo accounts, marked as demo) watching through the
app's own room socket and buying through the real checkout and the in-process payment provider.
`fieldcast demo` hands `demo_extra` to create_app; production never imports this package."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fieldcast.bootstrap import AppContext
from fieldcast.config import Settings
from fieldcast.demo.audience import run_demo_audience
from fieldcast.demo.live import open_flash_sales, start_demo_streams


def own_ws_url(settings: Settings) -> str:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"ws://{host}:{settings.port}"


@contextlib.asynccontextmanager
async def demo_extra(ctx: AppContext) -> AsyncIterator[None]:
    audience: asyncio.Task[None] | None = None
    if ctx.settings.demo_streams:
        # The demo's live rooms play test video through the same ingest path as a real host.
        await start_demo_streams(ctx.uow, ctx.media)
    # Each run, the demo's flash sale opens a minute after the app starts serving.
    await open_flash_sales(ctx.uow)
    if ctx.settings.demo_audience:
        # Demo viewers join through this very server's room socket once it listens.
        audience = asyncio.create_task(run_demo_audience(ctx, own_ws_url(ctx.settings)), name="demo-audience")
    try:
        yield
    finally:
        if audience is not None:
            audience.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await audience
