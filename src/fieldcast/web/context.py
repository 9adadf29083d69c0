"""What create_app wires once and every request reaches through request.app.state.ctx."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection

from fieldcast.accounts.throttle import SignInThrottle
from fieldcast.config import Settings
from fieldcast.db.engine import make_engine, make_sessionmaker
from fieldcast.db.uow import UnitOfWork
from fieldcast.realtime.bus import Bus, make_bus
from fieldcast.realtime.chat.ratelimit import RateLimiter
from fieldcast.realtime.counters import make_counters
from fieldcast.realtime.hub import RoomHub
from fieldcast.realtime.room_log import RoomLog, make_room_log

if TYPE_CHECKING:  # the media backend imports live actions, which must not import the web layer
    from fieldcast.media.backend import MediaBackend


@dataclass
class CoreContext:
    """What every Fieldcast process holds: the settings, the database, the bus, and the rooms'
    event logs and fan-out. The app adds the rest; `fieldcast fanout` needs only this."""

    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    bus: Bus
    # The ordered, resumable event log of each live room (the real-time gateway's source).
    room_log: RoomLog
    # This process's fan-out of room frames to its sockets (one subscription per room).
    room_hub: RoomHub

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessionmaker, events=self.room_log)

    @classmethod
    def from_settings(cls, settings: Settings) -> CoreContext:
        """The shared services as the settings pick them: SQLite or PostgreSQL, in-process or
        Redis bus, room log and counters."""
        engine = make_engine(settings.sqlalchemy_url)
        bus = make_bus(settings.redis_url)
        room_log = make_room_log(settings.redis_url, bus)
        return CoreContext(
            settings=settings,
            engine=engine,
            sessionmaker=make_sessionmaker(engine),
            bus=bus,
            room_log=room_log,
            room_hub=RoomHub(room_log, make_counters(settings.redis_url), rest=settings.room_sweep_rest),
        )

    async def close(self) -> None:
        await self.room_hub.close()
        await self.room_hub.counters.close()
        await self.room_log.close()
        await self.bus.close()
        await self.engine.dispose()


@dataclass
class AppContext(CoreContext):
    media: MediaBackend
    chat_limiter: RateLimiter
    sign_in_throttle: SignInThrottle = field(default_factory=SignInThrottle)


def app_context(conn: HTTPConnection) -> AppContext:
    ctx: AppContext = conn.app.state.ctx
    return ctx
