"""Events after-sales publishes (topic "aftersales", keyed by request id, through the outbox):
a refund request's change, for whoever follows orders (dashboards, the integrity rules, which
read `seconds_after_show_end` to spot refund-after-the-show)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict

TOPIC_AFTERSALES = "aftersales"


class RefundRequestChanged(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    event_type: ClassVar[str] = "refund_request.changed"

    request_id: int
    order_id: int
    state: str
    kind: str
    reason: str
    amount_fen: int
    organisation_id: int
    supplier_id: int
    session_id: int | None
    seconds_after_show_end: int | None
