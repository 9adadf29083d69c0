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


class SupervisedAlertOut(AlertOut):
    """An alert as the supervisor's view lists it: with its show's title and organisation."""

    session_title: str | None
    organisation_slug: str
    organisation_name: str
    decided_by_name: str | None


class AlertCountOut(BaseModel):
    rule: str
    severity: m.Severity
    open: int
    acknowledged: int
    false_alarm: int
    total: int


class SupervisionAlertsOut(BaseModel):
    """Counts by rule and severity (every alert that passes the filters) and the newest alerts."""

    counts: list[AlertCountOut]
    items: list[SupervisedAlertOut]


class ShowGmvOut(GmvOut):
    title: str
    state: str
    scheduled_at: datetime
    organisation_slug: str
    organisation_name: str
    alerts: int
    alerts_standing: int
