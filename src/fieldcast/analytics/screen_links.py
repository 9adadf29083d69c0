"""Projector links: a big screen for a PC nobody signs in on.

An owner or organiser of the event's organisation makes a link (`/screen/<token>`); the token is
shown once and only its SHA-256 is kept. Opening the link puts a grant (the link's id) for that
event in the browser's session cookie and sends it on to the big screen; the page and the metrics
API accept the grant as long as the link stands. Making a new link revokes the one before (one
link stands per event: "rotate"); revoking ends it, and every screen that opened it stops at its
next refresh. Each change is in the audit log."""

from __future__ import annotations

import secrets
from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.accounts.models import Role, User
from fieldcast.accounts.permissions import require_org_role, require_user
from fieldcast.accounts.security import hash_token
from fieldcast.analytics.models import EventScreenLink
from fieldcast.db.audit import record_audit
from fieldcast.db.base import utcnow
from fieldcast.db.uow import UnitOfWork
from fieldcast.live.models import LiveEvent

# Who makes and revokes projector links: those who run the event's organisation.
LINK_MAKERS = (Role.OWNER, Role.ORGANISER)
SESSION_SCREENS = "screens"  # session cookie key: {event id (str): link id}
SCREEN_PATH = "/screen/"


def screen_url(token: str) -> str:
    return f"{SCREEN_PATH}{token}"


async def active_link(s: AsyncSession, event_id: int) -> EventScreenLink | None:
    found: EventScreenLink | None = await s.scalar(
        sa.select(EventScreenLink)
        .where(EventScreenLink.event_id == event_id, EventScreenLink.revoked_at.is_(None))
        .order_by(EventScreenLink.id.desc())
        .limit(1)
    )
    return found


async def _revoke_all(uow: UnitOfWork, event_id: int) -> list[int]:
    standing = list(
        (
            await uow.session.scalars(
                sa.select(EventScreenLink.id).where(
                    EventScreenLink.event_id == event_id, EventScreenLink.revoked_at.is_(None)
                )
            )
        ).all()
    )
    if standing:
        await uow.session.execute(
            sa.update(EventScreenLink).where(EventScreenLink.id.in_(standing)).values(revoked_at=utcnow())
        )
    return standing


async def make_screen_link(uow: UnitOfWork, actor: User | None, event: LiveEvent) -> str:
    """A new projector link for the event (the one before, if any, stops working); the token,
    to be shown once."""
    user = require_user(actor)
    await require_org_role(uow.session, user, event.organisation_id, *LINK_MAKERS)
    revoked = await _revoke_all(uow, event.id)
    token = secrets.token_urlsafe(32)
    link = EventScreenLink(event_id=event.id, token_hash=hash_token(token), created_by_id=user.id)
    uow.session.add(link)
    await uow.session.flush()
    record_audit(
        uow,
        actor_id=user.id,
        action="event.screen_link.rotate" if revoked else "event.screen_link.make",
        target_type="live_event",
        target_id=event.id,
        organisation_id=event.organisation_id,
        details={"link_id": link.id, "revoked": revoked},
    )
    return token


async def revoke_screen_link(uow: UnitOfWork, actor: User | None, event: LiveEvent) -> bool:
    """End the event's projector link; False when none stood."""
    user = require_user(actor)
    await require_org_role(uow.session, user, event.organisation_id, *LINK_MAKERS)
    revoked = await _revoke_all(uow, event.id)
    if revoked:
        record_audit(
            uow,
            actor_id=user.id,
            action="event.screen_link.revoke",
            target_type="live_event",
            target_id=event.id,
            organisation_id=event.organisation_id,
            details={"revoked": revoked},
        )
    return bool(revoked)


async def link_of_token(s: AsyncSession, token: str) -> EventScreenLink | None:
    """The standing link a token opens, or None (unknown or revoked)."""
    found: EventScreenLink | None = await s.scalar(
        sa.select(EventScreenLink).where(
            EventScreenLink.token_hash == hash_token(token), EventScreenLink.revoked_at.is_(None)
        )
    )
    return found


def grant(session: dict[str, object], link: EventScreenLink) -> None:
    """Remember in the session cookie that this browser opened the event's link."""
    grants = dict(session.get(SESSION_SCREENS) or {})  # type: ignore[call-overload]
    grants[str(link.event_id)] = link.id
    session[SESSION_SCREENS] = grants


async def granted(s: AsyncSession, session: Mapping[str, object], event_id: int) -> bool:
    """Whether the browser holds a grant for the event from a link that still stands."""
    grants = session.get(SESSION_SCREENS)
    link_id = grants.get(str(event_id)) if isinstance(grants, dict) else None
    if not isinstance(link_id, int):
        return False
    link = await s.get(EventScreenLink, link_id)
    return link is not None and link.event_id == event_id and link.revoked_at is None
