"""Tables of the accounts capability."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fieldcast.db.base import Base, IdType, Timestamped
from fieldcast.db.types import str_enum

EMAIL_MAX = 254
DISPLAY_NAME_MAX = 40
TOKEN_NAME_MAX = 64
ORG_NAME_MAX = 100
ORG_SLUG_MAX = 48
REGION_MAX = 100
DESCRIPTION_MAX = 2000
LEGAL_NAME_MAX = 50
POSITION_MAX = 100
EVIDENCE_MAX = 2000
REASON_MAX = 500
BRAND_NAME_MAX = 40
REGION_CODE_LEN = 6


class OrgKind(StrEnum):
    GOVERNMENT = "government"
    ASSOCIATION = "association"
    COOPERATIVE = "cooperative"
    ENTERPRISE = "enterprise"
    # A market-supervision office (市场监管) or an accredited lab: its inspectors' results count.
    INSPECTION_AUTHORITY = "inspection_authority"


# Kinds that are claims: shown as unverified until a platform administrator verifies them.
CLAIMED_KINDS = frozenset({OrgKind.GOVERNMENT, OrgKind.INSPECTION_AUTHORITY})


class Role(StrEnum):
    OWNER = "owner"
    ORGANISER = "organiser"
    HOST = "host"
    SUPPLIER = "supplier"
    INSPECTOR = "inspector"
    SUPERVISOR = "supervisor"


class HostKind(StrEnum):
    OFFICIAL = "official"
    FIRST_SECRETARY = "first_secretary"
    FARMER = "farmer"
    ENTERPRISE_STAFF = "enterprise_staff"
    OTHER = "other"


class VerificationStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class OrgVerificationStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    REVOKED = "revoked"  # an approval a platform administrator took back


class User(Timestamped, Base):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(sa.String(EMAIL_MAX), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(DISPLAY_NAME_MAX))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    is_platform_admin: Mapped[bool] = mapped_column(default=False)
    is_active: Mapped[bool] = mapped_column(default=True)
    language: Mapped[str | None] = mapped_column(sa.String(8), default=None)
    # Bumped by "sign out everywhere" and password changes: older session cookies stop working.
    session_epoch: Mapped[int] = mapped_column(default=0)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(default=None)
    is_demo: Mapped[bool] = mapped_column(default=False)


class ApiToken(Timestamped, Base):
    __tablename__ = "api_tokens"

    user_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(TOKEN_NAME_MAX))
    # Only a SHA-256 of the token is kept; the token itself is shown once at creation.
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(12))
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)

    user: Mapped[User] = relationship(lazy="raise")


class RevokedSession(Base):
    """A signed-out browser session: its cookie stays signed and unexpired until `expires_at`, so
    the server remembers it is dead (a copied cookie replayed after sign-out is anonymous)."""

    __tablename__ = "revoked_sessions"

    # SHA-256 of the random session id the cookie carries.
    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class Organisation(Timestamped, Base):
    __tablename__ = "organisations"

    slug: Mapped[str] = mapped_column(sa.String(ORG_SLUG_MAX), unique=True)
    name: Mapped[str] = mapped_column(sa.String(ORG_NAME_MAX))
    kind: Mapped[OrgKind] = mapped_column(str_enum(OrgKind))
    region: Mapped[str] = mapped_column(sa.String(REGION_MAX), default="")
    description: Mapped[str] = mapped_column(sa.String(DESCRIPTION_MAX), default="")
    # The storefront's unified brand: a name shown over every product, and a logo image.
    brand_name: Mapped[str] = mapped_column(sa.String(BRAND_NAME_MAX), default="")
    logo_path: Mapped[str] = mapped_column(sa.String(200), default="")
    # Set by a platform administrator's approval of an OrganisationVerification; cleared when the
    # verification is revoked or the organisation changes its name or kind (the claim changed).
    verified_kind: Mapped[OrgKind | None] = mapped_column(str_enum(OrgKind), default=None)
    verified_at: Mapped[datetime | None] = mapped_column(default=None)
    # The verified jurisdiction: a region code of the shipped divisions ("" when not verified).
    jurisdiction_code: Mapped[str] = mapped_column(sa.String(REGION_CODE_LEN), default="")
    is_demo: Mapped[bool] = mapped_column(default=False)

    @property
    def is_verified(self) -> bool:
        """The organisation's kind is a claim a platform administrator verified."""
        return self.verified_kind is not None and self.verified_kind == self.kind

    @property
    def is_verified_authority(self) -> bool:
        return self.is_verified and self.kind == OrgKind.INSPECTION_AUTHORITY


class Membership(Timestamped, Base):
    """One row per role a user holds in an organisation."""

    __tablename__ = "memberships"
    __table_args__ = (sa.UniqueConstraint("organisation_id", "user_id", "role", name="uq_membership"),)

    organisation_id: Mapped[int] = mapped_column(
        IdType, sa.ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role] = mapped_column(str_enum(Role))

    user: Mapped[User] = relationship(lazy="raise")
    organisation: Mapped[Organisation] = relationship(lazy="raise")


class Invitation(Timestamped, Base):
    __tablename__ = "invitations"

    organisation_id: Mapped[int] = mapped_column(
        IdType, sa.ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(sa.String(EMAIL_MAX))
    role: Mapped[Role] = mapped_column(str_enum(Role))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    invited_by_id: Mapped[int | None] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None] = mapped_column(default=None)
    accepted_by_id: Mapped[int | None] = mapped_column(
        IdType, sa.ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)

    organisation: Mapped[Organisation] = relationship(lazy="raise")


class HostVerification(Timestamped, Base):
    """A real-name verification request. The ID number is kept only as a keyed hash + last 4."""

    __tablename__ = "host_verifications"

    user_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    legal_name: Mapped[str] = mapped_column(sa.String(LEGAL_NAME_MAX))
    id_number_hash: Mapped[str] = mapped_column(sa.String(64), index=True)
    id_number_last4: Mapped[str] = mapped_column(sa.String(4))
    host_kind: Mapped[HostKind] = mapped_column(str_enum(HostKind))
    position_title: Mapped[str] = mapped_column(sa.String(POSITION_MAX))
    jurisdiction: Mapped[str] = mapped_column(sa.String(REGION_MAX))
    evidence_note: Mapped[str] = mapped_column(sa.String(EVIDENCE_MAX))
    status: Mapped[VerificationStatus] = mapped_column(
        str_enum(VerificationStatus), default=VerificationStatus.PENDING, index=True
    )
    decided_by_id: Mapped[int | None] = mapped_column(
        IdType, sa.ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    decision_reason: Mapped[str] = mapped_column(sa.String(REASON_MAX), default="")
    valid_until: Mapped[datetime | None] = mapped_column(default=None)
    is_demo: Mapped[bool] = mapped_column(default=False)

    user: Mapped[User] = relationship(lazy="raise", foreign_keys=[user_id])


class OrganisationVerification(Timestamped, Base):
    """An organisation's claim to be a government body or an inspection authority, with its
    evidence and jurisdiction, and a platform administrator's decision on it."""

    __tablename__ = "organisation_verifications"

    organisation_id: Mapped[int] = mapped_column(
        IdType, sa.ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[OrgKind] = mapped_column(str_enum(OrgKind))
    # The name the claim is made under: an approval covers this name only.
    name: Mapped[str] = mapped_column(sa.String(ORG_NAME_MAX))
    jurisdiction_code: Mapped[str] = mapped_column(sa.String(REGION_CODE_LEN))
    evidence_note: Mapped[str] = mapped_column(sa.String(EVIDENCE_MAX))
    requested_by_id: Mapped[int | None] = mapped_column(
        IdType, sa.ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    status: Mapped[OrgVerificationStatus] = mapped_column(
        str_enum(OrgVerificationStatus), default=OrgVerificationStatus.PENDING, index=True
    )
    decided_by_id: Mapped[int | None] = mapped_column(
        IdType, sa.ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    decision_reason: Mapped[str] = mapped_column(sa.String(REASON_MAX), default="")
    is_demo: Mapped[bool] = mapped_column(default=False)
