"""Integrity alerts: what a rule found, about what, with the evidence; and what a person decided.
Nothing is ever deleted: a decision moves the state and keeps who, when and why."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from fieldcast.db.base import Base, IdType, utcnow
from fieldcast.db.types import str_enum

RULE_MAX = 64
NOTE_MAX = 1000


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class SubjectKind(StrEnum):
    SESSION = "session"
    ORDER = "order"
    USER = "user"
    ORGANISATION = "organisation"
    # About one row that is not a sale (integrity/rules_officials.py): they flag no order's money.
    CREDIT = "credit"
    DRAW = "draw"
    CHAT_MESSAGE = "chat_message"
    REVIEW = "review"


class AlertState(StrEnum):
    """open ─acknowledge (note)▶ acknowledged; open | acknowledged ─false alarm (reason)▶ false_alarm."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    FALSE_ALARM = "false_alarm"


# States in which an alert's subject counts as "under alert" in verified GMV: acknowledging an
# alert says a person saw it, not that it was wrong; only a false alarm releases the money.
STANDING_STATES = (AlertState.OPEN, AlertState.ACKNOWLEDGED)


class IntegrityAlert(Base):
    __tablename__ = "integrity_alerts"
    # One alert per rule and subject: a rule that finds the same thing again raises nothing new.
    __table_args__ = (sa.UniqueConstraint("rule", "subject_kind", "subject_id", name="uq_integrity_alert_subject"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    rule: Mapped[str] = mapped_column(sa.String(RULE_MAX), index=True)
    severity: Mapped[Severity] = mapped_column(str_enum(Severity))
    subject_kind: Mapped[SubjectKind] = mapped_column(str_enum(SubjectKind))
    subject_id: Mapped[int] = mapped_column(IdType)
    # The show and organisation the alert belongs to (who may decide it, where it is listed).
    session_id: Mapped[int | None] = mapped_column(
        IdType, sa.ForeignKey("live_sessions.id", ondelete="RESTRICT"), index=True, default=None
    )
    organisation_id: Mapped[int] = mapped_column(
        IdType, sa.ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    evidence: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    state: Mapped[AlertState] = mapped_column(str_enum(AlertState), default=AlertState.OPEN, index=True)
    decided_by_id: Mapped[int | None] = mapped_column(
        IdType, sa.ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    decision_note: Mapped[str] = mapped_column(sa.String(NOTE_MAX), default="")
