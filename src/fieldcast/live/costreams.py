"""Co-streams (连麦): one room invites another; once the other room's host or organiser accepts,
each room shows both videos and a combined shelf until either side ends the link."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.accounts.models import User
from fieldcast.accounts.permissions import require_user
from fieldcast.accounts.queries import badges_for
from fieldcast.db.base import utcnow
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import Conflict, Invalid, NotFound
from fieldcast.i18n import N_
from fieldcast.live import errors as e
from fieldcast.live.actions import (
    OPEN_STATES,
    audit_session,
    emit_costream,
    host_ids_of,
    is_session_operator,
    require_open,
    require_session_operator,
)
from fieldcast.live.models import CoStream, CoStreamState, LiveSession, Notification, NotificationKind


async def _has_official(session: AsyncSession, session_id: int) -> bool:
    badges = await badges_for(session, await host_ids_of(session, session_id))
    return any(b.official for b in badges.values())


async def active_link(session: AsyncSession, session_id: int) -> CoStream | None:
    found: CoStream | None = await session.scalar(
        sa.select(CoStream).where(
            sa.or_(CoStream.inviter_session_id == session_id, CoStream.invitee_session_id == session_id),
            CoStream.state.in_([CoStreamState.INVITED, CoStreamState.ACTIVE]),
        )
    )
    return found


async def invite_costream(uow: UnitOfWork, actor: User | None, live: LiveSession, invitee_session_id: int) -> CoStream:
    """One room invites another; the other room's host or organiser accepts."""
    user = await require_session_operator(uow.session, actor, live)
    require_open(live)
    other = await uow.session.get(LiveSession, invitee_session_id)
    if other is None or other.id == live.id:
        raise Invalid(N_("Choose another session to invite."), field="invitee_session_id")
    if other.state not in OPEN_STATES:
        raise e.WrongState(N_("That session has already ended."), field="invitee_session_id")
    if await active_link(uow.session, live.id) or await active_link(uow.session, other.id):
        raise Conflict(
            N_("One of the two rooms already has a co-stream or a pending invitation."), field="invitee_session_id"
        )
    if (await _has_official(uow.session, live.id) or await _has_official(uow.session, other.id)) and not (
        live.is_public_welfare and other.is_public_welfare
    ):
        raise e.OfficialNeedsPublicWelfare(
            N_("An official's room may co-stream only with another public-welfare session."),
            field="invitee_session_id",
        )
    link = CoStream(inviter_session_id=live.id, invitee_session_id=other.id, invited_by_id=user.id)
    uow.session.add(link)
    await uow.session.flush()
    emit_costream(uow, link)
    await _notify_users(uow, await host_ids_of(uow.session, other.id), NotificationKind.COSTREAM_INVITED, other.id)
    audit_session(uow, user.id, "costream.invite", live, invitee_session_id=other.id)
    return link


async def _notify_users(uow: UnitOfWork, user_ids: list[int], kind: NotificationKind, session_id: int) -> None:
    for uid in dict.fromkeys(user_ids):
        uow.session.add(Notification(user_id=uid, kind=kind, session_id=session_id))


async def _link_session(uow: UnitOfWork, link: CoStream, invitee: bool) -> LiveSession:
    live = await uow.session.get(LiveSession, link.invitee_session_id if invitee else link.inviter_session_id)
    if live is None:
        raise NotFound(N_("No such session."))
    return live


async def answer_costream(uow: UnitOfWork, actor: User | None, link: CoStream, *, accept: bool) -> CoStream:
    """The invited room's hosts or organisers accept or decline."""
    invitee = await _link_session(uow, link, invitee=True)
    user = await require_session_operator(uow.session, actor, invitee)
    if link.state != CoStreamState.INVITED:
        raise e.WrongState(N_("This invitation has already been answered."))
    require_open(invitee)
    require_open(await _link_session(uow, link, invitee=False))
    link.state = CoStreamState.ACTIVE if accept else CoStreamState.DECLINED
    link.decided_by_id = user.id
    if accept:
        link.accepted_at = utcnow()
    emit_costream(uow, link)
    audit_session(uow, user.id, "costream.accept" if accept else "costream.decline", invitee, co_stream_id=link.id)
    return link


async def end_costream(uow: UnitOfWork, actor: User | None, link: CoStream) -> CoStream:
    """Either room's hosts or organisers end the link."""
    inviter = await _link_session(uow, link, invitee=False)
    invitee = await _link_session(uow, link, invitee=True)
    if await is_session_operator(uow.session, actor, inviter):
        side = inviter
    else:
        side = invitee
        await require_session_operator(uow.session, actor, invitee)
    user = require_user(actor)
    if link.state not in (CoStreamState.INVITED, CoStreamState.ACTIVE):
        raise e.WrongState(N_("This co-stream has already ended."))
    link.state = CoStreamState.ENDED
    link.ended_at = utcnow()
    link.ended_by_id = user.id
    emit_costream(uow, link)
    audit_session(uow, user.id, "costream.end", side, co_stream_id=link.id)
    return link
