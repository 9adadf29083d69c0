"""API shapes for accounts (separate from the tables)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, EmailStr, Field, StringConstraints

from fieldcast.accounts import models as m
from fieldcast.accounts.security import PASSWORD_MAX, PASSWORD_MIN
from fieldcast.web.api import In, Out, text

Email = Annotated[EmailStr, StringConstraints(max_length=m.EMAIL_MAX)]
Password = Annotated[str, StringConstraints(min_length=PASSWORD_MIN, max_length=PASSWORD_MAX)]
DisplayName = text(1, m.DISPLAY_NAME_MAX, one_line=True)
Slug = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        min_length=3,
        max_length=m.ORG_SLUG_MAX,
        pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$",
    ),
]


class SignUpIn(In):
    email: Email
    display_name: DisplayName  # type: ignore[valid-type]
    password: Password


class SignInIn(In):
    email: Email
    password: Annotated[str, StringConstraints(min_length=1, max_length=PASSWORD_MAX)]


class PasswordChangeIn(In):
    current_password: Annotated[str, StringConstraints(min_length=1, max_length=PASSWORD_MAX)]
    new_password: Password


class TokenSignInIn(SignInIn):
    token_name: text(1, m.TOKEN_NAME_MAX, one_line=True) = "api"  # type: ignore[valid-type]  # noqa: S105


class BadgesOut(BaseModel):
    verified: bool = False
    official: bool = False
    host_kind: m.HostKind | None = None
    position_title: str | None = None
    jurisdiction: str | None = None
    valid_until: datetime | None = None


class UserOut(Out):
    id: int
    email: str
    display_name: str
    is_platform_admin: bool
    language: str | None
    created_at: datetime
    badges: BadgesOut = BadgesOut()


class HostOut(BaseModel):
    """A verified host as the public sees them: no email, no legal ID data."""

    id: int
    display_name: str
    badges: BadgesOut
    is_demo: bool


class TokenIn(In):
    name: text(1, m.TOKEN_NAME_MAX, one_line=True)  # type: ignore[valid-type]


class TokenOut(Out):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreatedOut(TokenOut):
    token: str = Field(description="Shown once; only its hash is stored.")


class OrganisationIn(In):
    slug: Slug
    name: text(2, m.ORG_NAME_MAX, one_line=True)  # type: ignore[valid-type]
    kind: m.OrgKind
    region: text(0, m.REGION_MAX, one_line=True) = ""  # type: ignore[valid-type]
    description: text(0, m.DESCRIPTION_MAX) = ""  # type: ignore[valid-type]


class OrganisationPatch(In):
    name: text(2, m.ORG_NAME_MAX, one_line=True) | None = None  # type: ignore[valid-type]
    kind: m.OrgKind | None = None
    region: text(0, m.REGION_MAX, one_line=True) | None = None  # type: ignore[valid-type]
    description: text(0, m.DESCRIPTION_MAX) | None = None  # type: ignore[valid-type]


class OrganisationOut(Out):
    id: int
    slug: str
    name: str
    kind: m.OrgKind
    region: str
    description: str
    is_demo: bool
    created_at: datetime
    is_verified: bool = Field(
        description="Its kind (government, inspection authority) was verified by a platform administrator."
    )
    verified_at: datetime | None
    jurisdiction_code: str = Field(description="The verified jurisdiction's region code; empty when unverified.")


class OrgVerificationIn(In):
    """An organisation's owner asks for its kind to be verified, under its current name."""

    jurisdiction_code: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\d{6}$")]
    evidence_note: text(10, m.EVIDENCE_MAX)  # type: ignore[valid-type]


class OrgVerificationOut(Out):
    id: int
    organisation_id: int
    organisation_slug: str = ""
    kind: m.OrgKind
    name: str
    jurisdiction_code: str
    jurisdiction_name: str = ""
    evidence_note: str
    status: m.OrgVerificationStatus
    decided_at: datetime | None
    decision_reason: str
    created_at: datetime


class MemberOut(BaseModel):
    user_id: int
    display_name: str
    roles: list[m.Role]
    badges: BadgesOut


class InvitationIn(In):
    email: Email
    role: m.Role


class InvitationOut(Out):
    id: int
    email: str
    role: m.Role
    expires_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None


class InvitationCreatedOut(InvitationOut):
    token: str = Field(description="Send this to the invitee; shown once.")
    accept_path: str


class VerificationIn(In):
    legal_name: text(2, m.LEGAL_NAME_MAX, one_line=True)  # type: ignore[valid-type]
    id_number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=18, max_length=18)]
    host_kind: m.HostKind
    position_title: text(2, m.POSITION_MAX, one_line=True)  # type: ignore[valid-type]
    jurisdiction: text(2, m.REGION_MAX, one_line=True)  # type: ignore[valid-type]
    evidence_note: text(10, m.EVIDENCE_MAX)  # type: ignore[valid-type]


class VerificationOut(BaseModel):
    id: int
    user_id: int
    display_name: str
    legal_name: str
    id_number_last4: str
    host_kind: m.HostKind
    position_title: str
    jurisdiction: str
    evidence_note: str
    status: str = Field(description="pending | approved | rejected | withdrawn | expired")
    decided_at: datetime | None
    decision_reason: str
    valid_until: datetime | None
    created_at: datetime


class DecisionIn(In):
    reason: text(0, m.REASON_MAX) = ""  # type: ignore[valid-type]


class AuditOut(Out):
    id: int
    created_at: datetime
    actor_id: int | None
    action: str
    target_type: str
    target_id: str
    organisation_id: int | None
    reason: str
    details: dict[str, object]


class InvitationAcceptIn(In):
    token: Annotated[str, StringConstraints(strip_whitespace=True, min_length=10, max_length=100)]
