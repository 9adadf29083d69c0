"""Rules as shows end, and again once refunds have settled.

The outbox consumer of live's TOPIC_SESSION runs every rule over the show that ended, in its own
transaction (an outside consumer: it writes), and in that transaction schedules its own message
on TOPIC_INTEGRITY for the end of the refund window (`integrity_refund_window_days` after the
end), when the rules run again: a refund wave after the show can only be seen then. At-least-once
delivery is harmless: an alert is stored once per rule and subject.

The consumer of commerce's TOPIC_CREDIT judges each credit as it is recorded (rule
official_credited), so a payment to an official raises its alert at once, not when the show
ends; a credit tied to no show is judged too (its alert belongs to the organisation only). The
consumer of chat's TOPIC_CHAT runs negative_removed over a show as soon as one of its comments is
removed, so criticism removed by the seller is seen while the show is still on."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from fieldcast.chat.events import MESSAGE_REMOVED
from fieldcast.commerce.credits.events import CREDIT_RECORDED
from fieldcast.commerce.credits.models import HostCredit
from fieldcast.db.outbox import Deliver, Envelope
from fieldcast.db.uow import UnitOfWork
from fieldcast.integrity.actions import run_rules, store_for
from fieldcast.integrity.rules import Thresholds
from fieldcast.integrity.rules_officials import negative_removed, official_credit
from fieldcast.live.events import SESSION_ENDED
from fieldcast.live.models import LiveSession

TOPIC_INTEGRITY = "integrity"  # key: the session id; consumer: session_endings (outside)
RERUN = "integrity.rerun"


def session_endings(new_uow: Callable[..., UnitOfWork], thresholds: Thresholds) -> Deliver:
    """The consumer of both live's "session.ended" and integrity's own delayed "integrity.rerun"."""

    async def deliver(message: Envelope) -> None:
        if message.event_type not in (SESSION_ENDED, RERUN):
            return
        session_id = int(message.payload["session_id"])
        async with new_uow() as uow:
            if await uow.session.get(LiveSession, session_id) is None:
                return  # the show is gone: nothing to judge, and no reason to try again
            await run_rules(uow, session_id, thresholds)
            if message.event_type == SESSION_ENDED:
                ended_at = datetime.fromisoformat(message.payload["ended_at"])
                uow.publish(
                    TOPIC_INTEGRITY,
                    str(session_id),
                    RERUN,
                    {"session_id": session_id},
                    available_at=ended_at + timedelta(days=thresholds.refund_window_days),
                )

    return deliver


def credits_recorded(new_uow: Callable[..., UnitOfWork]) -> Deliver:
    """The consumer of commerce's "credit.recorded": the rule official_credited over that credit."""

    async def deliver(message: Envelope) -> None:
        if message.event_type != CREDIT_RECORDED:
            return
        credit_id = int(message.payload["credit_id"])
        async with new_uow() as uow:
            credit = await uow.session.get(HostCredit, credit_id)
            if credit is None:
                return  # never committed, or gone: nothing to judge
            finding = await official_credit(uow.session, credit.id)
            if finding is not None:
                await store_for(uow, credit.session_id, credit.organisation_id, finding)

    return deliver


def chat_removals(new_uow: Callable[..., UnitOfWork], thresholds: Thresholds) -> Deliver:
    """The consumer of chat's "chat.message_removed": the rule negative_removed over that show."""

    async def deliver(message: Envelope) -> None:
        if message.event_type != MESSAGE_REMOVED:
            return
        session_id = int(message.payload["session_id"])
        async with new_uow() as uow:
            if await uow.session.get(LiveSession, session_id) is None:
                return
            await run_rules(uow, session_id, thresholds, rules=(negative_removed,))

    return deliver
