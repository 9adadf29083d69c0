"""Rules as shows end: the outbox consumer of live's TOPIC_SESSION runs every rule over the show
that ended, in its own transaction (an outside consumer: it writes). At-least-once delivery is
harmless: an alert is stored once per rule and subject."""

from __future__ import annotations

from collections.abc import Callable

from fieldcast.db.outbox import Deliver, Envelope
from fieldcast.db.uow import UnitOfWork
from fieldcast.integrity.actions import run_rules
from fieldcast.integrity.rules import Thresholds
from fieldcast.live.events import SESSION_ENDED


def session_endings(new_uow: Callable[..., UnitOfWork], thresholds: Thresholds) -> Deliver:
    async def deliver(message: Envelope) -> None:
        if message.event_type != SESSION_ENDED:
            return
        async with new_uow() as uow:
            await run_rules(uow, int(message.payload["session_id"]), thresholds)

    return deliver
