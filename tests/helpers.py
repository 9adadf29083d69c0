"""Reading what a test did: a room's event frames once the outbox has delivered them, and the
check that a frame keeps the event contract. Test data is made in tests/factories.py."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI

from fieldcast.realtime.events import REGISTRY


async def room_frames(app: FastAPI, room_id: int, after_id: int = 0) -> list[bytes]:
    """The room's event frames once everything committed so far has left the outbox (the relay
    delivers them moments after each commit; here, at once)."""
    await app.state.ctx.relay.drain()
    frames: list[bytes] = await app.state.ctx.room_log.since(room_id, after_id)
    return frames


async def room_events(app: FastAPI, room_id: int, after_id: int = 0) -> list[dict[str, Any]]:
    """room_frames, decoded."""
    return [orjson.loads(frame) for frame in await room_frames(app, room_id, after_id)]


async def room_last_id(app: FastAPI, room_id: int) -> int:
    """The room's last event id once the outbox is delivered (see room_frames)."""
    await app.state.ctx.relay.drain()
    last: int = await app.state.ctx.room_log.last_id(room_id)
    return last


def matches_contract(event_type: str, data: dict[str, Any]) -> None:
    """The event's data, as a client receives it (JSON), validates against the model registered
    for its type: no field the model lacks (extra fields are forbidden), none missing, and
    strictly, so a value of another type (a number sent as a string) fails too."""
    REGISTRY[event_type].model_validate_json(orjson.dumps(data), strict=True)


def validate(frame: dict[str, Any]) -> None:
    """A room-log frame is the envelope of docs/events.md and keeps its type's contract."""
    assert set(frame) == {"id", "type", "room", "at", "data"}, frame
    matches_contract(frame["type"], frame["data"])
