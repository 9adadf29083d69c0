"""Tables of room chat: messages (kept for the replay), mutes and banned-word lists."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from fieldcast.db.base import Base, IdType, Timestamped

BODY_MAX = 200
REASON_MAX = 500
WORD_MAX = 32
MUTE_MAX_MINUTES = 7 * 24 * 60


class ChatMessage(Timestamped, Base):
    """One comment. Removal keeps the row (and its text, for moderators and the audit log):
    criticism is never deleted silently."""

    __tablename__ = "chat_messages"
    __table_args__ = (
        sa.Index("ix_chat_messages_session_id_id", "session_id", "id"),
        # The analytics roll-up: comments posted since its mark, and a show's minute by minute.
        sa.Index("ix_chat_messages_created_at", "created_at"),
        sa.Index("ix_chat_messages_session_id_created_at", "session_id", "created_at"),
    )

    session_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("live_sessions.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    # Plain text as typed (stripped, control characters removed); never rendered as HTML.
    body: Mapped[str] = mapped_column(sa.String(BODY_MAX))
    # Posted by one of the session's operators (host, organiser, admin): shown with a host badge.
    is_host: Mapped[bool] = mapped_column(default=False)
    # Seconds since the show started, for the replay; None before the show started.
    offset_s: Mapped[float | None] = mapped_column(sa.Float, default=None)
    removed_at: Mapped[datetime | None] = mapped_column(default=None)
    removed_by_id: Mapped[int | None] = mapped_column(
        IdType, sa.ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    removal_reason: Mapped[str] = mapped_column(sa.String(REASON_MAX), default="")


class ChatMute(Timestamped, Base):
    """A user may not post in one session (session_id) or anywhere (NULL, platform admins only)
    until `until` (NULL: for the rest of the show, or until lifted for a platform-wide mute)."""

    __tablename__ = "chat_mutes"
    __table_args__ = (sa.Index("ix_chat_mutes_user_id_session_id", "user_id", "session_id"),)

    session_id: Mapped[int | None] = mapped_column(
        IdType, sa.ForeignKey("live_sessions.id", ondelete="CASCADE"), default=None
    )
    user_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="CASCADE"))
    muted_by_id: Mapped[int | None] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(sa.String(REASON_MAX))
    until: Mapped[datetime | None] = mapped_column(default=None)
    lifted_at: Mapped[datetime | None] = mapped_column(default=None)
    lifted_by_id: Mapped[int | None] = mapped_column(
        IdType, sa.ForeignKey("users.id", ondelete="SET NULL"), default=None
    )


class BannedWord(Timestamped, Base):
    """A word chat refuses: on the platform list (organisation_id NULL) or one organisation's list,
    which applies to that organisation's sessions."""

    __tablename__ = "chat_banned_words"
    __table_args__ = (sa.UniqueConstraint("organisation_id", "word", name="uq_chat_banned_word"),)

    organisation_id: Mapped[int | None] = mapped_column(
        IdType, sa.ForeignKey("organisations.id", ondelete="CASCADE"), index=True, default=None
    )
    # Stored normalised (NFKC, case-folded, no spaces): the form messages are matched in.
    word: Mapped[str] = mapped_column(sa.String(WORD_MAX))
    created_by_id: Mapped[int | None] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="SET NULL"))
