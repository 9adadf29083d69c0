"""API shapes for integrity. Money is integer fen; times are UTC."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from fieldcast.integrity import models as m
from fieldcast.web.api import In, Out, text


class AlertOut(Out):
    id: int
    rule: str
    severity: m.Severity
    subject_kind: m.SubjectKind
    subject_id: int
    session_id: int | None
    organisation_id: int
    evidence: dict[str, Any]
    created_at: datetime
    state: m.AlertState
    decided_by_id: int | None
    decided_at: datetime | None
    decision_note: str


class AcknowledgeIn(In):
    note: text(1, m.NOTE_MAX)  # type: ignore[valid-type]


class FalseAlarmIn(In):
    reason: text(1, m.NOTE_MAX)  # type: ignore[valid-type]


class GmvOut(BaseModel):
    """A show's (or an organisation's) figures side by side: raw GMV is never shown alone."""

    session_id: int | None = None
    organisation_id: int | None = None
    raw_fen: int
    paid_fen: int
    refunded_fen: int
    flagged_fen: int
    verified_fen: int
    orders: int
    paid_orders: int
    flagged_orders: int
