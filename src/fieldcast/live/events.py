"""Room events that live rooms publish: state changes, the pinned card, the shelf, co-streams."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from fieldcast.realtime.events import RoomEvent

# Outside the room: a show ended, for the capabilities above live (integrity runs its rules).
TOPIC_SESSION = "live.session"
SESSION_ENDED = "session.ended"


class SessionStateChanged(RoomEvent):
    """The show went live, ended (replay processing or ready) or was cancelled."""

    event_type: ClassVar[str] = "session.state"
    state: str
    replay_state: str
    started_at: datetime | None
    ended_at: datetime | None


class ProductPinned(RoomEvent):
    """ "Explaining now": the pinned card changed (sku_id None = nothing pinned)."""

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
