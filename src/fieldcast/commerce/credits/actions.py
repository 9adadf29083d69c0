"""Record a credit: an organisation's owners and organisers (and platform admins) write down what
it credited to a person, audited, and told to the capabilities above through the outbox.

Recording is never refused for whom it was credited to, an official included: the platform keeps
a truthful record of what happened, and integrity's rules judge it (an official may take no pay
of any kind, so a credit to one raises an alert as soon as this message is delivered)."""

from __future__ import annotations

from fieldcast.accounts.models import Organisation, Role, User
from fieldcast.accounts.permissions import require_org_role, require_user
from fieldcast.commerce.credits import errors as e
from fieldcast.commerce.credits import schemas as s
from fieldcast.commerce.credits.events import CREDIT_RECORDED, TOPIC_CREDIT
from fieldcast.commerce.credits.models import HostCredit
from fieldcast.db.audit import record_audit
from fieldcast.db.base import utcnow
from fieldcast.db.uow import UnitOfWork
from fieldcast.i18n import N_
from fieldcast.live.models import LiveSession

# Who keeps the books of an organisation: hosts and suppliers are among the people credited.
RECORDERS = (Role.OWNER, Role.ORGANISER)
AUDIT_TARGET = "host_credit"


async def record_credit(uow: UnitOfWork, actor: User | None, org: Organisation, data: s.CreditIn) -> HostCredit:
    """Write down one credit to a person, for one of the organisation's shows or none."""
    user = require_user(actor)
    await require_org_role(uow.session, user, org.id, *RECORDERS)
    person = await uow.session.get(User, data.user_id)
    if person is None:
        raise e.BadCredit(N_("No such user."), field="user_id")
    if data.session_id is not None:
        live = await uow.session.get(LiveSession, data.session_id)
        if live is None or live.organisation_id != org.id:
            raise e.BadCredit(N_("Choose one of this organisation's shows."), field="session_id")
    credit = HostCredit(
        organisation_id=org.id,
        session_id=data.session_id,
        user_id=person.id,
        kind=data.kind,
        amount_fen=data.amount_fen,
        note=data.note,
        created_by_id=user.id,
        created_at=utcnow(),
    )
    uow.session.add(credit)
    await uow.session.flush()
    record_audit(
        uow,
        actor_id=user.id,
        action="credit.record",
        target_type=AUDIT_TARGET,
        target_id=credit.id,
        organisation_id=org.id,
        reason=data.note,
        details={
            "user_id": person.id,
            "session_id": data.session_id,
            "kind": data.kind.value,
            "amount_fen": data.amount_fen,
        },
    )
    uow.publish(
        TOPIC_CREDIT,
        str(org.id),
        CREDIT_RECORDED,
        {
            "credit_id": credit.id,
            "organisation_id": org.id,
            "session_id": data.session_id,
            "user_id": person.id,
            "kind": data.kind.value,
            "amount_fen": data.amount_fen,
        },
    )
    return credit
