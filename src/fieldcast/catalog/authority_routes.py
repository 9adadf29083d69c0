"""Organisation verification over HTTP (API and pages): owners apply, platform admins decide.

The rules live in accounts.org_verification; they are served from the catalog because the
jurisdiction is a region of the catalog's administrative divisions, which accounts may not import.
Both routers are included in the catalog's own (routes.api, pages.pages)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from fieldcast.accounts import org_verification as ov
from fieldcast.accounts import schemas as acs
from fieldcast.accounts.auth import CurrentUser
from fieldcast.accounts.models import (
    CLAIMED_KINDS,
    Organisation,
    OrganisationVerification,
    OrgVerificationStatus,
    Role,
    User,
)
from fieldcast.accounts.permissions import require_org_role, require_platform_admin
from fieldcast.accounts.routes import org_or_404
from fieldcast.catalog import regions
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import NotFound
from fieldcast.i18n import N_
from fieldcast.inputs import Id
from fieldcast.web.api import Limit, Offset, Page
from fieldcast.web.deps import Uow
from fieldcast.web.forms import ACCESS_ERRORS, Form, read_form, read_raw_form, see_other, submit
from fieldcast.web.templating import render

api = APIRouter(tags=["organisations"])
pages = APIRouter(include_in_schema=False)


def verification_out(v: OrganisationVerification, org: Organisation) -> acs.OrgVerificationOut:
    out = acs.OrgVerificationOut.model_validate(v)
    out.organisation_slug = org.slug
    out.jurisdiction_name = regions.full_name(v.jurisdiction_code)
    return out


def _outs(rows: Sequence[tuple[OrganisationVerification, Organisation]]) -> list[acs.OrgVerificationOut]:
    return [verification_out(v, o) for v, o in rows]


async def _decided(uow: UnitOfWork, v: OrganisationVerification) -> acs.OrgVerificationOut:
    org = await uow.session.get(Organisation, v.organisation_id)
    if org is None:
        raise NotFound(N_("No such organisation."))
    return verification_out(v, org)


# == API ==========================================================================================


@api.post("/organisations/{slug}/verifications", response_model=acs.OrgVerificationOut, status_code=201)
async def api_apply(slug: str, data: acs.OrgVerificationIn, uow: Uow, user: CurrentUser) -> acs.OrgVerificationOut:
    """The owner asks a platform administrator to verify the organisation's kind (government or
    inspection authority) under its current name, with evidence and a jurisdiction region code."""
    org = await org_or_404(uow, slug)
    request = await ov.apply_for_org_verification(uow, user, org, data, is_region=regions.is_valid_region)
    return verification_out(request, org)


@api.get("/organisations/{slug}/verifications", response_model=list[acs.OrgVerificationOut])
async def api_org_verifications(slug: str, uow: Uow, user: CurrentUser) -> list[acs.OrgVerificationOut]:
    """The organisation's requests and decisions (its owners and platform admins)."""
    org = await org_or_404(uow, slug)
    await require_org_role(uow.session, user, org.id, Role.OWNER)
    rows, _total = await ov.list_org_verifications(uow.session, organisation_id=org.id, limit=100)
    return _outs(rows)


@api.get("/org-verifications", response_model=Page[acs.OrgVerificationOut])
async def api_org_verification_queue(
    uow: Uow, user: CurrentUser, status: OrgVerificationStatus | None = None, limit: Limit = 50, offset: Offset = 0
) -> Page[acs.OrgVerificationOut]:
    """Platform admins: organisation verification requests, newest first."""
    require_platform_admin(user)
    rows, total = await ov.list_org_verifications(uow.session, status=status, limit=limit, offset=offset)
    return Page(items=_outs(rows), total=total, limit=limit, offset=offset)


@api.post("/org-verifications/{request_id}/approve", response_model=acs.OrgVerificationOut)
async def api_approve(request_id: Id, data: acs.DecisionIn, uow: Uow, user: CurrentUser) -> acs.OrgVerificationOut:
    return await _decided(uow, await ov.approve_org_verification(uow, user, request_id, reason=data.reason))


@api.post("/org-verifications/{request_id}/reject", response_model=acs.OrgVerificationOut)
async def api_reject(request_id: Id, data: acs.DecisionIn, uow: Uow, user: CurrentUser) -> acs.OrgVerificationOut:
    return await _decided(uow, await ov.reject_org_verification(uow, user, request_id, reason=data.reason))


@api.post("/org-verifications/{request_id}/revoke", response_model=acs.OrgVerificationOut)
async def api_revoke(request_id: Id, data: acs.DecisionIn, uow: Uow, user: CurrentUser) -> acs.OrgVerificationOut:
    """Take an approval back: the organisation is unverified again and its inspections stop counting."""
    return await _decided(uow, await ov.revoke_org_verification(uow, user, request_id, reason=data.reason))


# == pages ========================================================================================


async def _verification_page(
    request: Request,
    uow: UnitOfWork,
    user: User,
    org: Organisation,
    form: Form[acs.OrgVerificationIn],
    status_code: int = 200,
) -> Response:
    rows, _total = await ov.list_org_verifications(uow.session, organisation_id=org.id, limit=20)
    return render(
        request,
        "accounts/org_verification.html",
        {
            "user": user,
            "org": org,
            "form": form,
            "claimed": org.kind in CLAIMED_KINDS,
            "requests": _outs(rows),
            "jurisdiction_name": regions.full_name(org.jurisdiction_code),
        },
        status_code=status_code,
    )


@pages.get("/orgs/{slug}/verification")
async def verification_page(slug: str, request: Request, uow: Uow, user: CurrentUser) -> Response:
    if user is None:
        return see_other(f"/signin?next=/orgs/{slug}/verification")
    org = await org_or_404(uow, slug)
    await require_org_role(uow.session, user, org.id, Role.OWNER)
    return await _verification_page(request, uow, user, org, Form())


@pages.post("/orgs/{slug}/verification")
async def verification_submit(slug: str, request: Request, uow: Uow, user: CurrentUser) -> Response:
    if user is None:
        return see_other(f"/signin?next=/orgs/{slug}/verification")
    org = await org_or_404(uow, slug)
    form = await read_form(request, acs.OrgVerificationIn)
    data = form.data
    if data is not None and await submit(
        uow,
        form,
        lambda: ov.apply_for_org_verification(uow, user, org, data, is_region=regions.is_valid_region),
        reraise=ACCESS_ERRORS,
    ):
        return see_other(f"/orgs/{slug}/verification")
    return await _verification_page(request, uow, user, org, form, status_code=422)


STATUSES = [s.value for s in OrgVerificationStatus]


@pages.get("/admin/org-verifications")
async def admin_queue(request: Request, uow: Uow, user: CurrentUser, status: str = "pending") -> Response:
    if user is None:
        return see_other("/signin?next=/admin/org-verifications")
    require_platform_admin(user)
    chosen = OrgVerificationStatus(status) if status in STATUSES else OrgVerificationStatus.PENDING
    rows, total = await ov.list_org_verifications(uow.session, status=chosen, limit=100)
    return _queue(request, user, _outs(rows), total, chosen.value, "")


def _queue(
    request: Request, user: User, items: list[acs.OrgVerificationOut], total: int, status: str, error: str
) -> Response:
    context: dict[str, Any] = {
        "user": user,
        "items": items,
        "total": total,
        "status": status,
        "statuses": STATUSES,
        "error": error,
    }
    return render(request, "accounts/org_verification_queue.html", context, status_code=422 if error else 200)


@pages.post("/admin/org-verifications/{request_id}/{decision}")
async def admin_decide(request_id: Id, decision: str, request: Request, uow: Uow, user: CurrentUser) -> Response:
    _raw, values = await read_raw_form(request)
    reason = values.get("reason", "")  # the actions check it, as for the API
    acts = {
        "approve": ov.approve_org_verification,
        "reject": ov.reject_org_verification,
        "revoke": ov.revoke_org_verification,
    }
    act = acts.get(decision)
    if act is None:
        raise NotFound(N_("There is nothing at this address."))
    form: Form[Any] = Form()
    if await submit(uow, form, lambda: act(uow, user, request_id, reason=reason), reraise=ACCESS_ERRORS):
        return see_other("/admin/org-verifications?status=" + ("pending" if decision != "revoke" else "revoked"))
    admin = require_platform_admin(user)
    rows, total = await ov.list_org_verifications(uow.session, status=OrgVerificationStatus.PENDING, limit=100)
    message = form.message or next(iter(form.errors.values()), "")
    return _queue(request, admin, _outs(rows), total, "pending", message)
