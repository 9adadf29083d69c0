"""Tables of the media capability: stream keys."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from fieldcast.db.base import Base, IdType, Timestamped


class StreamKey(Timestamped, Base):
    """One active key per session. Only a SHA-256 of the key is kept; the key is shown once."""

    __tablename__ = "stream_keys"

    session_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("live_sessions.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(12))
    created_by_id: Mapped[int | None] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
