"""Events accounts publishes through the outbox. On "accounts.membership" the capabilities above
it hear that someone lost a role in an organisation and withdraw what that role gave them (live
revokes a removed host's stream keys and asks the organisers for a new host). On
"accounts.verification" they hear that a host verification was decided (live tells the applicant
in-app). Accounts never imports them: a lower layer tells an upper one by event."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

TOPIC_MEMBERSHIP = "accounts.membership"
TOPIC_VERIFICATION = "accounts.verification"


class MembershipRemoved(BaseModel):
    """A role was taken from a member (removing the last role removes the member)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    event_type: ClassVar[str] = "membership.removed"

    organisation_id: int
    user_id: int
    role: str
    removed_by_id: int | None


class VerificationDecided(BaseModel):
    """A platform administrator approved or rejected a real-name host verification request."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    event_type: ClassVar[str] = "verification.decided"

    verification_id: int
    user_id: int
    status: str  # "approved" | "rejected"
    decided_at: datetime
