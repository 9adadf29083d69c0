"""Reads of the accounts capability for pages and the API."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.accounts import schemas as s
from fieldcast.accounts.models import (
    ApiToken,
    HostKind,
    HostVerification,
    Invitation,
    Membership,
    Organisation,
    Role,
    User,
    VerificationStatus,
)
from fieldcast.db.base import utcnow


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(sa.select(User).where(User.email == email.lower()))


async def organisation_by_slug(session: AsyncSession, slug: str) -> Organisation | None:
    return await session.scalar(sa.select(Organisation).where(Organisation.slug == slug.lower()))


async def latest_verification(session: AsyncSession, user_id: int) -> HostVerification | None:
    return await session.scalar(
        sa.select(HostVerification)
        .where(HostVerification.user_id == user_id)
        .order_by(HostVerification.id.desc())
        .limit(1)
    )


def effective_status(v: HostVerification, now: datetime | None = None) -> str:
    """Stored status, except an approval past its validity reads as 'expired'."""
    now = now or utcnow()
    if v.status == VerificationStatus.APPROVED and v.valid_until is not None and v.valid_until <= now:
        return "expired"
    return v.status.value


def verification_out(v: HostVerification, display_name: str) -> s.VerificationOut:
    return s.VerificationOut(
        id=v.id,
        user_id=v.user_id,
        display_name=display_name,
        legal_name=v.legal_name,
        id_number_last4=v.id_number_last4,
        host_kind=v.host_kind,
        position_title=v.position_title,
        jurisdiction=v.jurisdiction,
        evidence_note=v.evidence_note,
        status=effective_status(v),
        decided_at=v.decided_at,
        decision_reason=v.decision_reason,
        valid_until=v.valid_until,
        created_at=v.created_at,
    )


async def badges_for(session: AsyncSession, user_ids: Iterable[int]) -> dict[int, s.BadgesOut]:
    """Current badges per user in one query: an approved, unexpired verification = verified."""
    ids = list(set(user_ids))
    badges: dict[int, s.BadgesOut] = {uid: s.BadgesOut() for uid in ids}
    if not ids:
        return badges
    rows = await session.scalars(
        sa.select(HostVerification)
        .where(
            HostVerification.user_id.in_(ids),
            HostVerification.status == VerificationStatus.APPROVED,
            HostVerification.valid_until > utcnow(),
        )
        .order_by(HostVerification.id)
    )
    for v in rows:  # later approvals overwrite earlier ones
        badges[v.user_id] = s.BadgesOut(
            verified=True,
            official=v.host_kind == HostKind.OFFICIAL,
            host_kind=v.host_kind,
            position_title=v.position_title,
            jurisdiction=v.jurisdiction,
            valid_until=v.valid_until,
        )
    return badges


async def user_out(session: AsyncSession, user: User) -> s.UserOut:
    out = s.UserOut.model_validate(user)
    out.badges = (await badges_for(session, [user.id]))[user.id]
    return out


async def list_verifications(
    session: AsyncSession,
    *,
    status: str | None = None,
    user_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[s.VerificationOut], int]:
    stmt = sa.select(HostVerification, User.display_name).join(User, User.id == HostVerification.user_id)
    count = sa.select(sa.func.count(HostVerification.id))
    if status == "expired":
        cond = sa.and_(
            HostVerification.status == VerificationStatus.APPROVED,
            HostVerification.valid_until <= utcnow(),
        )
    elif status == VerificationStatus.APPROVED.value:
        cond = sa.and_(
            HostVerification.status == VerificationStatus.APPROVED,
            HostVerification.valid_until > utcnow(),
        )
    elif status:
        cond = HostVerification.status == VerificationStatus(status)
    else:
        cond = sa.true()
    if user_id is not None:
        cond = sa.and_(cond, HostVerification.user_id == user_id)
    rows = await session.execute(stmt.where(cond).order_by(HostVerification.id.desc()).limit(limit).offset(offset))
    total = await session.scalar(count.where(cond)) or 0
    return [verification_out(v, name) for v, name in rows], total


async def list_verified_hosts(
    session: AsyncSession, *, limit: int = 50, offset: int = 0, official_only: bool = False
) -> tuple[list[s.HostOut], int]:
    cond = sa.and_(HostVerification.status == VerificationStatus.APPROVED, HostVerification.valid_until > utcnow())
    if official_only:
        cond = sa.and_(cond, HostVerification.host_kind == HostKind.OFFICIAL)
    ids_stmt = sa.select(HostVerification.user_id).where(cond).distinct()
    total = await session.scalar(sa.select(sa.func.count()).select_from(ids_stmt.subquery())) or 0
    users = (
        await session.scalars(
            sa.select(User)
            .where(User.id.in_(ids_stmt), User.is_active.is_(True))
            .order_by(User.id)
            .limit(limit)
            .offset(offset)
        )
    ).all()
    badges = await badges_for(session, [u.id for u in users])
    return [
        s.HostOut(id=u.id, display_name=u.display_name, badges=badges[u.id], is_demo=u.is_demo) for u in users
    ], total


async def list_tokens(session: AsyncSession, user_id: int) -> Sequence[ApiToken]:
    return (
        await session.scalars(sa.select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id.desc()))
    ).all()


async def list_organisations(
    session: AsyncSession,
    *,
    limit: int = 50,
    offset: int = 0,
    kind: str | None = None,
    member_id: int | None = None,
) -> tuple[Sequence[Organisation], int]:
    cond: sa.ColumnElement[bool] = sa.true()
    if kind:
        cond = Organisation.kind == kind
    if member_id is not None:
        cond = sa.and_(
            cond,
            Organisation.id.in_(sa.select(Membership.organisation_id).where(Membership.user_id == member_id)),
        )
    total = await session.scalar(sa.select(sa.func.count(Organisation.id)).where(cond)) or 0
    rows = await session.scalars(
        sa.select(Organisation).where(cond).order_by(Organisation.id).limit(limit).offset(offset)
    )
    return rows.all(), total


async def list_members(session: AsyncSession, organisation_id: int) -> list[s.MemberOut]:
    rows = await session.execute(
        sa.select(User.id, User.display_name, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.organisation_id == organisation_id)
        .order_by(User.id, Membership.role)
    )
    members: dict[int, s.MemberOut] = {}
    for uid, name, role in rows:
        member = members.setdefault(uid, s.MemberOut(user_id=uid, display_name=name, roles=[], badges=s.BadgesOut()))
        member.roles.append(role)
    badges = await badges_for(session, members)
    for uid, member in members.items():
        member.badges = badges[uid]
    return list(members.values())


async def memberships_of(session: AsyncSession, user_id: int) -> list[tuple[Organisation, list[str]]]:
    rows = await session.execute(
        sa.select(Organisation, Membership.role)
        .join(Membership, Membership.organisation_id == Organisation.id)
        .where(Membership.user_id == user_id)
        .order_by(Organisation.id, Membership.role)
    )
    grouped: dict[int, tuple[Organisation, list[str]]] = {}
    for org, role in rows:
        grouped.setdefault(org.id, (org, []))[1].append(role.value)
    return list(grouped.values())


async def list_invitations(session: AsyncSession, organisation_id: int) -> Sequence[Invitation]:
    return (
        await session.scalars(
            sa.select(Invitation)
            .where(Invitation.organisation_id == organisation_id)
            .order_by(Invitation.id.desc())
            .limit(100)
        )
    ).all()


async def member_ids_with_role(session: AsyncSession, organisation_id: int, *roles: Role) -> list[int]:
    """The ids of the organisation's members who hold any of `roles`, in id order."""
    rows = await session.scalars(
        sa.select(Membership.user_id)
        .where(Membership.organisation_id == organisation_id, Membership.role.in_(roles))
        .distinct()
        .order_by(Membership.user_id)
    )
    return list(rows)


async def is_host(session: AsyncSession, user_id: int) -> bool:
    """Whether the user hosts: holds the host role in some organisation, or is a verified host.
    Decides where signing in lands (their shows, not the account page)."""
    holds_role = await session.scalar(
        sa.select(Membership.id).where(Membership.user_id == user_id, Membership.role == Role.HOST).limit(1)
    )
    return holds_role is not None or (await badges_for(session, [user_id]))[user_id].verified


async def roles_in_org(session: AsyncSession, user_id: int, organisation_id: int) -> set[Role]:
    rows = await session.scalars(
        sa.select(Membership.role).where(Membership.user_id == user_id, Membership.organisation_id == organisation_id)
    )
    return set(rows)
