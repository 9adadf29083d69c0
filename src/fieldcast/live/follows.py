"""Follows of hosts and organisations, and the in-app notifications followers (and the people a
capability above live has something to tell: a draw's winners) receive."""

from __future__ import annotations

import sqlalchemy as sa

from fieldcast.accounts.models import Organisation, User
from fieldcast.accounts.permissions import require_user
from fieldcast.db.base import utcnow
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import Invalid, NotFound
from fieldcast.i18n import N_
from fieldcast.live import schemas as s
from fieldcast.live.models import Follow, Notification, NotificationKind


async def follow(uow: UnitOfWork, actor: User | None, data: s.FollowIn) -> Follow:
    """Follow a host or an organisation; following twice is a no-op that returns the same follow."""
    user = require_user(actor)
    if data.host_id is not None:
        if data.host_id == user.id:
            raise Invalid(N_("You cannot follow yourself."), field="host_id")
        if await uow.session.get(User, data.host_id) is None:
            raise NotFound(N_("No such host."), field="host_id")
    elif await uow.session.get(Organisation, data.organisation_id) is None:
        raise NotFound(N_("No such organisation."), field="organisation_id")
    existing = await uow.session.scalar(
        sa.select(Follow).where(
            Follow.follower_id == user.id,
            Follow.host_id.is_(None) if data.host_id is None else Follow.host_id == data.host_id,
            Follow.organisation_id.is_(None)
            if data.organisation_id is None
            else Follow.organisation_id == data.organisation_id,
        )
    )
    if existing:
        return existing
    row = Follow(follower_id=user.id, host_id=data.host_id, organisation_id=data.organisation_id)
    uow.session.add(row)
    await uow.session.flush()
    return row


async def unfollow(uow: UnitOfWork, actor: User | None, data: s.FollowIn) -> None:
    user = require_user(actor)
    await uow.session.execute(
        sa.delete(Follow).where(
            Follow.follower_id == user.id,
            Follow.host_id == data.host_id if data.host_id is not None else Follow.host_id.is_(None),
            Follow.organisation_id == data.organisation_id
            if data.organisation_id is not None
            else Follow.organisation_id.is_(None),
        )
    )


async def mark_notifications_read(uow: UnitOfWork, actor: User | None, ids: list[int] | None) -> int:
    """Mark the given notifications (or all) of the actor as read; returns how many changed."""
    user = require_user(actor)
    stmt = sa.update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    if ids is not None:
        stmt = stmt.where(Notification.id.in_(ids))
    result = await uow.session.execute(stmt.values(read_at=utcnow()))
    return int(getattr(result, "rowcount", 0) or 0)


def notify(uow: UnitOfWork, user_ids: list[int], kind: NotificationKind, session_id: int) -> None:
    """One in-app notification per user about a show, in the caller's transaction (the caller's
    state change happens once: a repeated call is refused before it gets here)."""
    for user_id in dict.fromkeys(user_ids):
        uow.session.add(Notification(user_id=user_id, kind=kind, session_id=session_id))
