"""The contract of room events: one pydantic model per event type (extra fields forbidden), the
registry of all of them, and how an action hands one to the room log once its transaction commits.

Every event a client receives is `{"id": n, "type": ..., "room": ..., "at": ..., "data": {...}}`;
`data` validates against the model registered for `type` (see docs/events.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


class RoomEvent(BaseModel):
    """Base of every room event. Subclasses set `event_type` and are registered on definition."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    event_type: ClassVar[str] = ""

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if cls.event_type:
            if cls.event_type in REGISTRY and REGISTRY[cls.event_type] is not cls:
                raise TypeError(f"room event type {cls.event_type!r} defined twice")
            REGISTRY[cls.event_type] = cls


REGISTRY: dict[str, type[RoomEvent]] = {}


def event_model(event_type: str) -> type[RoomEvent]:
    """The model of a registered event type (KeyError for an unknown one)."""
    return REGISTRY[event_type]


# -- live-room events (published by fieldcast.live.actions) ---------------------------------------


class SessionStateChanged(RoomEvent):
    """The show went live, ended (replay processing or ready) or was cancelled."""

    event_type: ClassVar[str] = "session.state"
    state: str
    replay_state: str
    started_at: datetime | None
    ended_at: datetime | None


class ProductPinned(RoomEvent):
    """"Explaining now": the pinned card changed (sku_id None = nothing pinned)."""

    event_type: ClassVar[str] = "session.pinned"
    sku_id: int | None
    offset_s: float | None = None


class ShelfChanged(RoomEvent):
    """An item was added, changed or removed: the ids of the shelf in display order, and the
    changed item's prices (clients refetch details of an id they do not know)."""

    event_type: ClassVar[str] = "shelf.changed"
    sku_ids: list[int]
    sku_id: int
    live_price_fen: int | None
    session_stock: int | None
    removed: bool = False


class CoStreamChanged(RoomEvent):
    """连麦: an invitation, acceptance, refusal or end, seen by both rooms."""

    event_type: ClassVar[str] = "costream.changed"
    co_stream_id: int
    state: str
    inviter_session_id: int
    invitee_session_id: int


class RoomCounters(RoomEvent):
    """Totals sent about four times a second while they change; not kept in the room log (its
    frames carry no id and are not resumed: the next one supersedes them)."""

    event_type: ClassVar[str] = "room.counters"
    likes: int
    flowers: int
    viewers: int
    unique_viewers: int
    views: int
    avg_watch_s: float  # whole seconds
