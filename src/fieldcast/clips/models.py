"""Tables of shoppable clips: a stretch of a show's replay tied to one product (SKU), its views
(one per viewer per window) and the orders placed from its page.

A clip row is written at once in state `pending`; the cutter (clips/tasks.py) takes it, runs
ffmpeg off the request path and leaves it `ready` (with its MP4 and poster) or `failed`. A deleted
clip keeps its row (deleted_at) so that the orders it brought stay attributed in the reports; its
files go."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from fieldcast.db.base import Base, IdType, Timestamped, utcnow
from fieldcast.db.types import str_enum

TITLE_MAX = 60  # characters of a clip's title
SLUG_LEN = 12  # the share link's random part
ERROR_MAX = 200
VIEWER_KEY_MAX = 64
LENGTH_MIN_S = 5.0  # a clip is 5 s to 3 min of the replay
LENGTH_MAX_S = 180.0
LEAD_MAX_S = 60.0  # "around a mark": at most this long before the mark
CUT_ATTEMPTS_MAX = 3  # a clip whose cut failed this often is failed for good


class ClipState(StrEnum):
    PENDING = "pending"  # waiting for the cutter
    CUTTING = "cutting"  # a cutter holds it (until lease_until)
    READY = "ready"
    FAILED = "failed"


class Clip(Timestamped, Base):
    __tablename__ = "clips"
    __table_args__ = (
        sa.CheckConstraint("requested_end_s > requested_start_s", name="end_after_start"),
        sa.Index("ix_clips_state_lease_until", "state", "lease_until"),
    )

    slug: Mapped[str] = mapped_column(sa.String(SLUG_LEN), unique=True)
    session_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("live_sessions.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[int] = mapped_column(
        IdType, sa.ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    sku_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("skus.id", ondelete="RESTRICT"), index=True)
    # The "explaining now" mark it was cut around, when it was.
    mark_id: Mapped[int | None] = mapped_column(
        IdType, sa.ForeignKey("product_marks.id", ondelete="SET NULL"), default=None
    )
    title: Mapped[str] = mapped_column(sa.String(TITLE_MAX))
    # What the cutter was asked for, in seconds of the replay ...
    requested_start_s: Mapped[float] = mapped_column(sa.Float)
    requested_end_s: Mapped[float] = mapped_column(sa.Float)
    # ... and what it made: the start snapped to the keyframe at or before, and the file's length.
    start_s: Mapped[float | None] = mapped_column(sa.Float, default=None)
    duration_s: Mapped[float | None] = mapped_column(sa.Float, default=None)
    state: Mapped[ClipState] = mapped_column(str_enum(ClipState), default=ClipState.PENDING)
    published: Mapped[bool] = mapped_column(default=True)
    attempts: Mapped[int] = mapped_column(default=0)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    error: Mapped[str] = mapped_column(sa.String(ERROR_MAX), default="")
    # Under FIELDCAST_MEDIA_DIR (served as /media/...): the MP4 and its poster JPEG.
    video_path: Mapped[str] = mapped_column(sa.String(200), default="")
    poster_path: Mapped[str] = mapped_column(sa.String(200), default="")
    created_by_id: Mapped[int | None] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="SET NULL"))
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)
    is_demo: Mapped[bool] = mapped_column(default=False)


class ClipView(Base):
    """One viewer's view of a clip in one window (FIELDCAST_CLIP_VIEW_WINDOW_S): reloading the
    page within the window adds nothing. The viewer is the signed-in user, else the anonymous
    viewer id of the session cookie."""

    __tablename__ = "clip_views"
    __table_args__ = (sa.UniqueConstraint("clip_id", "viewer_key", "window_start", name="uq_clip_view"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    clip_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("clips.id", ondelete="CASCADE"), index=True)
    viewer_key: Mapped[str] = mapped_column(sa.String(VIEWER_KEY_MAX))
    window_start: Mapped[datetime]
    viewed_at: Mapped[datetime] = mapped_column(default=utcnow)
    is_demo: Mapped[bool] = mapped_column(default=False)


class ClipOrder(Base):
    """An order placed from a clip's page (its checkout wrote this in the same transaction)."""

    __tablename__ = "clip_orders"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    clip_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("clips.id", ondelete="CASCADE"), index=True)
    order_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("orders.id", ondelete="CASCADE"), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
