"""A show's figures minute by minute (session_minutes) and where the roll-up has read up to.

A minute row holds two kinds of figure:
- sampled from the room counters while the show is live (the most seen in the minute: viewers
  on now; running totals at the minute's end: unique viewers, views, likes, flowers, watch
  time). Several processes may sample one minute: each keeps the larger value, so the row is the
  same whoever wrote it;
- counted from the rows beneath (orders placed in the minute, with their units, money, what of
  it was paid and what went back since; comments; coupon claims). A minute is counted again,
  whole, whenever one of its rows changes, so a refund that lands a week later moves the minute
  its order was placed in, and every figure equals the sum of the rows beneath it."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from fieldcast.db.base import Base, IdType, Timestamped


class SessionMinute(Base):
    __tablename__ = "session_minutes"
    __table_args__ = (sa.UniqueConstraint("session_id", "minute", name="uq_session_minute"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("live_sessions.id", ondelete="CASCADE"))
    minute: Mapped[datetime]  # UTC, the start of the minute
    # Sampled (largest seen): sockets open now; running totals at the minute's end.
    viewers: Mapped[int] = mapped_column(default=0)
    unique_viewers: Mapped[int] = mapped_column(default=0)
    views: Mapped[int] = mapped_column(default=0)
    likes: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    flowers: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    watch_s: Mapped[float] = mapped_column(sa.Float, default=0.0)
    # Counted from the rows placed in the minute.
    comments: Mapped[int] = mapped_column(default=0)
    orders: Mapped[int] = mapped_column(default=0)
    units: Mapped[int] = mapped_column(default=0)
    gmv_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0)  # raw: every order placed
    paid_orders: Mapped[int] = mapped_column(default=0)
    paid_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    refunded_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0)  # of those paid, gone back since
    coupon_claims: Mapped[int] = mapped_column(default=0)


class RollupMark(Base):
    """How far the roll-up has read the rows that move minutes: their `updated_at` (orders) or
    `created_at` (comments, claims) up to `read_to`. One row per source."""

    __tablename__ = "analytics_marks"

    source: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    read_to: Mapped[datetime]


class EventScreenLink(Timestamped, Base):
    """A projector link to an event's big screen, for a PC nobody signs in on (analytics/screen_links.py).

    Only a SHA-256 of the token is kept; the link is shown once, when made. Making a new one
    revokes the one before (one link stands per event); revoking ends it. A browser that opened
    the link holds this row's id in its session cookie, checked against the row on every request,
    so a revoked link stops the screens that already opened it at their next refresh."""

    __tablename__ = "event_screen_links"

    event_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("live_events.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
