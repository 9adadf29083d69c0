"""What the demo runs beside the app while it serves: test video in the live demo rooms with the
name of what each sells drawn on the picture, the hosts moving the "explaining now" card along
their shelves, the flash sale's countdown, and a simulated audience (demo accounts, marked as
demo) watching through the app's own room socket and buying through the real checkout and the
in-process payment provider. `fieldcast demo` hands `demo_extra` to create_app; production never
imports this package."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from fieldcast.bootstrap import AppContext
from fieldcast.config import Settings
from fieldcast.demo.audience import run_demo_audience
from fieldcast.demo.captions import Captions, follow_pins
from fieldcast.demo.live import PIN_EVERY_S, open_flash_sales, rotate_pins, start_demo_streams

log = logging.getLogger(__name__)

CAPTIONS_FOLDER = "demo-captions"  # under the data directory: never served, redrawn each run


def own_ws_url(settings: Settings) -> str:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"ws://{host}:{settings.port}"


async def _every(every_s: float, step: Callable[[], Awaitable[object]], what: str) -> None:
    """Until cancelled: `step` every `every_s` seconds (a failed round is logged, not fatal)."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await step()
        except Exception:
            log.exception("demo: %s failed", what)


@contextlib.asynccontextmanager
async def demo_extra(ctx: AppContext) -> AsyncIterator[None]:
    tasks: list[asyncio.Task[None]] = []
    if ctx.settings.demo_streams:
        # The demo's live rooms play test video through the same ingest path as a real host,
        # with what each room sells drawn on the picture, following the pinned product.
        captions = Captions(ctx.settings.data_dir / CAPTIONS_FOLDER)
        await start_demo_streams(ctx.uow, ctx.media, captions)
        tasks.append(asyncio.create_task(follow_pins(captions, ctx.uow), name="demo-captions"))
        tasks.append(
            asyncio.create_task(_every(PIN_EVERY_S, lambda: rotate_pins(ctx.uow), "pinning"), name="demo-pins")
        )
    # Each run, the demo's flash sale opens a minute after the app starts serving.
    await open_flash_sales(ctx.uow)
    if ctx.settings.demo_audience:
        # Demo viewers join through this very server's room socket once it listens.
        tasks.append(asyncio.create_task(run_demo_audience(ctx, own_ws_url(ctx.settings)), name="demo-audience"))
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
