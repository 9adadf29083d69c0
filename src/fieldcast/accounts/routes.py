"""Accounts over HTTP: the JSON API under /api/v1. Thin: parse, call one action or query, return."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from fieldcast.accounts import actions as a
from fieldcast.accounts import queries as q
from fieldcast.accounts import schemas as s
from fieldcast.accounts.auth import (
    CurrentUser,
    Reader,
    Throttle,
    client_address,
    sign_in_session,
    sign_out_session,
)
from fieldcast.accounts.models import (
    HostVerification,
    Organisation,
    OrgKind,
    Role,
    User,
)
from fieldcast.accounts.permissions import require_org_role, require_platform_admin, require_user
from fieldcast.db import audit as audit_queries
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import NotFound
from fieldcast.i18n import N_
from fieldcast.inputs import Id
from fieldcast.session_cookie import SESSION_USER, SESSION_VIEWER, new_viewer_id
from fieldcast.web.api import PROBLEMS, Limit, Offset, Page
from fieldcast.web.deps import Ctx, Uow, csrf_token

api = APIRouter(prefix="/api/v1", responses=PROBLEMS)


async def org_or_404(uow: UnitOfWork, slug: str) -> Organisation:
    org = await q.organisation_by_slug(uow.session, slug)
    if org is None:
        raise NotFound(N_("No such organisation."))
    return org


# == API: authentication ==========================================================================


@api.post("/auth/signup", response_model=s.UserOut, status_code=201, tags=["auth"])
async def api_sign_up(data: s.SignUpIn, request: Request, uow: Uow, throttle: Throttle) -> s.UserOut:
    """Create an account and sign in (session cookie). Sign-ups are limited per client address."""
    user = await a.sign_up(uow, data, throttle=throttle.sign_up_address, address=client_address(request))
    sign_in_session(request, user)
    return await q.user_out(uow.session, user)


@api.post("/auth/signin", response_model=s.UserOut, tags=["auth"])
async def api_sign_in(data: s.SignInIn, request: Request, uow: Uow, throttle: Throttle, reader: Reader) -> s.UserOut:
    """Sign in with a session cookie; read the CSRF token from GET /auth/csrf for later writes."""
    user = await a.authenticate(uow, data, throttle, client_address(request), reader=reader)
    sign_in_session(request, user)
    return await q.user_out(uow.session, user)


@api.post("/auth/token", response_model=s.TokenCreatedOut, status_code=201, tags=["auth"])
async def api_token_sign_in(
    data: s.TokenSignInIn, request: Request, uow: Uow, throttle: Throttle, reader: Reader
) -> s.TokenCreatedOut:
    """Exchange email and password for a bearer token (for scripts and apps)."""
    user = await a.authenticate(uow, data, throttle, client_address(request), reader=reader)
    row, token = await a.create_api_token(uow, user, data.token_name)
    return s.TokenCreatedOut(**s.TokenOut.model_validate(row).model_dump(), token=token)


@api.post("/auth/signout", status_code=204, tags=["auth"])
async def api_sign_out(request: Request, uow: Uow, user: CurrentUser) -> Response:
    """End this session; its cookie no longer signs anyone in, even a copy of it."""
    await sign_out_session(request, uow)
    return Response(status_code=204)


@api.post("/auth/signout-everywhere", status_code=204, tags=["auth"])
async def api_sign_out_everywhere(request: Request, uow: Uow, user: CurrentUser) -> Response:
    """End every browser session of this account and revoke all its API tokens."""
    await a.sign_out_everywhere(uow, user)
    await sign_out_session(request, uow)
    return Response(status_code=204)


@api.post("/me/password", status_code=204, tags=["me"])
async def api_change_password(data: s.PasswordChangeIn, request: Request, uow: Uow, user: CurrentUser) -> Response:
    """Change the password; other browser sessions end and every API token is revoked, this
    browser's session continues."""
    changed = await a.change_password(uow, user, data)
    sign_in_session(request, changed)
    return Response(status_code=204)


@api.get("/auth/csrf", tags=["auth"])
async def api_csrf(request: Request) -> dict[str, str]:
    """The CSRF token cookie-authenticated writes must send as X-CSRF-Token. It also starts the
    session of a visitor whose page came from a shared cache (no cookie in it): an anonymous
    visitor gets their viewer id here, which tells them apart in a room's honest counts."""
    if SESSION_USER not in request.session and not request.session.get(SESSION_VIEWER):
        request.session[SESSION_VIEWER] = new_viewer_id()
    return {"csrf_token": csrf_token(request)}


# == API: me, tokens, verification ================================================================


@api.get("/me", response_model=s.UserOut, tags=["me"])
async def api_me(uow: Uow, user: CurrentUser) -> s.UserOut:
    return await q.user_out(uow.session, require_user(user))


@api.get("/me/tokens", response_model=list[s.TokenOut], tags=["me"])
async def api_list_tokens(uow: Uow, user: CurrentUser) -> list[s.TokenOut]:
    me = require_user(user)
    return [s.TokenOut.model_validate(t) for t in await q.list_tokens(uow.session, me.id)]


@api.post("/me/tokens", response_model=s.TokenCreatedOut, status_code=201, tags=["me"])
async def api_create_token(data: s.TokenIn, uow: Uow, user: CurrentUser) -> s.TokenCreatedOut:
    row, token = await a.create_api_token(uow, user, data.name)
    return s.TokenCreatedOut(**s.TokenOut.model_validate(row).model_dump(), token=token)


@api.delete("/me/tokens/{token_id}", response_model=s.TokenOut, tags=["me"])
async def api_revoke_token(token_id: Id, uow: Uow, user: CurrentUser) -> s.TokenOut:
    return s.TokenOut.model_validate(await a.revoke_api_token(uow, user, token_id))


@api.get("/me/verifications", response_model=list[s.VerificationOut], tags=["verification"])
async def api_my_verifications(uow: Uow, user: CurrentUser) -> list[s.VerificationOut]:
    me = require_user(user)
    items, _total = await q.list_verifications(uow.session, user_id=me.id, limit=100)
    return items


@api.post("/me/verifications", response_model=s.VerificationOut, status_code=201, tags=["verification"])
async def api_apply(data: s.VerificationIn, uow: Uow, ctx: Ctx, user: CurrentUser) -> s.VerificationOut:
    """Apply for real-name host verification. The ID number is kept only as a keyed hash."""
    request = await a.apply_for_verification(uow, user, data, id_hash_key=ctx.settings.resolved_secret_key)
    return q.verification_out(request, require_user(user).display_name)


@api.get("/verifications", response_model=Page[s.VerificationOut], tags=["verification"])
async def api_verification_queue(
    uow: Uow,
    user: CurrentUser,
    status: str | None = Query(None, pattern="^(pending|approved|rejected|withdrawn|expired)$"),
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[s.VerificationOut]:
    """Platform admins: verification requests, newest first, optionally by status."""
    require_platform_admin(user)
    items, total = await q.list_verifications(uow.session, status=status, limit=limit, offset=offset)
    return Page(items=items, total=total, limit=limit, offset=offset)


async def _decided(uow: UnitOfWork, request_id: Id) -> s.VerificationOut:
    row = await uow.session.get(HostVerification, request_id)
    if row is None:
        raise NotFound(N_("No such verification request."))
    owner = await uow.session.get(User, row.user_id)
    return q.verification_out(row, owner.display_name if owner else "")


@api.post("/verifications/{request_id}/approve", response_model=s.VerificationOut, tags=["verification"])
async def api_approve(request_id: Id, data: s.DecisionIn, uow: Uow, ctx: Ctx, user: CurrentUser) -> s.VerificationOut:
    await a.approve_verification(
        uow, user, request_id, reason=data.reason, valid_days=ctx.settings.verification_valid_days
    )
    return await _decided(uow, request_id)


@api.post("/verifications/{request_id}/reject", response_model=s.VerificationOut, tags=["verification"])
async def api_reject(request_id: Id, data: s.DecisionIn, uow: Uow, user: CurrentUser) -> s.VerificationOut:
    await a.reject_verification(uow, user, request_id, reason=data.reason)
    return await _decided(uow, request_id)


@api.get("/hosts", response_model=Page[s.HostOut], tags=["verification"])
async def api_hosts(uow: Uow, official: bool = False, limit: Limit = 50, offset: Offset = 0) -> Page[s.HostOut]:
    """Verified hosts (public): badges, position and jurisdiction; never legal ID data."""
    items, total = await q.list_verified_hosts(uow.session, limit=limit, offset=offset, official_only=official)
    return Page(items=items, total=total, limit=limit, offset=offset)


# == API: organisations ===========================================================================


@api.get("/organisations", response_model=Page[s.OrganisationOut], tags=["organisations"])
async def api_organisations(
    uow: Uow, kind: OrgKind | None = None, limit: Limit = 50, offset: Offset = 0
) -> Page[s.OrganisationOut]:
    rows, total = await q.list_organisations(uow.session, kind=kind, limit=limit, offset=offset)
    return Page(items=[s.OrganisationOut.model_validate(o) for o in rows], total=total, limit=limit, offset=offset)


@api.post("/organisations", response_model=s.OrganisationOut, status_code=201, tags=["organisations"])
async def api_create_organisation(
    data: s.OrganisationIn, request: Request, uow: Uow, user: CurrentUser, throttle: Throttle
) -> s.OrganisationOut:
    """Create an organisation; the creator becomes its owner. Limited per client address."""
    org = await a.create_organisation(
        uow, user, data, throttle=throttle.organisation_address, address=client_address(request)
    )
    return s.OrganisationOut.model_validate(org)


@api.get("/organisations/{slug}", response_model=s.OrganisationOut, tags=["organisations"])
async def api_organisation(slug: str, uow: Uow) -> s.OrganisationOut:
    return s.OrganisationOut.model_validate(await org_or_404(uow, slug))


@api.patch("/organisations/{slug}", response_model=s.OrganisationOut, tags=["organisations"])
async def api_update_organisation(
    slug: str, patch: s.OrganisationPatch, uow: Uow, user: CurrentUser
) -> s.OrganisationOut:
    org = await a.update_organisation(uow, user, await org_or_404(uow, slug), patch)
    return s.OrganisationOut.model_validate(org)


@api.get("/organisations/{slug}/members", response_model=list[s.MemberOut], tags=["organisations"])
async def api_members(slug: str, uow: Uow) -> list[s.MemberOut]:
    return await q.list_members(uow.session, (await org_or_404(uow, slug)).id)


@api.delete("/organisations/{slug}/members/{user_id}/roles/{role}", status_code=204, tags=["organisations"])
async def api_remove_role(slug: str, user_id: Id, role: Role, uow: Uow, user: CurrentUser) -> Response:
    await a.remove_member_role(uow, user, await org_or_404(uow, slug), user_id, role)
    return Response(status_code=204)


@api.get("/organisations/{slug}/invitations", response_model=list[s.InvitationOut], tags=["organisations"])
async def api_invitations(slug: str, uow: Uow, user: CurrentUser) -> list[s.InvitationOut]:
    org = await org_or_404(uow, slug)
    await require_org_role(uow.session, user, org.id, Role.OWNER, Role.ORGANISER)
    return [s.InvitationOut.model_validate(i) for i in await q.list_invitations(uow.session, org.id)]


@api.post(
    "/organisations/{slug}/invitations",
    response_model=s.InvitationCreatedOut,
    status_code=201,
    tags=["organisations"],
)
async def api_invite(slug: str, data: s.InvitationIn, uow: Uow, ctx: Ctx, user: CurrentUser) -> s.InvitationCreatedOut:
    invitation, token = await a.invite_member(
        uow, user, await org_or_404(uow, slug), data, valid_days=ctx.settings.invitation_valid_days
    )
    return s.InvitationCreatedOut(
        **s.InvitationOut.model_validate(invitation).model_dump(),
        token=token,
        accept_path=f"/invitations/{token}",
    )


@api.delete("/organisations/{slug}/invitations/{invitation_id}", response_model=s.InvitationOut, tags=["organisations"])
async def api_revoke_invitation(slug: str, invitation_id: Id, uow: Uow, user: CurrentUser) -> s.InvitationOut:
    invitation = await a.revoke_invitation(uow, user, await org_or_404(uow, slug), invitation_id)
    return s.InvitationOut.model_validate(invitation)


@api.post("/invitations/accept", response_model=s.MemberOut, tags=["organisations"])
async def api_accept_invitation(data: s.InvitationAcceptIn, uow: Uow, user: CurrentUser) -> s.MemberOut:
    membership = await a.accept_invitation(uow, user, data.token)
    members = await q.list_members(uow.session, membership.organisation_id)
    return next(m for m in members if m.user_id == membership.user_id)


@api.get("/audit", response_model=list[s.AuditOut], tags=["operations"])
async def api_audit(
    uow: Uow,
    user: CurrentUser,
    target_type: str | None = Query(None, max_length=32),
    target_id: str | None = Query(None, max_length=64),
    action: str | None = Query(None, max_length=64),
    organisation: str | None = Query(None, max_length=48),
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[s.AuditOut]:
    """The audit log: platform admins see all; an organisation's owners and supervisors see theirs."""
    organisation_id = None
    if organisation:
        org = await org_or_404(uow, organisation)
        await require_org_role(uow.session, user, org.id, Role.OWNER, Role.SUPERVISOR)
        organisation_id = org.id
    else:
        require_platform_admin(user)
    rows = await audit_queries.list_audit(
        uow.session,
        target_type=target_type,
        target_id=target_id,
        action=action,
        organisation_id=organisation_id,
        limit=limit,
        offset=offset,
    )
    return [s.AuditOut.model_validate(r) for r in rows]
