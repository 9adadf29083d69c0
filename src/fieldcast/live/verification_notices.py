"""A host hears in-app that their real-name verification was decided. Accounts decides it and
publishes accounts.events.VerificationDecided through the outbox (it cannot import the
notifications, which live here, above it); this consumer writes the notification."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa

from fieldcast.db.base import utcnow
from fieldcast.db.outbox import Deliver, Envelope
from fieldcast.db.uow import UnitOfWork
from fieldcast.live.models import Notification, NotificationKind

DECISION_KINDS = {
    "approved": NotificationKind.HOST_VERIFIED,
    "rejected": NotificationKind.HOST_VERIFICATION_REJECTED,
}


async def verification_decided(uow: UnitOfWork, user_id: int, status: str, decided_at: datetime) -> bool:
    """Tell the applicant; returns whether a notification was written. The event comes at least
    once: one of the same kind written since the decision is this one's, so a repeat writes none."""
    kind = DECISION_KINDS.get(status)
    if kind is None:
        return False
    told = await uow.session.scalar(
        sa.select(Notification.id)
        .where(Notification.user_id == user_id, Notification.kind == kind, Notification.created_at >= decided_at)
        .limit(1)
    )
    if told is not None:
        return False
    # Written no earlier than the decision, so the repeat check above finds it.
    uow.session.add(Notification(user_id=user_id, kind=kind, created_at=max(decided_at, utcnow())))
    return True


def verification_decisions(new_uow: Callable[..., UnitOfWork]) -> Deliver:
    """The outbox consumer of accounts' TOPIC_VERIFICATION, each decision in its own transaction."""

    async def deliver(message: Envelope) -> None:
        if message.event_type != "verification.decided":
            return
        p = message.payload
        async with new_uow() as uow:
            await verification_decided(
                uow, int(p["user_id"]), str(p["status"]), datetime.fromisoformat(str(p["decided_at"]))
            )

    return deliver
