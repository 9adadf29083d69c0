"""API shapes for after-sales. Money is integer fen; times are UTC."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from fieldcast.aftersales import models as m
from fieldcast.inputs import BIGINT_MAX, INT_MAX, Id
from fieldcast.web.api import In, text


class RefundRequestIn(In):
    kind: m.RefundKind = Field(
        description="refund_only (paid, or shipped and never came) or return_and_refund (delivered)."
    )
    reason: m.RefundReason
    amount_fen: int = Field(
        gt=0, le=BIGINT_MAX, description="At most what is left to refund on the order (or the line)."
    )
    quantity: int = Field(
        0, ge=0, le=INT_MAX, description="Units not to be shipped, or sent back (return_and_refund: ≥ 1)."
    )
    order_line_id: Id | None = Field(None, description="One line of the order; the whole order when absent.")
    note: text(0, m.NOTE_MAX) = ""  # type: ignore[valid-type]
    return_carrier: text(0, m.CARRIER_MAX, one_line=True) = ""  # type: ignore[valid-type]
    return_tracking_no: text(0, m.TRACKING_MAX, one_line=True) = ""  # type: ignore[valid-type]


class DecisionIn(In):
    reason: text(0, m.DECISION_REASON_MAX) = ""  # type: ignore[valid-type]


class RejectIn(In):
    reason: text(1, m.DECISION_REASON_MAX)  # type: ignore[valid-type]


class ArbitrateIn(In):
    grant: bool = Field(description="true: the refund goes ahead; false: the rejection stands.")
    reason: text(1, m.DECISION_REASON_MAX)  # type: ignore[valid-type]


class EscalateIn(In):
    note: text(0, m.NOTE_MAX) = ""  # type: ignore[valid-type]


class ReturnIn(In):
    return_carrier: text(1, m.CARRIER_MAX, one_line=True)  # type: ignore[valid-type]
    return_tracking_no: text(6, m.TRACKING_MAX, one_line=True)  # type: ignore[valid-type]


class PhotoOut(BaseModel):
    id: int
    url: str
    thumb_url: str


class RefundRequestOut(BaseModel):
    id: int
    order_id: int
    order_line_id: int | None
    kind: m.RefundKind
    reason: m.RefundReason
    note: str
    amount_fen: int
    quantity: int
    state: m.RefundRequestState
    supplier_reason: str
    escalation_note: str
    organiser_reason: str
    return_carrier: str
    return_tracking_no: str
    seconds_after_show_end: int | None
    units_back: int
    created_at: datetime
    decided_at: datetime | None
    escalated_at: datetime | None
    arbitrated_at: datetime | None
    returned_at: datetime | None
    refunded_at: datetime | None
    auto_approved: bool
    photos: list[PhotoOut]
