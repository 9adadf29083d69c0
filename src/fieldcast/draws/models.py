"""Tables of lucky draws (抽奖): the draw with its public terms, its entrants and its winners."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from fieldcast.db.base import Base, IdType, Timestamped
from fieldcast.db.types import str_enum

PRIZE_TITLE_MAX = 60
TERMS_MAX = 500
KEYWORD_MAX = 20
# A cancel reason is shown in the room: REASON_MIN to REASON_MAX characters once trimmed, checked
# by draws.actions.cancel_draw for the API and the console alike (never cut short).
REASON_MIN = 2
REASON_MAX = 500
LABEL_MAX = 24
# The cap on the top prize: 50,000 yuan.
MAX_PRIZE_VALUE_FEN = 5_000_000
MAX_WINNERS = 1000
MAX_DRAWS_PER_SESSION = 50


class EntryRule(StrEnum):
    KEYWORD = "keyword"  # send a chat message containing the keyword
    PRESENT = "present"  # press "enter" while watching the room


class DrawState(StrEnum):
    ANNOUNCED = "announced"
    OPEN = "open"
    DRAWN = "drawn"
    CANCELLED = "cancelled"


class LuckyDraw(Timestamped, Base):
    """A draw in a live session. Its terms are public from creation; the seed is committed to by
    its hash when it opens and revealed once the winners are drawn (see realtime/draws/verify.py).

    Entry never requires a purchase: the only rules are a chat keyword or presence in the room."""

    __tablename__ = "lucky_draws"
    __table_args__ = (
        sa.CheckConstraint(f"prize_value_fen BETWEEN 1 AND {MAX_PRIZE_VALUE_FEN}", name="prize_value_capped"),
        sa.CheckConstraint(f"winners_count BETWEEN 1 AND {MAX_WINNERS}", name="winners_count_range"),
        sa.Index("ix_lucky_draws_session_state", "session_id", "state"),
    )

    session_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("live_sessions.id", ondelete="CASCADE"))
    created_by_id: Mapped[int | None] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="SET NULL"))
    prize_title: Mapped[str] = mapped_column(sa.String(PRIZE_TITLE_MAX))
    prize_value_fen: Mapped[int] = mapped_column(sa.BigInteger)
    winners_count: Mapped[int]
    entry_rule: Mapped[EntryRule] = mapped_column(str_enum(EntryRule))
    keyword: Mapped[str] = mapped_column(sa.String(KEYWORD_MAX), default="")
    terms: Mapped[str] = mapped_column(sa.String(TERMS_MAX), default="")
    state: Mapped[DrawState] = mapped_column(str_enum(DrawState), default=DrawState.ANNOUNCED)
    # sha256 of the seed, hex: published when the draw opens.
    seed_hash: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    # The seed itself, hex: secret until the draw is drawn (or cancelled after opening).
    seed: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    opened_at: Mapped[datetime | None] = mapped_column(default=None)
    closes_at: Mapped[datetime | None] = mapped_column(default=None)
    drawn_at: Mapped[datetime | None] = mapped_column(default=None)
    cancelled_at: Mapped[datetime | None] = mapped_column(default=None)
    cancel_reason: Mapped[str] = mapped_column(sa.String(REASON_MAX), default="")


class DrawEntrant(Timestamped, Base):
    """One person's entry. The label is the masked display name at entry time, published with the
    user id in the entrant list so people can find themselves without exposing full names."""

    __tablename__ = "draw_entrants"
    __table_args__ = (sa.UniqueConstraint("draw_id", "user_id", name="uq_draw_entrant"),)

    draw_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("lucky_draws.id", ondelete="CASCADE"))
    # RESTRICT: a published entrant list must stay recomputable, so entrants are never dropped.
    user_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    display_label: Mapped[str] = mapped_column(sa.String(LABEL_MAX))
    entered_at: Mapped[datetime]


class DrawWinner(Timestamped, Base):
    __tablename__ = "draw_winners"
    __table_args__ = (
        sa.UniqueConstraint("draw_id", "rank", name="uq_draw_winner_rank"),
        sa.UniqueConstraint("draw_id", "user_id", name="uq_draw_winner_user"),
    )

    draw_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("lucky_draws.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    rank: Mapped[int]
    display_label: Mapped[str] = mapped_column(sa.String(LABEL_MAX))
