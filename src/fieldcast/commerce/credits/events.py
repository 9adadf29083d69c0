"""What credits publish through the outbox: "credit.recorded" on topic "commerce.credit", keyed by
the organisation, for the capabilities above (integrity judges a credit as it arrives)."""

from __future__ import annotations

TOPIC_CREDIT = "commerce.credit"
CREDIT_RECORDED = "credit.recorded"
