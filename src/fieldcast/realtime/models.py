"""What the room sockets leave in the database for the integrity rules: one row per connection
(the connection journal, realtime/journal.py) and the viewer figures the room counters published
for each room (peak concurrent viewers, unique viewers, views), which otherwise live only in Redis
or in memory.

No foreign key to the show: rows are written in batches off the sockets' path, by a process
(`fieldcast fanout`) that knows rooms only by their ids."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from fieldcast.db.base import Base, IdType, utcnow

KEY_MAX = 64  # a viewer key ("u:<id>" or "a:<anonymous id>") or an anonymous viewer id
IP_MAX = 45  # the longest textual IPv6 address (with an embedded IPv4)
NET_MAX = 49  # an address prefix with its length ("2001:db8:1234::/48", "203.0.113.0/24")


class RoomConnection(Base):
    """One room socket, from the moment it was admitted to a room until it closed."""

    __tablename__ = "room_connections"
    __table_args__ = (sa.Index("ix_room_connections_session_joined", "session_id", "joined_at"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(IdType)
    # realtime.room_feed.viewer_key: "u:<user id>" or "a:<anonymous viewer id>"; None = the socket
    # carried no viewer the site issued (a script that never loaded a page).
    viewer: Mapped[str | None] = mapped_column(sa.String(KEY_MAX), default=None)
    user_id: Mapped[int | None] = mapped_column(IdType, default=None)
    # The anonymous viewer id of the signed session cookie (also kept for a signed-in user who
    # loaded a room page): the browser's device cookie.
    device: Mapped[str | None] = mapped_column(sa.String(KEY_MAX), default=None)
    ip: Mapped[str] = mapped_column(sa.String(IP_MAX), default="")
    # The address's network: its /24 for IPv4, its /48 for IPv6 (one site's allocation).
    ip_net: Mapped[str] = mapped_column(sa.String(NET_MAX), default="")
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)
    left_at: Mapped[datetime | None] = mapped_column(default=None)
    heartbeats: Mapped[int] = mapped_column(default=0)  # "ping" messages received
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
    playing_at: Mapped[datetime | None] = mapped_column(default=None)  # first {"type": "playing"}
    likes: Mapped[int] = mapped_column(default=0)  # granted by the socket's caps
    flowers: Mapped[int] = mapped_column(default=0)


class RoomFigures(Base):
    """The viewer figures the room counters published for a room, as last seen by any process:
    the highest concurrent viewer count, and unique viewers, views, likes and flowers (each only
    grows, so the highest seen is the latest)."""

    __tablename__ = "room_figures"

    session_id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=False)
    peak_viewers: Mapped[int] = mapped_column(default=0)
    unique_viewers: Mapped[int] = mapped_column(default=0)
    views: Mapped[int] = mapped_column(default=0)
    likes: Mapped[int] = mapped_column(default=0)
    flowers: Mapped[int] = mapped_column(default=0)
    unissued_connections: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
