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


def validate(frame: dict[str, Any]) -> None:
    """Every event's data matches the model registered for its type (docs/events.md)."""
    assert set(frame) == {"id", "type", "room", "at", "data"}, frame
    REGISTRY[frame["type"]].model_validate(frame["data"])
