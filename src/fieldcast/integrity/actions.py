"""Integrity's actions: run the rules over a show and store what they find (once per rule and
subject), and the people's decisions on an alert (acknowledge with a note, false alarm with a
reason), each audited. Nothing is ever deleted."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from fieldcast.accounts.models import Role, User
from fieldcast.accounts.permissions import require_org_role
from fieldcast.db.audit import record_audit
from fieldcast.db.base import utcnow
from fieldcast.db.locks import lock_row
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import NotFound
from fieldcast.i18n import N_
from fieldcast.integrity import errors as e
from fieldcast.integrity.models import NOTE_MAX, AlertState, IntegrityAlert
from fieldcast.integrity.rules import RULES, Finding, Rule, Thresholds
from fieldcast.live.models import LiveSession

# Who decides a show's alerts: the platform's admins (always pass) and these roles in the show's
# organisation. Hosts, suppliers and inspectors are the people the rules are about: they may not.
DECIDERS = (Role.OWNER, Role.ORGANISER, Role.SUPERVISOR)


async def session_or_404(uow: UnitOfWork, session_id: int) -> LiveSession:
    live = await uow.session.get(LiveSession, session_id)
    if live is None:
        raise NotFound(N_("No such session."))
    return live


async def store(uow: UnitOfWork, live: LiveSession, finding: Finding) -> IntegrityAlert | None:
    """Store a finding as an open alert unless one of its rule and subject exists (whatever its
    state: a false alarm stays decided). The new alert, or None when it was already there."""
    return await store_for(uow, live.id, live.organisation_id, finding)


async def store_for(
    uow: UnitOfWork, session_id: int | None, organisation_id: int, finding: Finding
) -> IntegrityAlert | None:
    """`store`, for a finding that may belong to no show (a credit recorded without one)."""
    existing = await uow.session.scalar(
        sa.select(IntegrityAlert.id).where(
            IntegrityAlert.rule == finding.rule,
            IntegrityAlert.subject_kind == finding.subject_kind,
            IntegrityAlert.subject_id == finding.subject_id,
        )
    )
    if existing is not None:
        return None
    alert = IntegrityAlert(
        rule=finding.rule,
        severity=finding.severity,
        subject_kind=finding.subject_kind,
        subject_id=finding.subject_id,
        session_id=session_id,
        organisation_id=organisation_id,
        evidence=finding.evidence,
        state=AlertState.OPEN,
    )
    try:
        async with uow.session.begin_nested():  # another run stored it meanwhile: keep theirs
            uow.session.add(alert)
            await uow.session.flush()
    except IntegrityError:
        return None
    record_audit(
        uow,
        actor_id=None,
        action="integrity.alert_raised",
        target_type="integrity_alert",
        target_id=alert.id,
        organisation_id=organisation_id,
        details={"rule": alert.rule, "subject": f"{alert.subject_kind.value}:{alert.subject_id}"},
    )
    return alert


async def run_rules(
    uow: UnitOfWork, session_id: int, thresholds: Thresholds | None = None, rules: Iterable[Rule] = RULES
) -> list[IntegrityAlert]:
    """Every rule over one show; the alerts this run added (those found before are kept as they are)."""
    live = await session_or_404(uow, session_id)
    t = thresholds or Thresholds()
    added = []
    for rule in rules:
        for finding in await rule(uow.session, live, t):
            alert = await store(uow, live, finding)
            if alert is not None:
                added.append(alert)
    return added


async def _decidable(uow: UnitOfWork, actor: User | None, alert_id: int) -> tuple[User, IntegrityAlert]:
    alert = await lock_row(uow.session, IntegrityAlert, alert_id)
    if alert is None:
        raise e.AlertNotFound(N_("No such alert."))
    await require_org_role(uow.session, actor, alert.organisation_id, *DECIDERS)
    assert actor is not None  # require_org_role passed
    return actor, alert


def _note(text: str, field: str) -> str:
    note = text.strip()
    if not note:
        raise e.NoteNeeded(N_("Please say why."), field=field)
    if len(note) > NOTE_MAX:
        raise e.NoteNeeded(N_("At most %(max)s characters."), field=field, max=NOTE_MAX)
    return note


def _decide(uow: UnitOfWork, user: User, alert: IntegrityAlert, state: AlertState, note: str, action: str) -> None:
    before = alert.state
    alert.state = state
    alert.decided_by_id = user.id
    alert.decided_at = utcnow()
    alert.decision_note = note
    record_audit(
        uow,
        actor_id=user.id,
        action=action,
        target_type="integrity_alert",
        target_id=alert.id,
        organisation_id=alert.organisation_id,
        reason=note,
        details={"rule": alert.rule, "from": before.value, "to": state.value},
    )


async def acknowledge(uow: UnitOfWork, actor: User | None, alert_id: int, note: str) -> IntegrityAlert:
    """A person saw the alert and says what follows from it. Only an open alert."""
    user, alert = await _decidable(uow, actor, alert_id)
    text = _note(note, "note")
    if alert.state != AlertState.OPEN:
        raise e.WrongAlertState(N_("Only an open alert can be acknowledged."))
    _decide(uow, user, alert, AlertState.ACKNOWLEDGED, text, "integrity.alert_acknowledge")
    return alert


async def mark_false_alarm(uow: UnitOfWork, actor: User | None, alert_id: int, reason: str) -> IntegrityAlert:
    """The alert was wrong, and why. An open or acknowledged alert; a false alarm stays one."""
    user, alert = await _decidable(uow, actor, alert_id)
    text = _note(reason, "reason")
    if alert.state == AlertState.FALSE_ALARM:
        raise e.WrongAlertState(N_("This alert is already marked a false alarm."))
    _decide(uow, user, alert, AlertState.FALSE_ALARM, text, "integrity.alert_false_alarm")
    return alert
