"""The contract of room events: the base of every event type (extra fields forbidden), the registry
of all of them, and the counters frame the hub itself sends. Each capability defines its own
event types (live/events.py, chat/events.py, draws/events.py); an action writes them to the outbox
in its transaction, and the relay hands them to the room log once it commits.

Every event a client receives is `{"id": n, "type": ..., "room": ..., "at": ..., "data": {...}}`;
`data` validates against the model registered for `type` (see docs/events.md)."""

from __future__ import annotations

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
    # Joins of sockets with no viewer the site issued: connections, not people (integrity rules).
    unissued_connections: int
