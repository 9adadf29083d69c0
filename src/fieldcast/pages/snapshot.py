"""What a room holds, for the first frame a room socket sends: the session with its shelf and
pinned card, and the last chat lines. Composed here, above live and chat, and handed to the
transport (fieldcast.realtime.room_feed) as its RoomState by the composition root."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fieldcast.chat import queries as chat_queries
from fieldcast.db.uow import UnitOfWork
from fieldcast.live import queries as live_queries

SNAPSHOT_CHAT_LINES = 50


class RoomSnapshots:
    """RoomState over the database: reads in a read-only unit of work."""

    def __init__(self, uow: Callable[..., UnitOfWork], hls_base_url: str) -> None:
        self._uow = uow
        self._hls_base_url = hls_base_url

    async def describe(self, room_id: int) -> dict[str, Any] | None:
        async with self._uow(write=False) as uow:
            live = await live_queries.load_session(uow.session, room_id)
            if live is None:
                return None
            detail = await live_queries.session_detail(uow.session, live, self._hls_base_url)
            chat = await chat_queries.recent(uow.session, room_id, SNAPSHOT_CHAT_LINES)
        return {
            "data": detail.model_dump(mode="json"),
            "chat": [line.model_dump(mode="json") for line in chat],
        }

    async def exists(self, room_id: int) -> bool:
        async with self._uow(write=False) as uow:
            return await live_queries.load_session(uow.session, room_id) is not None
