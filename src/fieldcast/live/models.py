"""Tables of live rooms: sessions, their hosts and shelf, product marks, events, co-streams,
follows and in-app notifications."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from fieldcast.db.base import Base, IdType, Timestamped
from fieldcast.db.types import str_enum

TITLE_MAX = 60
DESCRIPTION_MAX = 2000
REASON_MAX = 500  # a title override reason; a cancel reason (audit log), checked by the action
EVENT_SLUG_MAX = 48
STREAM_NAME_MAX = 32
MAX_HOSTS = 4
MAX_SHELF_ITEMS = 200
MAX_LIVE_PRICE_FEN = 10_000_000_000
MAX_SESSION_STOCK = 10_000_000
MAX_PER_BUYER = 1000


class SessionState(StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"
    CANCELLED = "cancelled"


class ReplayState(StrEnum):
    NONE = "none"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class CoStreamState(StrEnum):
    INVITED = "invited"
    ACTIVE = "active"
    DECLINED = "declined"
    ENDED = "ended"


class NotificationKind(StrEnum):
    SESSION_SCHEDULED = "session_scheduled"
    SESSION_LIVE = "session_live"
    COSTREAM_INVITED = "costream_invited"
    # To the organisation's owners and organisers: the show's host lost the host role.
    HOST_NEEDED = "host_needed"
    # To a host: an organiser put them on a show (scheduled, or added to its hosts).
    HOST_ASSIGNED = "host_assigned"
    # To the applicant: the platform decided their real-name host verification (no session).
    HOST_VERIFIED = "host_verified"
    HOST_VERIFICATION_REJECTED = "host_verification_rejected"
    # To a viewer: they won a lucky draw in the show.
    DRAW_WON = "draw_won"


class LiveEvent(Timestamped, Base):
    """A multi-room event such as "Fengcheng 618": several sessions at once under one page."""

    __tablename__ = "live_events"

    organisation_id: Mapped[int] = mapped_column(
        IdType, sa.ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    slug: Mapped[str] = mapped_column(sa.String(EVENT_SLUG_MAX), unique=True)
    title: Mapped[str] = mapped_column(sa.String(TITLE_MAX))
    description: Mapped[str] = mapped_column(sa.String(DESCRIPTION_MAX), default="")
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    created_by_id: Mapped[int | None] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="SET NULL"))
    is_demo: Mapped[bool] = mapped_column(default=False)


class LiveSession(Timestamped, Base):
    """A live room: scheduled, then live while ingest runs, then ended with a replay."""

    __tablename__ = "live_sessions"

    organisation_id: Mapped[int] = mapped_column(
        IdType, sa.ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[int | None] = mapped_column(
        IdType, sa.ForeignKey("live_events.id", ondelete="SET NULL"), index=True, default=None
    )
    title: Mapped[str] = mapped_column(sa.String(TITLE_MAX))
    description: Mapped[str] = mapped_column(sa.String(DESCRIPTION_MAX), default="")
    cover_path: Mapped[str] = mapped_column(sa.String(200), default="")
    scheduled_at: Mapped[datetime] = mapped_column(index=True)
    is_public_welfare: Mapped[bool] = mapped_column(default=False)
    state: Mapped[SessionState] = mapped_column(str_enum(SessionState), default=SessionState.SCHEDULED, index=True)
    # Public name of the stream: the HLS folder and the RTMP name after the publish hook renames it.
    # Random so nobody can guess a room's video path before it is announced.
    stream_name: Mapped[str] = mapped_column(sa.String(STREAM_NAME_MAX), unique=True)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    # Set when ingest drops; the show ends if nothing reconnects within the grace period.
    ingest_stopped_at: Mapped[datetime | None] = mapped_column(default=None)
    pinned_sku_id: Mapped[int | None] = mapped_column(
        IdType, sa.ForeignKey("skus.id", ondelete="SET NULL"), default=None
    )
    replay_state: Mapped[ReplayState] = mapped_column(str_enum(ReplayState), default=ReplayState.NONE)
    replay_duration_s: Mapped[float | None] = mapped_column(sa.Float, default=None)
    title_override_reason: Mapped[str] = mapped_column(sa.String(REASON_MAX), default="")
    created_by_id: Mapped[int | None] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="SET NULL"))
    is_demo: Mapped[bool] = mapped_column(default=False)


class SessionHost(Timestamped, Base):
    __tablename__ = "session_hosts"
    __table_args__ = (sa.UniqueConstraint("session_id", "user_id", name="uq_session_host"),)

    session_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("live_sessions.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)


class ShelfItem(Timestamped, Base):
    """One SKU on a session's shelf at its live price, with optional stock set aside for the show
    (its pool: sold + reserved + available = session_stock, live/stock.py), and as a flash sale
    (秒杀) a start time and a per-buyer limit."""

    __tablename__ = "shelf_items"
    __table_args__ = (
        sa.UniqueConstraint("session_id", "sku_id", name="uq_shelf_item"),
        sa.CheckConstraint("live_price_fen > 0", name="live_price_positive"),
        sa.CheckConstraint("session_stock IS NULL OR session_stock >= 0", name="session_stock_not_negative"),
        sa.CheckConstraint(
            "session_available >= 0 AND session_reserved >= 0 AND session_sold >= 0", name="pool_not_negative"
        ),
        sa.CheckConstraint(
            "session_stock IS NULL OR session_sold + session_reserved + session_available = session_stock",
            name="pool_adds_up",
        ),
        sa.CheckConstraint("per_buyer_limit IS NULL OR per_buyer_limit > 0", name="per_buyer_limit_positive"),
        # Ids are never reused (SQLite otherwise reuses the newest deleted one): per-buyer tallies
        # and the stock gate refer to an item by id, and a new item must not inherit them.
        {"sqlite_autoincrement": True},
    )

    session_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("live_sessions.id", ondelete="CASCADE"), index=True)
    sku_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("skus.id", ondelete="RESTRICT"), index=True)
    live_price_fen: Mapped[int] = mapped_column(sa.BigInteger)
    session_stock: Mapped[int | None] = mapped_column(default=None)
    session_available: Mapped[int] = mapped_column(default=0)
    session_reserved: Mapped[int] = mapped_column(default=0)
    session_sold: Mapped[int] = mapped_column(default=0)
    flash_starts_at: Mapped[datetime | None] = mapped_column(default=None)
    per_buyer_limit: Mapped[int | None] = mapped_column(default=None)
    position: Mapped[int] = mapped_column(default=0)


class ProductMark(Timestamped, Base):
    """ "Explaining now": the host's mark that lets the replay jump to a product's explanation."""

    __tablename__ = "product_marks"

    session_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("live_sessions.id", ondelete="CASCADE"), index=True)
    sku_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("skus.id", ondelete="CASCADE"))
    marked_at: Mapped[datetime]
    # Seconds since the show started: the position in the replay.
    offset_s: Mapped[float] = mapped_column(sa.Float)
    marked_by_id: Mapped[int | None] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="SET NULL"))


class CoStream(Timestamped, Base):
    """连麦: one session invites another; once accepted each room shows both videos and shelves."""

    __tablename__ = "co_streams"

    inviter_session_id: Mapped[int] = mapped_column(
        IdType, sa.ForeignKey("live_sessions.id", ondelete="CASCADE"), index=True
    )
    invitee_session_id: Mapped[int] = mapped_column(
        IdType, sa.ForeignKey("live_sessions.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[CoStreamState] = mapped_column(str_enum(CoStreamState), default=CoStreamState.INVITED, index=True)
    invited_by_id: Mapped[int | None] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="SET NULL"))
    decided_by_id: Mapped[int | None] = mapped_column(
        IdType, sa.ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    accepted_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_by_id: Mapped[int | None] = mapped_column(
        IdType, sa.ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    ended_at: Mapped[datetime | None] = mapped_column(default=None)


class Follow(Timestamped, Base):
    """A user follows a host or an organisation (exactly one of the two)."""

    __tablename__ = "follows"
    __table_args__ = (
        sa.UniqueConstraint("follower_id", "host_id", "organisation_id", name="uq_follow"),
        sa.CheckConstraint("(host_id IS NULL) <> (organisation_id IS NULL)", name="one_target"),
    )

    follower_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    host_id: Mapped[int | None] = mapped_column(
        IdType, sa.ForeignKey("users.id", ondelete="CASCADE"), index=True, default=None
    )
    organisation_id: Mapped[int | None] = mapped_column(
        IdType, sa.ForeignKey("organisations.id", ondelete="CASCADE"), index=True, default=None
    )


class Notification(Timestamped, Base):
    """In-app notice. The text is rendered from kind + session when shown, in the reader's language."""

    __tablename__ = "notifications"
    __table_args__ = (sa.Index("ix_notifications_user_unread", "user_id", "read_at"),)

    user_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[NotificationKind] = mapped_column(str_enum(NotificationKind))
    session_id: Mapped[int | None] = mapped_column(
        IdType, sa.ForeignKey("live_sessions.id", ondelete="CASCADE"), default=None
    )
    read_at: Mapped[datetime | None] = mapped_column(default=None)


class StreamKey(Timestamped, Base):
    """One active key per session. Only a SHA-256 of the key is kept; the key is shown once."""

    __tablename__ = "stream_keys"

    session_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("live_sessions.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(12))
    created_by_id: Mapped[int | None] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
