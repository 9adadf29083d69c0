"""Room events of chat. Removed text is never sent again: `chat.removed` carries only the id."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from fieldcast.realtime.events import RoomEvent

# Moderation the capabilities above hear of through the outbox (integrity judges a removal at once).
TOPIC_CHAT = "chat.moderation"
MESSAGE_REMOVED = "chat.message_removed"


class ChatPosted(RoomEvent):
    """A new comment. `body` is plain text: clients must insert it as text, never as HTML."""

    event_type: ClassVar[str] = "chat.posted"
    id: int
    user_id: int
    display_name: str
    body: str
    is_host: bool
    at: datetime


class ChatRemoved(RoomEvent):
    """A moderator removed a comment (the reason is public in the history, the text is not)."""

    event_type: ClassVar[str] = "chat.removed"
    id: int
    reason: str


class ChatMuted(RoomEvent):
    """A user may not post in this room until `until` (None: for the rest of the show)."""

    event_type: ClassVar[str] = "chat.muted"
    user_id: int
    until: datetime | None


class ChatUnmuted(RoomEvent):
    """A moderator lifted a user's mute in this room."""

    event_type: ClassVar[str] = "chat.unmuted"
    user_id: int
