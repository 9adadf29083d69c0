"""Writes of the accounts capability: one function per thing a user does.

Each checks permission, changes state inside the caller's unit of work and writes the audit log."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import NoReturn

import sqlalchemy as sa

from fieldcast.accounts import errors as e
from fieldcast.accounts import queries as q
from fieldcast.accounts import schemas as s
from fieldcast.accounts.events import TOPIC_MEMBERSHIP, TOPIC_VERIFICATION, MembershipRemoved, VerificationDecided
from fieldcast.accounts.models import (
    REASON_MAX,
    ApiToken,
    HostVerification,
    Invitation,
    Membership,
    Organisation,
    RevokedSession,
    Role,
    User,
    VerificationStatus,
)
from fieldcast.accounts.org_verification import lapse_if_claim_changed, require_name_free
from fieldcast.accounts.permissions import (
    require_org_role,
    require_platform_admin,
    require_user,
)
from fieldcast.accounts.security import (
    hash_password,
    hash_token,
    id_number_hash,
    id_number_is_valid,
    new_secret_token,
    normalise_id_number,
    password_needs_rehash,
    verify_password,
    verify_unknown_account,
)
from fieldcast.accounts.throttle import Throttle, Throttles
from fieldcast.db.audit import record_audit
from fieldcast.db.base import utcnow
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import Invalid, NotFound, TooManyRequests
from fieldcast.i18n import N_

Reader = Callable[[], UnitOfWork]  # opens a short read-only unit of work of its own
MAX_TOKENS_PER_USER = 20
# A verified host may ask again this long before the current verification runs out.
RENEWAL_WINDOW = timedelta(days=30)


# -- users and sign-in ---------------------------------------------------------------------------


async def _within_rate(throttle: Throttle | None, key: str, message: str) -> None:
    """Count one attempt against `throttle`; refuse it (429, Retry-After) when over the limit."""
    if throttle is None:
        return
    wait_s = await throttle.hit(key)
    if wait_s:
        raise TooManyRequests(message, retry_after_s=wait_s)


async def sign_up(
    uow: UnitOfWork,
    data: s.SignUpIn,
    *,
    throttle: Throttle | None = None,
    address: str = "",
    is_platform_admin: bool = False,
    is_demo: bool = False,
) -> User:
    """A new account. From the web, `throttle` counts sign-ups per client `address` (the CLI and
    the demo seed pass none)."""
    await _within_rate(
        throttle, address, N_("Too many accounts were created from your network. Try again in %(retry_after_s)s s.")
    )
    email = data.email.lower()
    # Hashed before the first query: no transaction (on SQLite, the write lock) waits on argon2.
    password_hash = await hash_password(data.password)
    if await q.user_by_email(uow.session, email) is not None:
        raise e.EmailTaken(N_("An account with this email already exists."), field="email")
    user = User(
        email=email,
        display_name=data.display_name,
        password_hash=password_hash,
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


async def authenticate(
    uow: UnitOfWork, data: s.SignInIn, throttles: Throttles, address: str, *, reader: Reader
) -> User:
    """Check email and password. Failures slow down, they never lock out (accounts/throttle.py):
    the account backs off (1 s, 2 s, ... at most 60 s after its latest failure, from any address)
    and the client address waits once it has failed too often. A waiting attempt is refused
    before any hash is computed and counts as nothing.

    The stored hash is read in a short transaction of its own (`reader`): no connection, and on
    SQLite not the write lock, is held while the hash is checked in the worker pool. Only a
    successful sign-in writes, in `uow`."""
    email = data.email.lower()
    wait_s = max(
        await throttles.sign_in_address.retry_after_s(address),
        await throttles.sign_in_account.retry_after_s(email),
    )
    if wait_s:
        raise TooManyRequests(
            N_("Too many failed sign-ins. Try again in %(retry_after_s)s s."), field="password", retry_after_s=wait_s
        )
    async with reader() as read:
        found = await q.user_by_email(read.session, email)
    if found is None or not found.is_active:
        await verify_unknown_account(data.password)  # the same cost either way
        await _sign_in_failed(throttles, email, address)
    if not await verify_password(found.password_hash, data.password):
        await _sign_in_failed(throttles, email, address)
    # The address' count stays: signing in to one's own account must not wash out guesses.
    await throttles.sign_in_account.succeeded(email)
    rehashed = await hash_password(data.password) if password_needs_rehash(found.password_hash) else None
    user = await uow.session.get(User, found.id)
    if user is None or not user.is_active:  # removed or deactivated in the meantime
        raise e.BadCredentials(N_("Email or password is wrong."), field="password")
    if rehashed is not None:
        user.password_hash = rehashed
    user.last_sign_in_at = utcnow()
    return user


async def _sign_in_failed(throttles: Throttles, email: str, address: str) -> NoReturn:
    await throttles.sign_in_account.failed(email)
    await throttles.sign_in_address.failed(address)
    raise e.BadCredentials(N_("Email or password is wrong."), field="password")


async def change_password(uow: UnitOfWork, actor: User | None, data: s.PasswordChangeIn) -> User:
    """New password: every browser session ends (the caller starts a fresh one for this browser)
    and every API token is revoked, since whoever knew the old password may have made one."""
    user = require_user(actor)
    if not await verify_password(user.password_hash, data.current_password):
        raise e.BadCredentials(N_("The current password is wrong."), field="current_password")
    user.password_hash = await hash_password(data.new_password)
    user.session_epoch += 1
    tokens = await _revoke_all_tokens(uow, user)
    record_audit(
        uow,
        actor_id=user.id,
        action="user.change_password",
        target_type="user",
        target_id=user.id,
        details={"tokens_revoked": tokens},
    )
    return user


async def sign_out_everywhere(uow: UnitOfWork, actor: User | None) -> User:
    """End every browser session of this user (session cookies carry the epoch they began in)
    and revoke every API token: "everywhere" includes scripts and apps."""
    user = require_user(actor)
    user.session_epoch += 1
    tokens = await _revoke_all_tokens(uow, user)
    record_audit(
        uow,
        actor_id=user.id,
        action="user.sign_out_everywhere",
        target_type="user",
        target_id=user.id,
        details={"tokens_revoked": tokens},
    )
    return user


async def _revoke_all_tokens(uow: UnitOfWork, user: User) -> int:
    result = await uow.session.execute(
        sa.update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def session_id_hash(session_id: str) -> str:
    return hash_token(session_id)


async def end_session(uow: UnitOfWork, user_id: int, session_id: str, *, max_age_s: int) -> None:
    """Sign-out: remember the session as dead for as long as its cookie could still be presented
    (a cookie is re-signed on every answer, so at most `max_age_s` from now). Long-dead entries
    are dropped on the way."""
    now = utcnow()
    await uow.session.execute(sa.delete(RevokedSession).where(RevokedSession.expires_at < now))
    digest = session_id_hash(session_id)
    if await uow.session.get(RevokedSession, digest) is None:
        uow.session.add(RevokedSession(id=digest, user_id=user_id, expires_at=now + timedelta(seconds=max_age_s)))


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
    uow: UnitOfWork,
    actor: User | None,
    data: s.OrganisationIn,
    *,
    throttle: Throttle | None = None,
    address: str = "",
    is_demo: bool = False,
) -> Organisation:
    """Any signed-in user may start an organisation and own it; from the web, `throttle` counts
    creations per client `address`."""
    user = require_user(actor)
    await _within_rate(
        throttle,
        address,
        N_("Too many organisations were created from your network. Try again in %(retry_after_s)s s."),
    )
    if await q.organisation_by_slug(uow.session, data.slug) is not None:
        raise e.SlugTaken(N_("This short name is already taken."), field="slug")
    await require_name_free(uow.session, data.name)
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
    if "name" in changes and changes["name"] != org.name:
        await require_name_free(uow.session, changes["name"], other_than=org.id)
    changed = {field for field, value in changes.items() if getattr(org, field) != value}
    for field, value in changes.items():
        setattr(org, field, value)
    lapse_if_claim_changed(uow, require_user(actor), org, changed)
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


def _publish_decision(uow: UnitOfWork, request: HostVerification, decided_at: datetime) -> None:
    """The applicant hears of the decision in-app: live writes the notification (it owns them)."""
    event = VerificationDecided(
        verification_id=request.id, user_id=request.user_id, status=request.status.value, decided_at=decided_at
    )
    uow.publish(TOPIC_VERIFICATION, str(request.user_id), event.event_type, event.model_dump(mode="json"))


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
    _publish_decision(uow, request, now)
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
    _publish_decision(uow, request, request.decided_at)
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
