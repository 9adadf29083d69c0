"""Authorisation checks that every capability's actions call: per organisation and role."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.accounts.errors import MissingRole, NotPlatformAdmin
from fieldcast.accounts.models import Role, User
from fieldcast.accounts.queries import roles_in_org
from fieldcast.errors import NotAuthenticated
from fieldcast.i18n import N_
from fieldcast.labels import LabelList


def require_user(actor: User | None) -> User:
    if actor is None or not actor.is_active:
        raise NotAuthenticated(N_("Please sign in first."))
    return actor


def require_platform_admin(actor: User | None) -> User:
    user = require_user(actor)
    if not user.is_platform_admin:
        raise NotPlatformAdmin(N_("Only a platform administrator may do this."))
    return user


async def require_org_role(
    session: AsyncSession, actor: User | None, organisation_id: int, *allowed: Role
) -> set[Role]:
    """Pass if the actor holds one of `allowed` in this organisation (platform admins always pass).
    Returns the actor's roles there."""
    user = require_user(actor)
    roles = await roles_in_org(session, user.id, organisation_id)
    if user.is_platform_admin or roles & set(allowed):
        return roles
    raise MissingRole(
        N_("You need one of these roles in this organisation: %(roles)s."),
        roles=LabelList("role", allowed),
    )
