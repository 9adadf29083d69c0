"""Writes of the accounts capability: one function per thing a user does.

Each checks permission, changes state inside the caller's unit of work and writes the audit log."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from fieldcast.accounts import errors as e
from fieldcast.accounts import queries as q
from fieldcast.accounts import schemas as s
from fieldcast.accounts.events import TOPIC_MEMBERSHIP, MembershipRemoved
from fieldcast.accounts.models import (
    REASON_MAX,
    ApiToken,
    HostVerification,
    Invitation,
    Membership,
    Organisation,
    Role,
    User,
    VerificationStatus,
)
from fieldcast.accounts.permissions import (
    require_org_role,
    require_platform_admin,
    require_user,
)
from fieldcast.accounts.security import (
    DUMMY_PASSWORD_HASH,
    hash_password,
    hash_token,
    id_number_hash,
    id_number_is_valid,
    new_secret_token,
    normalise_id_number,
    password_needs_rehash,
    verify_password,
)
from fieldcast.accounts.throttle import SignInThrottle
from fieldcast.db.audit import record_audit
from fieldcast.db.base import utcnow
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import Invalid, NotFound, TooManyRequests
from fieldcast.i18n import N_

MAX_TOKENS_PER_USER = 20
# A verified host may ask again this long before the current verification runs out.
RENEWAL_WINDOW = timedelta(days=30)


# -- users and sign-in ---------------------------------------------------------------------------


async def sign_up(uow: UnitOfWork, data: s.SignUpIn, *, is_platform_admin: bool = False, is_demo: bool = False) -> User:
    email = data.email.lower()
    if await q.user_by_email(uow.session, email) is not None:
        raise e.EmailTaken(N_("An account with this email already exists."), field="email")
    user = User(
        email=email,
        display_name=data.display_name,
        password_hash=hash_password(data.password),
        is_platform_admin=is_platform_admin,
        is_demo=is_demo,
    )
    uow.session.add(user)
    await uow.session.flush()
    record_audit(uow, actor_id=user.id, action="user.sign_up", target_type="user", target_id=user.id)
    if is_platform_admin:
        record_audit(
            uow,
            actor_id=None,
            action="user.make_admin",
            target_type="user",
            target_id=user.id,
            details={"at": "sign_up"},
        )
    return user


async def make_platform_admin(uow: UnitOfWork, data: s.SignUpIn) -> bool:
    """The operator's `fieldcast create-admin`: create a platform administrator (True), or make
    the account with this email one (False; its name and password stay as they are). There is no
    actor to check: whoever runs the command on the server already holds the database."""
    user = await q.user_by_email(uow.session, data.email.lower())
    if user is None:
        await sign_up(uow, data, is_platform_admin=True)
        return True
    if not user.is_platform_admin:
        user.is_platform_admin = True
        record_audit(
            uow,
            actor_id=None,
            action="user.make_admin",
            target_type="user",
            target_id=user.id,
            reason="promoted with fieldcast create-admin",
        )
    return False


async def authenticate(uow: UnitOfWork, data: s.SignInIn, throttle: SignInThrottle) -> User:
    email = data.email.lower()
    wait_s = await throttle.retry_after_s(email)
    if wait_s:
        raise TooManyRequests(
            N_("Too many failed sign-ins for this account. Try again in about %(minutes)s min."),
            minutes=(wait_s + 59) // 60,
        )
    user = await q.user_by_email(uow.session, email)
    if user is None or not user.is_active:
        verify_password(DUMMY_PASSWORD_HASH, data.password)  # same cost either way
        await throttle.failed(email)
        raise e.BadCredentials(N_("Email or password is wrong."), field="password")
    if not verify_password(user.password_hash, data.password):
        await throttle.failed(email)
        raise e.BadCredentials(N_("Email or password is wrong."), field="password")
    await throttle.succeeded(email)
    if password_needs_rehash(user.password_hash):
        user.password_hash = hash_password(data.password)
    user.last_sign_in_at = utcnow()
    return user


async def change_password(uow: UnitOfWork, actor: User | None, data: s.PasswordChangeIn) -> User:
    """New password; every other session and nothing else is signed out (tokens stay: revoke them apart)."""
    user = require_user(actor)
    if not verify_password(user.password_hash, data.current_password):
        raise e.BadCredentials(N_("The current password is wrong."), field="current_password")
    user.password_hash = hash_password(data.new_password)
    user.session_epoch += 1
    record_audit(uow, actor_id=user.id, action="user.change_password", target_type="user", target_id=user.id)
    return user


async def sign_out_everywhere(uow: UnitOfWork, actor: User | None) -> User:
    """End every browser session of this user (session cookies carry the epoch they began in)."""
    user = require_user(actor)
    user.session_epoch += 1
    record_audit(uow, actor_id=user.id, action="user.sign_out_everywhere", target_type="user", target_id=user.id)
    return user


# -- API tokens ----------------------------------------------------------------------------------


async def create_api_token(uow: UnitOfWork, actor: User | None, name: str) -> tuple[ApiToken, str]:
    user = require_user(actor)
    active = await uow.session.scalar(
        sa.select(sa.func.count(ApiToken.id)).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    )
    if (active or 0) >= MAX_TOKENS_PER_USER:
        raise e.TooManyTokens(N_("You already have %(max)s active tokens; revoke one first."), max=MAX_TOKENS_PER_USER)
    token, digest = new_secret_token()
    row = ApiToken(user_id=user.id, name=name, token_hash=digest, prefix=token[:10])
    uow.session.add(row)
    await uow.session.flush()
    record_audit(uow, actor_id=user.id, action="token.create", target_type="api_token", target_id=row.id)
    return row, token


async def revoke_api_token(uow: UnitOfWork, actor: User | None, token_id: int) -> ApiToken:
    user = require_user(actor)
    row = await uow.session.get(ApiToken, token_id)
    if row is None or (row.user_id != user.id and not user.is_platform_admin):
        raise NotFound(N_("No such token."))
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        record_audit(uow, actor_id=user.id, action="token.revoke", target_type="api_token", target_id=row.id)
    return row


async def user_for_token(uow: UnitOfWork, token: str) -> User | None:
    """Resolve a bearer token to its user, noting when it was last used."""
    row = await uow.session.scalar(
        sa.select(ApiToken).where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
    )
    if row is None:
        return None
    user = await uow.session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=5):
        row.last_used_at = now
    return user


# -- organisations -------------------------------------------------------------------------------


async def create_organisation(
    uow: UnitOfWork, actor: User | None, data: s.OrganisationIn, *, is_demo: bool = False
) -> Organisation:
    user = require_user(actor)
    if await q.organisation_by_slug(uow.session, data.slug) is not None:
        raise e.SlugTaken(N_("This short name is already taken."), field="slug")
    org = Organisation(
        slug=data.slug,
        name=data.name,
        kind=data.kind,
        region=data.region,
        description=data.description,
        is_demo=is_demo,
    )
    uow.session.add(org)
    await uow.session.flush()
    uow.session.add(Membership(organisation_id=org.id, user_id=user.id, role=Role.OWNER))
    record_audit(
        uow,
        actor_id=user.id,
        action="organisation.create",
        target_type="organisation",
        target_id=org.id,
        organisation_id=org.id,
    )
    return org


async def update_organisation(
    uow: UnitOfWork, actor: User | None, org: Organisation, patch: s.OrganisationPatch
) -> Organisation:
    await require_org_role(uow.session, actor, org.id, Role.OWNER)
    changes = patch.model_dump(exclude_unset=True, exclude_none=True)
    for field, value in changes.items():
        setattr(org, field, value)
    record_audit(
        uow,
        actor_id=require_user(actor).id,
        action="organisation.update",
        target_type="organisation",
        target_id=org.id,
        organisation_id=org.id,
        details={"fields": sorted(changes)},
    )
    return org


async def add_member(
    uow: UnitOfWork, actor: User | None, org: Organisation, user: User, role: Role, *, reason: str = ""
) -> Membership:
    """Grant a role directly (platform admins and the demo seed; others use invitations)."""
    if actor is not None:  # None = the system itself (demo seed, CLI)
        require_platform_admin(actor)
    existing = await uow.session.scalar(
        sa.select(Membership).where(
            Membership.organisation_id == org.id, Membership.user_id == user.id, Membership.role == role
        )
    )
    if existing is not None:
        return existing
    membership = Membership(organisation_id=org.id, user_id=user.id, role=role)
    uow.session.add(membership)
    record_audit(
        uow,
        actor_id=actor.id if actor else None,
        action="membership.add",
        target_type="user",
        target_id=user.id,
        organisation_id=org.id,
        reason=reason,
        details={"role": role.value},
    )
    return membership


async def _require_can_manage_role(uow: UnitOfWork, actor: User | None, org: Organisation, role: Role) -> User:
    """Owners manage every role; organisers manage every role but owner."""
    roles = await require_org_role(uow.session, actor, org.id, Role.OWNER, Role.ORGANISER)
    user = require_user(actor)
    if role == Role.OWNER and Role.OWNER not in roles and not user.is_platform_admin:
        raise e.MissingRole(N_("Only an owner may grant or remove the owner role."), field="role")
    return user


async def invite_member(
    uow: UnitOfWork, actor: User | None, org: Organisation, data: s.InvitationIn, *, valid_days: int
) -> tuple[Invitation, str]:
    user = await _require_can_manage_role(uow, actor, org, data.role)
    token, digest = new_secret_token()
    invitation = Invitation(
        organisation_id=org.id,
        email=data.email.lower(),
        role=data.role,
        token_hash=digest,
        invited_by_id=user.id,
        expires_at=utcnow() + timedelta(days=valid_days),
    )
    uow.session.add(invitation)
    await uow.session.flush()
    record_audit(
        uow,
        actor_id=user.id,
        action="invitation.create",
        target_type="invitation",
        target_id=invitation.id,
        organisation_id=org.id,
        details={"email": invitation.email, "role": data.role.value},
    )
    return invitation, token


async def revoke_invitation(uow: UnitOfWork, actor: User | None, org: Organisation, invitation_id: int) -> Invitation:
    invitation = await uow.session.get(Invitation, invitation_id)
    if invitation is None or invitation.organisation_id != org.id:
        raise NotFound(N_("No such invitation."))
    user = await _require_can_manage_role(uow, actor, org, invitation.role)
    if invitation.accepted_at is None and invitation.revoked_at is None:
        invitation.revoked_at = utcnow()
        record_audit(
            uow,
            actor_id=user.id,
            action="invitation.revoke",
            target_type="invitation",
            target_id=invitation.id,
            organisation_id=org.id,
        )
    return invitation


async def accept_invitation(uow: UnitOfWork, actor: User | None, token: str) -> Membership:
    user = require_user(actor)
    invitation = await uow.session.scalar(
        sa.select(Invitation).where(Invitation.token_hash == hash_token(token)).with_for_update()
    )
    if invitation is None:
        raise NotFound(N_("This invitation does not exist."))
    if invitation.accepted_at or invitation.revoked_at or invitation.expires_at < utcnow():
        raise e.InvitationUnusable(N_("This invitation was already used, revoked or has expired."))
    if invitation.email != user.email:
        raise e.MissingRole(N_("This invitation was sent to another email address."))
    invitation.accepted_at = utcnow()
    invitation.accepted_by_id = user.id
    existing = await uow.session.scalar(
        sa.select(Membership).where(
            Membership.organisation_id == invitation.organisation_id,
            Membership.user_id == user.id,
            Membership.role == invitation.role,
        )
    )
    membership = existing or Membership(
        organisation_id=invitation.organisation_id, user_id=user.id, role=invitation.role
    )
    uow.session.add(membership)
    record_audit(
        uow,
        actor_id=user.id,
        action="invitation.accept",
        target_type="invitation",
        target_id=invitation.id,
        organisation_id=invitation.organisation_id,
        details={"role": invitation.role.value},
    )
    return membership


async def remove_member_role(
    uow: UnitOfWork, actor: User | None, org: Organisation, user_id: int, role: Role, reason: str = ""
) -> None:
    user = await _require_can_manage_role(uow, actor, org, role)
    membership = await uow.session.scalar(
        sa.select(Membership).where(
            Membership.organisation_id == org.id, Membership.user_id == user_id, Membership.role == role
        )
    )
    if membership is None:
        raise NotFound(N_("This member does not hold that role."))
    if role == Role.OWNER:
        owners = await uow.session.scalar(
            sa.select(sa.func.count(Membership.id)).where(
                Membership.organisation_id == org.id, Membership.role == Role.OWNER
            )
        )
        if (owners or 0) <= 1:
            raise e.LastOwner(N_("An organisation must keep at least one owner."), field="role")
    await uow.session.delete(membership)
    # Whatever the role gave lives in the capabilities above (a host's shows and stream keys):
    # they hear it through the outbox, in this transaction, and withdraw it.
    event = MembershipRemoved(organisation_id=org.id, user_id=user_id, role=role.value, removed_by_id=user.id)
    uow.publish(TOPIC_MEMBERSHIP, f"{org.id}:{user_id}", event.event_type, event.model_dump(mode="json"))
    record_audit(
        uow,
        actor_id=user.id,
        action="membership.remove",
        target_type="user",
        target_id=user_id,
        organisation_id=org.id,
        reason=reason,
        details={"role": role.value},
    )


# -- real-name host verification -----------------------------------------------------------------


async def apply_for_verification(
    uow: UnitOfWork, actor: User | None, data: s.VerificationIn, *, id_hash_key: str, is_demo: bool = False
) -> HostVerification:
    user = require_user(actor)
    number = normalise_id_number(data.id_number)
    if not id_number_is_valid(number):
        raise e.InvalidIdNumber(N_("This is not a valid 18-character resident ID number."), field="id_number")
    latest = await q.latest_verification(uow.session, user.id)
    now = utcnow()
    if latest is not None and latest.status == VerificationStatus.PENDING:
        raise e.VerificationPending(N_("You already have a request waiting for review."))
    if (
        latest is not None
        and latest.status == VerificationStatus.APPROVED
        and latest.valid_until is not None
        and latest.valid_until - RENEWAL_WINDOW > now
    ):
        raise e.VerificationStillValid(
            N_("Your verification is valid until %(date)s; you can renew it in its last 30 days."),
            date=latest.valid_until.date().isoformat(),
        )
    digest = id_number_hash(number, id_hash_key)
    other = await uow.session.scalar(
        sa.select(HostVerification.id)
        .where(
            HostVerification.id_number_hash == digest,
            HostVerification.user_id != user.id,
            HostVerification.status.in_([VerificationStatus.APPROVED, VerificationStatus.PENDING]),
        )
        .limit(1)
    )
    if other is not None:
        raise e.IdNumberInUse(N_("This ID number is already used by another account."), field="id_number")
    request = HostVerification(
        user_id=user.id,
        legal_name=data.legal_name,
        id_number_hash=digest,
        id_number_last4=number[-4:],
        host_kind=data.host_kind,
        position_title=data.position_title,
        jurisdiction=data.jurisdiction,
        evidence_note=data.evidence_note,
        is_demo=is_demo,
    )
    uow.session.add(request)
    await uow.session.flush()
    record_audit(
        uow,
        actor_id=user.id,
        action="verification.apply",
        target_type="host_verification",
        target_id=request.id,
        details={"host_kind": data.host_kind.value},
    )
    return request


async def _pending_verification(uow: UnitOfWork, verification_id: int) -> HostVerification:
    request = await uow.session.scalar(
        sa.select(HostVerification).where(HostVerification.id == verification_id).with_for_update()
    )
    if request is None:
        raise NotFound(N_("No such verification request."))
    if request.status != VerificationStatus.PENDING:
        raise e.NotPending(N_("This request has already been decided."))
    return request


def _decision_reason(reason: str) -> str:
    """A decision's reason, kept with the request and in the audit log: trimmed, never cut short."""
    reason = reason.strip()
    if len(reason) > REASON_MAX:
        raise Invalid(N_("Must be at most %(max_length)s characters."), field="reason", max_length=REASON_MAX)
    return reason


async def approve_verification(
    uow: UnitOfWork,
    actor: User | None,
    verification_id: int,
    *,
    reason: str = "",
    valid_days: int,
    now: datetime | None = None,
) -> HostVerification:
    admin = require_platform_admin(actor)
    reason = _decision_reason(reason)
    request = await _pending_verification(uow, verification_id)
    if request.user_id == admin.id:
        raise e.NotPlatformAdmin(N_("You cannot decide your own verification request."))
    now = now or utcnow()
    request.status = VerificationStatus.APPROVED
    request.decided_by_id = admin.id
    request.decided_at = now
    request.decision_reason = reason
    request.valid_until = now + timedelta(days=valid_days)
    record_audit(
        uow,
        actor_id=admin.id,
        action="verification.approve",
        target_type="host_verification",
        target_id=request.id,
        reason=reason,
        details={"user_id": request.user_id, "valid_until": request.valid_until.isoformat()},
    )
    return request


async def reject_verification(
    uow: UnitOfWork, actor: User | None, verification_id: int, *, reason: str
) -> HostVerification:
    admin = require_platform_admin(actor)
    reason = _decision_reason(reason)
    if not reason:
        raise Invalid(N_("Say why the request is rejected."), field="reason")
    request = await _pending_verification(uow, verification_id)
    if request.user_id == admin.id:
        raise e.NotPlatformAdmin(N_("You cannot decide your own verification request."))
    request.status = VerificationStatus.REJECTED
    request.decided_by_id = admin.id
    request.decided_at = utcnow()
    request.decision_reason = reason
    record_audit(
        uow,
        actor_id=admin.id,
        action="verification.reject",
        target_type="host_verification",
        target_id=request.id,
        reason=reason,
        details={"user_id": request.user_id},
    )
    return request
