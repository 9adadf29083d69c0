"""Verification of an organisation's kind: government bodies and inspection authorities are claims.

Anyone may create an organisation of any kind, so "government" or "inspection authority" alone
proves nothing. The owner applies with evidence and a jurisdiction (a region code); a platform
administrator approves or rejects, and may later revoke, each step in the audit log, as for
real-name host verification. Only a verified organisation shows as verified, and its exact name
is then reserved: no other organisation may take it.

The jurisdiction is checked against the shipped administrative divisions, which live in the
catalog, a layer above: callers pass `is_region` in (accounts may not import the catalog)."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.accounts import errors as e
from fieldcast.accounts import schemas as s
from fieldcast.accounts.models import (
    CLAIMED_KINDS,
    REASON_MAX,
    Membership,
    Organisation,
    OrganisationVerification,
    OrgVerificationStatus,
    Role,
    User,
)
from fieldcast.accounts.permissions import require_org_role, require_platform_admin, require_user
from fieldcast.db.audit import record_audit
from fieldcast.db.base import utcnow
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import Invalid, NotFound
from fieldcast.i18n import N_

IsRegion = Callable[[str], bool]


def name_key(name: str) -> str:
    """What two names must not share: the same text once width, case and spaces are set aside
    (so "XX县人民政府" cannot be taken again as "XX县人民政府 " or in full-width letters)."""
    return "".join(unicodedata.normalize("NFKC", name).casefold().split())


async def verified_organisation_named(
    session: AsyncSession, name: str, *, other_than: int | None = None
) -> Organisation | None:
    """The verified organisation whose name is `name` (see name_key), if any."""
    key = name_key(name)
    cond = Organisation.verified_kind.is_not(None) & (Organisation.verified_kind == Organisation.kind)
    if other_than is not None:
        cond = cond & (Organisation.id != other_than)
    for org in await session.scalars(sa.select(Organisation).where(cond)):
        if name_key(org.name) == key:
            return org
    return None


async def require_name_free(session: AsyncSession, name: str, *, other_than: int | None = None) -> None:
    """Refuse the exact name of a verified organisation, on the `name` field."""
    if await verified_organisation_named(session, name, other_than=other_than) is not None:
        raise e.NameOfVerifiedOrganisation(
            N_("A verified organisation already has this name; choose another."), field="name"
        )


def lapse_if_claim_changed(uow: UnitOfWork, actor: User, org: Organisation, changed: set[str]) -> None:
    """A verification covers the name and kind it was given for: changing either ends it."""
    if org.verified_kind is None or not changed & {"name", "kind"}:
        return
    org.verified_kind = None
    org.verified_at = None
    org.jurisdiction_code = ""
    record_audit(
        uow,
        actor_id=actor.id,
        action="organisation.verification_lapse",
        target_type="organisation",
        target_id=org.id,
        organisation_id=org.id,
        details={"fields": sorted(changed & {"name", "kind"})},
    )


async def apply_for_org_verification(
    uow: UnitOfWork,
    actor: User | None,
    org: Organisation,
    data: s.OrgVerificationIn,
    *,
    is_region: IsRegion,
    is_demo: bool = False,
) -> OrganisationVerification:
    """The owner asks for the organisation's kind to be verified, under its current name."""
    await require_org_role(uow.session, actor, org.id, Role.OWNER)
    user = require_user(actor)
    if org.kind not in CLAIMED_KINDS:
        raise e.NotAClaimedKind(N_("Only government bodies and inspection authorities are verified."), field="kind")
    if not is_region(data.jurisdiction_code):
        raise e.UnknownJurisdiction(
            N_("Choose a region from the list of administrative divisions."), field="jurisdiction_code"
        )
    if org.is_verified:
        raise e.AlreadyVerified(N_("This organisation is already verified."))
    pending = await uow.session.scalar(
        sa.select(OrganisationVerification.id).where(
            OrganisationVerification.organisation_id == org.id,
            OrganisationVerification.status == OrgVerificationStatus.PENDING,
        )
    )
    if pending is not None:
        raise e.VerificationPending(N_("This organisation already has a request waiting for review."))
    await require_name_free(uow.session, org.name, other_than=org.id)
    request = OrganisationVerification(
        organisation_id=org.id,
        kind=org.kind,
        name=org.name,
        jurisdiction_code=data.jurisdiction_code,
        evidence_note=data.evidence_note,
        requested_by_id=user.id,
        is_demo=is_demo,
    )
    uow.session.add(request)
    await uow.session.flush()
    record_audit(
        uow,
        actor_id=user.id,
        action="organisation.verification_apply",
        target_type="organisation_verification",
        target_id=request.id,
        organisation_id=org.id,
        details={"kind": org.kind.value, "jurisdiction_code": data.jurisdiction_code},
    )
    return request


async def _locked(uow: UnitOfWork, verification_id: int) -> tuple[OrganisationVerification, Organisation]:
    request = await uow.session.scalar(
        sa.select(OrganisationVerification).where(OrganisationVerification.id == verification_id).with_for_update()
    )
    if request is None:
        raise NotFound(N_("No such verification request."))
    org = await uow.session.scalar(
        sa.select(Organisation).where(Organisation.id == request.organisation_id).with_for_update()
    )
    if org is None:
        raise NotFound(N_("No such organisation."))
    return request, org


async def _require_outsider(uow: UnitOfWork, admin: User, org: Organisation) -> None:
    """An administrator does not decide for an organisation they belong to."""
    member = await uow.session.scalar(
        sa.select(Membership.id).where(Membership.organisation_id == org.id, Membership.user_id == admin.id).limit(1)
    )
    if member is not None:
        raise e.NotPlatformAdmin(N_("You cannot decide a request of an organisation you belong to."))


def _reason(reason: str, *, required: bool) -> str:
    reason = reason.strip()
    if len(reason) > REASON_MAX:
        raise Invalid(N_("Must be at most %(max_length)s characters."), field="reason", max_length=REASON_MAX)
    if required and not reason:
        raise Invalid(N_("Say why."), field="reason")
    return reason


async def approve_org_verification(
    uow: UnitOfWork, actor: User | None, verification_id: int, *, reason: str = ""
) -> OrganisationVerification:
    admin = require_platform_admin(actor)
    reason = _reason(reason, required=False)
    request, org = await _locked(uow, verification_id)
    if request.status != OrgVerificationStatus.PENDING:
        raise e.NotPending(N_("This request has already been decided."))
    await _require_outsider(uow, admin, org)
    if org.kind != request.kind or org.name != request.name:
        raise e.ClaimChanged(N_("The organisation changed its name or kind after it applied; it must apply again."))
    await require_name_free(uow.session, org.name, other_than=org.id)
    now = utcnow()
    request.status = OrgVerificationStatus.APPROVED
    request.decided_by_id = admin.id
    request.decided_at = now
    request.decision_reason = reason
    org.verified_kind = request.kind
    org.verified_at = now
    org.jurisdiction_code = request.jurisdiction_code
    record_audit(
        uow,
        actor_id=admin.id,
        action="organisation.verify",
        target_type="organisation_verification",
        target_id=request.id,
        organisation_id=org.id,
        reason=reason,
        details={"kind": request.kind.value, "name": request.name, "jurisdiction_code": request.jurisdiction_code},
    )
    return request


async def reject_org_verification(
    uow: UnitOfWork, actor: User | None, verification_id: int, *, reason: str
) -> OrganisationVerification:
    admin = require_platform_admin(actor)
    reason = _reason(reason, required=True)
    request, org = await _locked(uow, verification_id)
    if request.status != OrgVerificationStatus.PENDING:
        raise e.NotPending(N_("This request has already been decided."))
    await _require_outsider(uow, admin, org)
    request.status = OrgVerificationStatus.REJECTED
    request.decided_by_id = admin.id
    request.decided_at = utcnow()
    request.decision_reason = reason
    record_audit(
        uow,
        actor_id=admin.id,
        action="organisation.verification_reject",
        target_type="organisation_verification",
        target_id=request.id,
        organisation_id=org.id,
        reason=reason,
    )
    return request


async def revoke_org_verification(
    uow: UnitOfWork, actor: User | None, verification_id: int, *, reason: str
) -> OrganisationVerification:
    """Take an approval back (an office closed, a lab lost its accreditation): from now on the
    organisation is unverified, and its inspections stop counting."""
    admin = require_platform_admin(actor)
    reason = _reason(reason, required=True)
    request, org = await _locked(uow, verification_id)
    if request.status != OrgVerificationStatus.APPROVED:
        raise e.NotPending(N_("Only an approved verification can be revoked."))
    request.status = OrgVerificationStatus.REVOKED
    request.decided_by_id = admin.id
    request.decided_at = utcnow()
    request.decision_reason = reason
    org.verified_kind = None
    org.verified_at = None
    org.jurisdiction_code = ""
    record_audit(
        uow,
        actor_id=admin.id,
        action="organisation.verification_revoke",
        target_type="organisation_verification",
        target_id=request.id,
        organisation_id=org.id,
        reason=reason,
    )
    return request


async def list_org_verifications(
    session: AsyncSession,
    *,
    status: OrgVerificationStatus | None = None,
    organisation_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[Sequence[tuple[OrganisationVerification, Organisation]], int]:
    """Requests with their organisations, newest first."""
    cond: sa.ColumnElement[bool] = sa.true()
    if status is not None:
        cond = OrganisationVerification.status == status
    if organisation_id is not None:
        cond = sa.and_(cond, OrganisationVerification.organisation_id == organisation_id)
    total = await session.scalar(sa.select(sa.func.count(OrganisationVerification.id)).where(cond)) or 0
    rows = await session.execute(
        sa.select(OrganisationVerification, Organisation)
        .join(Organisation, Organisation.id == OrganisationVerification.organisation_id)
        .where(cond)
        .order_by(OrganisationVerification.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [(v, o) for v, o in rows], total
