"""A host's authority follows the role they hold now. When accounts says a member lost a role
(accounts.events.MembershipRemoved, through the outbox), live withdraws what hosting gave them:
the stream keys they could publish with are revoked, and the organisers of their scheduled shows
are told (in-app notifications) that the shows need a new host.

Every host-side action already re-checks the actor's current role (actions.is_session_operator);
this takes away what outlives a request: a key in OBS, a show waiting with nobody to run it. The
publish hook also refuses a key whose maker no longer runs the show (`key_may_publish`), so a key
stops working the moment the role goes, before this consumer has run."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.accounts.models import User
from fieldcast.accounts.queries import member_ids_with_role, roles_in_org
from fieldcast.db.outbox import Deliver, Envelope
from fieldcast.db.uow import UnitOfWork
from fieldcast.live import keys
from fieldcast.live.actions import HOST_ROLES, MANAGERS, OPEN_STATES, audit_session, is_session_operator
from fieldcast.live.models import (
    LiveSession,
    Notification,
    NotificationKind,
    SessionHost,
    SessionState,
    StreamKey,
)


async def still_runs_shows(session: AsyncSession, user_id: int, organisation_id: int) -> bool:
    """Whether the user may still run the organisation's shows (a host role, or platform admin)."""
    user = await session.get(User, user_id)
    if user is None or not user.is_active:
        return False
    return user.is_platform_admin or bool(await roles_in_org(session, user_id, organisation_id) & set(HOST_ROLES))


async def host_role_lost(uow: UnitOfWork, organisation_id: int, user_id: int) -> list[int]:
    """Withdraw a former host's hold on the organisation's open shows; returns the ids of the
    sessions whose key was revoked. Nothing happens when the user still holds a host role (lost
    one role of several, or was given it back before this ran). Safe to run twice."""
    if await still_runs_shows(uow.session, user_id, organisation_id):
        return []
    open_sessions = sa.select(LiveSession.id).where(
        LiveSession.organisation_id == organisation_id, LiveSession.state.in_(OPEN_STATES)
    )
    hosted = set(
        await uow.session.scalars(
            sa.select(SessionHost.session_id).where(
                SessionHost.user_id == user_id, SessionHost.session_id.in_(open_sessions)
            )
        )
    )
    made = set(
        await uow.session.scalars(
            sa.select(StreamKey.session_id).where(
                StreamKey.created_by_id == user_id,
                StreamKey.revoked_at.is_(None),
                StreamKey.session_id.in_(open_sessions),
            )
        )
    )
    # A key is shown to whoever made it and handed to the show's hosts: one the former host made,
    # or one of a show they hosted, may be in their hands. The show's operators make a new one.
    revoked: list[int] = []
    for session_id in sorted(hosted | made):
        if await keys.active_key(uow.session, session_id) is not None:
            await keys.revoke_keys(uow, session_id)
            revoked.append(session_id)
    organisers = await member_ids_with_role(uow.session, organisation_id, *MANAGERS)
    for session_id in sorted(hosted):
        live = await uow.session.get(LiveSession, session_id)
        if live is None:
            continue
        audit_session(uow, None, "session.host_removed", live, host_id=user_id, key_revoked=session_id in revoked)
        if live.state == SessionState.SCHEDULED:
            await _ask_for_new_host(uow, live, organisers)
    return revoked


async def _ask_for_new_host(uow: UnitOfWork, live: LiveSession, organisers: list[int]) -> None:
    """One notification per organiser, unless an unread one for this show is already there (the
    event is delivered at least once)."""
    told = set(
        await uow.session.scalars(
            sa.select(Notification.user_id).where(
                Notification.session_id == live.id,
                Notification.kind == NotificationKind.HOST_NEEDED,
                Notification.read_at.is_(None),
            )
        )
    )
    for organiser_id in organisers:
        if organiser_id not in told:
            uow.session.add(Notification(user_id=organiser_id, kind=NotificationKind.HOST_NEEDED, session_id=live.id))


async def key_may_publish(session: AsyncSession, key: StreamKey, live: LiveSession) -> bool:
    """A key made by a person works only while that person still runs the show; a key the system
    made (no maker) answers to the show's state alone."""
    if key.created_by_id is None:
        return True
    maker = await session.get(User, key.created_by_id)
    return await is_session_operator(session, maker, live)


def membership_changes(new_uow: Callable[..., UnitOfWork]) -> Deliver:
    """The outbox consumer of accounts' TOPIC_MEMBERSHIP: each removed role, in its own
    transaction (an outside consumer: it writes)."""

    async def deliver(message: Envelope) -> None:
        if message.event_type != "membership.removed":
            return
        async with new_uow() as uow:
            await host_role_lost(uow, int(message.payload["organisation_id"]), int(message.payload["user_id"]))

    return deliver
