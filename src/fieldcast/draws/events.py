"""Room events of lucky draws. The room id of the envelope is the session; `data` is one of these."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from fieldcast.realtime.events import RoomEvent


class DrawWinnerData(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rank: int
    user_id: int
    label: str


class DrawAnnounced(RoomEvent):
    """A draw was created: its terms are public before it opens."""

    event_type: ClassVar[str] = "draw.announced"
    draw_id: int
    prize_title: str
    prize_value_fen: int
    winners_count: int
    entry_rule: str
    keyword: str
    terms: str


class DrawOpened(RoomEvent):
    """Entries are open. `seed_hash` commits the server to its seed before anyone enters."""

    event_type: ClassVar[str] = "draw.opened"
    draw_id: int
    seed_hash: str
    opened_at: datetime
    closes_at: datetime | None


class DrawDrawn(RoomEvent):
    """The winners, and the seed that lets anyone recompute them from the published entrant list."""

    event_type: ClassVar[str] = "draw.drawn"
    draw_id: int
    seed: str
    seed_hash: str
    entrant_count: int
    winners: list[DrawWinnerData]


class DrawCancelled(RoomEvent):
    """Called off before drawing. If it had opened, its seed is revealed so that anyone can see
    who would have won: cancelling cannot quietly be used to dodge an unwelcome result."""

    event_type: ClassVar[str] = "draw.cancelled"
    draw_id: int
    reason: str
    seed: str | None
