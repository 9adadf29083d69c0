"""The composition root: settings in, the process's services out.

It is the only place that picks an adapter (SQLite or PostgreSQL, in-process or Redis bus, room log,
counters, rate limiters and sign-in throttle, embedded ffmpeg or nginx-rtmp, the payment
provider). The app, `fieldcast fanout` and the CLI take their context from here; the layers below
name only the part of it they use, as a Protocol."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson
from sqlalchemy import MetaData

from fieldcast import offload
from fieldcast.accounts.events import TOPIC_MEMBERSHIP, TOPIC_VERIFICATION
from fieldcast.accounts.throttle import Throttles, make_throttles
from fieldcast.accounts.token_lookup import TokenLookup, make_token_lookup
from fieldcast.aftersales.actions import refund_outcomes
from fieldcast.aftersales.events import TOPIC_AFTERSALES
from fieldcast.catalog.images import UploadLimits, configure_uploads
from fieldcast.chat.events import TOPIC_CHAT
from fieldcast.chat.ratelimit import RateLimiter, make_rate_limiter
from fieldcast.clips.tasks import ClipCutter
from fieldcast.commerce.credits.events import TOPIC_CREDIT
from fieldcast.commerce.events import TOPIC_ORDER
from fieldcast.commerce.gate import AUTH_VERSION_KEY, StockGate, make_gate
from fieldcast.commerce.reconcile import refresh_pool
from fieldcast.commerce.tracking import Tracker, make_tracker
from fieldcast.config import Settings
from fieldcast.db import idempotency, outbox
from fieldcast.db.engine import Database
from fieldcast.db.outbox import Envelope, OutboxRelay
from fieldcast.db.uow import UnitOfWork
from fieldcast.db.written import Written
from fieldcast.integrity.rules import Thresholds
from fieldcast.integrity.tasks import TOPIC_INTEGRITY, chat_removals, credits_recorded, session_endings
from fieldcast.live.events import TOPIC_SESSION
from fieldcast.live.host_authority import membership_changes
from fieldcast.live.verification_notices import verification_decisions
from fieldcast.media.backend import MediaBackend, make_media
from fieldcast.media.ffmpeg import ffmpeg_executable
from fieldcast.pages.snapshot import RoomSnapshots
from fieldcast.payments import sandbox
from fieldcast.payments.actions import TOPIC_PROVIDER, TOPIC_REFUND, provider_calls
from fieldcast.payments.fast_refusal import changes_sign_ins
from fieldcast.payments.provider import PaymentProvider
from fieldcast.payments.providers import make_payment_provider
from fieldcast.realtime.bus import Bus, make_bus
from fieldcast.realtime.counters import make_counters
from fieldcast.realtime.hub import RoomHub
from fieldcast.realtime.journal import Journal
from fieldcast.realtime.room_feed import RoomState
from fieldcast.realtime.room_log import RoomLog, make_room_log
from fieldcast.realtime.versions import DataVersion, make_data_version
from fieldcast.reviews.events import TOPIC_REVIEW
from fieldcast.web.page_cache import changes_public_data

log = logging.getLogger(__name__)

ShelfChange = Callable[[int, int], Awaitable[None]]  # (session id, sku id)

HOUSEKEEPING_EVERY_S = 600.0


def table_metadata() -> MetaData:
    """Every capability's tables in one metadata (Alembic's target, the tests' wipe)."""
    from fieldcast.accounts import models as _accounts  # noqa: F401
    from fieldcast.aftersales import models as _aftersales  # noqa: F401
    from fieldcast.analytics import campaign_models as _campaigns  # noqa: F401
    from fieldcast.analytics import models as _analytics  # noqa: F401
    from fieldcast.catalog import models as _catalog  # noqa: F401
    from fieldcast.chat import models as _chat  # noqa: F401
    from fieldcast.clips import models as _clips  # noqa: F401
    from fieldcast.commerce import models as _commerce  # noqa: F401
    from fieldcast.commerce.coupons import models as _coupons  # noqa: F401
    from fieldcast.commerce.credits import models as _credits  # noqa: F401
    from fieldcast.db import audit as _audit  # noqa: F401
    from fieldcast.db.base import Base
    from fieldcast.draws import models as _draws  # noqa: F401
    from fieldcast.integrity import models as _integrity  # noqa: F401
    from fieldcast.live import models as _live  # noqa: F401
    from fieldcast.payments import models as _payments  # noqa: F401
    from fieldcast.realtime import models as _realtime  # noqa: F401
    from fieldcast.reviews import models as _reviews  # noqa: F401

    return Base.metadata


def register_events() -> None:
    """Import every capability's room event types, so the registry is complete."""
    from fieldcast.chat import events as _chat  # noqa: F401
    from fieldcast.commerce import events as _commerce  # noqa: F401
    from fieldcast.commerce.coupons import events as _coupons  # noqa: F401
    from fieldcast.draws import events as _draws  # noqa: F401
    from fieldcast.live import events as _live  # noqa: F401


def order_delivery(bus: Bus) -> outbox.Deliver:
    """The outbox consumer of order events: the bus channel "orders", for whoever follows sales
    as they happen (dashboards, integrity rules)."""

    async def deliver(message: Envelope) -> None:
        await bus.publish(
            "orders", orjson.dumps({"id": message.id, "type": message.event_type, "data": message.payload})
        )

    return deliver


def review_delivery(bus: Bus) -> outbox.Deliver:
    """The outbox consumer of review events: the bus channel "reviews", for whoever follows
    products and sellers (the per-product report, integrity rules)."""

    async def deliver(message: Envelope) -> None:
        await bus.publish(
            "reviews", orjson.dumps({"id": message.id, "type": message.event_type, "data": message.payload})
        )

    return deliver


def room_delivery(room_log: RoomLog, on_shelf_change: ShelfChange | None = None) -> outbox.Deliver:
    """The outbox consumer of room events: the room log, de-duplicating by the message's id and
    time (ids alone start over in a database restored from a backup). A shelf change also tells
    the stock gate (commerce), which live cannot import: the composition root joins them here."""

    async def deliver(message: Envelope) -> None:
        dedupe = f"{message.id}.{int(message.created_at.timestamp() * 1_000_000)}"
        await room_log.append(
            int(message.key), message.event_type, message.payload, dedupe=dedupe, at=message.created_at
        )
        if on_shelf_change is not None and message.event_type == "shelf.changed":
            await on_shelf_change(int(message.key), int(message.payload["sku_id"]))

    return deliver


@dataclass
class CoreContext:
    """What every Fieldcast process holds: the settings, the database, the bus, and the rooms'
    event logs and fan-out. The app adds the rest; `fieldcast fanout` needs only this."""

    settings: Settings
    db: Database
    bus: Bus
    # The ordered, resumable event log of each live room (the real-time gateway's source).
    room_log: RoomLog
    # This process's fan-out of room frames to its sockets (one subscription per room).
    room_hub: RoomHub
    # What a room holds, for the first frame of a room socket.
    room_state: RoomState
    # What each room socket did (kept in the database for the integrity rules).
    room_journal: Journal

    def uow(self, *, write: bool = True) -> UnitOfWork:
        return self.db.uow(write=write)

    async def close(self) -> None:
        await self.room_hub.close()
        await self.room_journal.close()
        await self.room_hub.counters.close()
        await self.room_log.close()
        await self.bus.close()
        await self.db.dispose()


@dataclass
class AppContext(CoreContext):
    media: MediaBackend
    chat_limiter: RateLimiter
    # Sign-in back-off, sign-up, organisation and upload limits (accounts/throttle.py).
    throttles: Throttles
    relay: OutboxRelay
    # The first check of show stock and per-buyer limits (Redis), or none (the database decides).
    gate: StockGate
    payment_provider: PaymentProvider
    # Where parcels' tracking statuses come from (manual: typed in or uploaded by suppliers).
    tracker: Tracker
    # Moves after each commit that changed public data; the page cache keys by it.
    data_version: DataVersion
    # Moves after each commit that may have ended a sign-in (a token revoked, a user changed);
    # the checkout fast path's token cache is checked against it (payments/fast_refusal.py).
    auth_version: DataVersion
    # Who holds an API token, read apart from the app's pool (the checkout fast path).
    token_lookup: TokenLookup
    # Cuts the clips asked for, off the request path (clips/tasks.py).
    clip_cutter: ClipCutter

    async def close(self) -> None:
        await self.data_version.close()
        await self.auth_version.close()
        await self.token_lookup.close()
        await self.media.close()
        await self.gate.close()
        await self.chat_limiter.close()
        configure_uploads(UploadLimits())
        await self.throttles.close()
        await super().close()


def core_context(settings: Settings) -> CoreContext:
    """The shared services as the settings pick them."""
    table_metadata()
    register_events()
    db = Database(
        settings.sqlalchemy_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_timeout=settings.database_pool_timeout_s,
    )
    bus = make_bus(settings.redis_url)
    room_log = make_room_log(settings.redis_url, bus)
    room_hub = RoomHub(room_log, make_counters(settings.redis_url), rest=settings.room_sweep_rest)
    room_journal = Journal(db.uow)
    room_hub.on_published = room_journal.published
    return CoreContext(
        settings=settings,
        db=db,
        bus=bus,
        room_log=room_log,
        room_hub=room_hub,
        room_state=RoomSnapshots(db.uow, settings.hls_base_url),
        room_journal=room_journal,
    )


def app_context(settings: Settings) -> AppContext:
    """Everything an app process runs; the outbox relay is woken by every commit that wrote to it."""
    core = core_context(settings)
    payment_provider = make_payment_provider(settings, core.db)
    gate = make_gate(settings.redis_url)

    async def shelf_changed(session_id: int, sku_id: int) -> None:
        await refresh_pool(core.db.uow, gate, session_id, sku_id)

    thresholds = Thresholds.from_settings(settings)
    integrity_rules = session_endings(core.db.uow, thresholds)
    relay = OutboxRelay(
        core.db.writer,
        {
            outbox.TOPIC_ROOM: room_delivery(core.room_log, shelf_changed),
            TOPIC_ORDER: order_delivery(core.bus),
            TOPIC_REVIEW: review_delivery(core.bus),
            TOPIC_AFTERSALES: order_delivery(core.bus),  # refund requests, to whoever follows orders
        },
        # Calls to the payment provider, and the sandbox provider's notifications to this app.
        outside={
            TOPIC_PROVIDER: provider_calls(payment_provider, core.db.uow),
            # A refund's outcome, applied once to its after-sales request (its own transaction).
            TOPIC_REFUND: refund_outcomes(core.db.uow),
            # A member lost a role: live withdraws a former host's keys and asks for a new host.
            TOPIC_MEMBERSHIP: membership_changes(core.db.uow),
            # A host verification was decided: live tells the applicant in-app.
            TOPIC_VERIFICATION: verification_decisions(core.db.uow),
            # A show ended: integrity runs its rules over it (alerts, once per rule and subject).
            TOPIC_SESSION: integrity_rules,
            # ... and again when the refund window after it has passed (a message to itself, late).
            TOPIC_INTEGRITY: integrity_rules,
            # A credit to a person was recorded: integrity judges it at once (an official may take no pay).
            TOPIC_CREDIT: credits_recorded(core.db.uow),
            # A comment was removed: integrity looks at once for criticism removed by the seller.
            TOPIC_CHAT: chat_removals(core.db.uow, thresholds),
            sandbox.TOPIC_NOTIFY: sandbox.notify_delivery(
                sandbox.sandbox_secret(settings), sandbox.DeliveryQuirks.from_settings(settings)
            ),
        },
    )
    core.db.outbox_wake = relay.wake
    data_version = make_data_version(settings.redis_url)
    auth_version = make_data_version(settings.redis_url, key=AUTH_VERSION_KEY)

    async def written(tables: Written) -> None:
        if changes_public_data(tables):
            await data_version.bump()
        if changes_sign_ins(tables):
            await auth_version.bump()

    core.db.on_written = written
    throttles = make_throttles(settings)
    # Password hashes and image decodes run in this pool, never on the event loop.
    offload.configure(settings.worker_threads, settings.image_memory_budget_mb * 1024 * 1024)
    configure_uploads(
        UploadLimits(max_pixels=int(settings.image_max_megapixels * 1_000_000), per_user=throttles.upload_user)
    )
    media = make_media(settings, core.db.uow)
    return AppContext(
        **vars(core),
        media=media,
        chat_limiter=make_rate_limiter(settings.redis_url),
        throttles=throttles,
        relay=relay,
        gate=gate,
        payment_provider=payment_provider,
        tracker=make_tracker(settings.tracking_provider),
        data_version=data_version,
        auth_version=auth_version,
        token_lookup=make_token_lookup(core.db.engine),
        clip_cutter=ClipCutter(
            core.db.uow,
            lambda: ffmpeg_executable(settings.ffmpeg_path),
            hls_dir=settings.resolved_hls_dir,
            media_dir=settings.resolved_media_dir,
            poll_s=settings.clip_cut_poll_s,
        ),
    )


async def housekeeping(ctx: CoreContext, stop: asyncio.Event, every_s: float = HOUSEKEEPING_EVERY_S) -> None:
    """The periodic clean-up of an app process, until `stop` is set: expired idempotency keys and
    delivered outbox rows. It stops between rounds, never inside a transaction."""
    while not stop.is_set():
        try:
            async with ctx.uow() as uow:
                keys = await idempotency.purge(uow.session)
                messages = await outbox.purge_done(uow.session)
            if keys or messages:
                log.info("housekeeping: %s idempotency keys and %s outbox messages removed", keys, messages)
        except Exception:  # the database may be down for a while: try again next round
            log.exception("housekeeping failed")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(every_s):
                await stop.wait()
