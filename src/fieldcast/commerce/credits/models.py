"""The table of credits: one row per amount an organisation credited to a person. Rows are never
edited or deleted (a wrong entry is answered by another entry and a note). Money is integer fen."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from fieldcast.db.base import Base, IdType, utcnow
from fieldcast.db.types import str_enum

NOTE_MAX = 500
AMOUNT_MAX_FEN = 100_000_000  # one million yuan in one entry


class CreditKind(StrEnum):
    COMMISSION = "commission"  # 佣金: a share of the show's sales
    PAYOUT = "payout"  # 劳务费/出场费: a fee for hosting or appearing
    GIFT = "gift"  # 礼品/红包: anything given, in kind or in cash


class HostCredit(Base):
    __tablename__ = "host_credits"
    __table_args__ = (
        sa.CheckConstraint(f"amount_fen > 0 AND amount_fen <= {AMOUNT_MAX_FEN}", name="amount_positive"),
        sa.Index("ix_host_credits_organisation_id_id", "organisation_id", "id"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    organisation_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("organisations.id", ondelete="RESTRICT"))
    # The show it was for; None for a credit not tied to one show.
    session_id: Mapped[int | None] = mapped_column(
        IdType, sa.ForeignKey("live_sessions.id", ondelete="RESTRICT"), index=True, default=None
    )
    # Whom it was credited to: RESTRICT, a record of money paid to a person outlives nothing.
    user_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    kind: Mapped[CreditKind] = mapped_column(str_enum(CreditKind))
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    note: Mapped[str] = mapped_column(sa.String(NOTE_MAX), default="")
    created_by_id: Mapped[int | None] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
