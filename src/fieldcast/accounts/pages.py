"""Accounts as HTML pages: sign-up/in, my account, verification, admin queue, organisations."""

from __future__ import annotations

from typing import Any

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
    HostKind,
    Organisation,
    OrgKind,
    Role,
    User,
)
from fieldcast.accounts.permissions import require_org_role, require_platform_admin
from fieldcast.accounts.routes import org_or_404
from fieldcast.db import audit as audit_queries
from fieldcast.db.base import utcnow
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import NotFound
from fieldcast.i18n import N_, gettext
from fieldcast.inputs import Id
from fieldcast.web.api import Offset
from fieldcast.web.deps import Ctx, Uow
from fieldcast.web.forms import Form, check_form_csrf, read_form, read_raw_form, safe_next, see_other, submit
from fieldcast.web.templating import render

pages = APIRouter(include_in_schema=False)

# The shows a host hosts (pages.room serves it; accounts only links there).
MY_SHOWS = "/me/shows"


def _sign_in_first(request: Request) -> Response:
    return see_other(f"/signin?next={request.url.path}")


@pages.get("/signup")
async def signup_page(request: Request, user: CurrentUser) -> Response:
    return render(request, "accounts/signup.html", {"form": Form(), "user": user})


@pages.post("/signup")
async def signup_submit(request: Request, uow: Uow, throttle: Throttle) -> Response:
    form = await read_form(request, s.SignUpIn, secret_fields=("password",))
    data = form.data
    address = client_address(request)
    if data is not None and (
        done := await submit(
            uow, form, lambda: a.sign_up(uow, data, throttle=throttle.sign_up_address, address=address)
        )
    ):
        sign_in_session(request, done.value)
        return see_other("/account")
    return render(request, "accounts/signup.html", {"form": form}, status_code=422)


@pages.get("/signin")
async def signin_page(request: Request, user: CurrentUser, next: str | None = None) -> Response:
    return render(request, "accounts/signin.html", {"form": Form(), "next": safe_next(next, ""), "user": user})


@pages.post("/signin")
async def signin_submit(request: Request, uow: Uow, throttle: Throttle, reader: Reader) -> Response:
    form = await read_form(request, s.SignInIn, secret_fields=("password",))
    # An explicit `next` wins; without one a host lands on their shows, anyone else on the account.
    next_path = safe_next(form.values.get("next"), "")
    data, address = form.data, client_address(request)
    if data is not None and (
        done := await submit(uow, form, lambda: a.authenticate(uow, data, throttle, address, reader=reader))
    ):
        sign_in_session(request, done.value)
        if not next_path:
            next_path = MY_SHOWS if await q.is_host(uow.session, done.value.id) else "/account"
        return see_other(next_path)
    return render(request, "accounts/signin.html", {"form": form, "next": next_path}, status_code=422)


@pages.post("/signout")
async def signout_submit(request: Request, uow: Uow) -> Response:
    await check_form_csrf(request)
    await sign_out_session(request, uow)
    return see_other("/")


@pages.get("/account")
async def account_page(request: Request, uow: Uow, user: CurrentUser) -> Response:
    if user is None:
        return _sign_in_first(request)
    return await _account(request, uow, user)


async def _account(
    request: Request,
    uow: UnitOfWork,
    user: User,
    *,
    new_token: str | None = None,
    token_form: Form[s.TokenIn] | None = None,
    password_form: Form[s.PasswordChangeIn] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    me = await q.user_out(uow.session, user)
    verifications, _ = await q.list_verifications(uow.session, user_id=user.id, limit=10)
    valid_until = me.badges.valid_until if me.badges.verified else None
    return render(
        request,
        "accounts/account.html",
        {
            "user": user,
            "me": me,
            "verifications": verifications,
            # A verified host sees their verification, and a way to renew it only once they may.
            "may_apply": valid_until is None or valid_until - a.RENEWAL_WINDOW <= utcnow(),
            "is_host": await q.is_host(uow.session, user.id),
            "tokens": await q.list_tokens(uow.session, user.id),
            "memberships": await q.memberships_of(uow.session, user.id),
            "new_token": new_token,
            "token_form": token_form or Form(),
            "password_form": password_form or Form(),
            "notice": notice,
        },
        status_code=status_code,
    )


@pages.post("/account/tokens")
async def account_create_token(request: Request, uow: Uow, user: CurrentUser) -> Response:
    if user is None:
        return _sign_in_first(request)
    form = await read_form(request, s.TokenIn)
    data = form.data
    if data is not None and (done := await submit(uow, form, lambda: a.create_api_token(uow, user, data.name))):
        _row, token = done.value
        return await _account(request, uow, user, new_token=token)
    return await _account(request, uow, user, token_form=form, status_code=422)


@pages.post("/account/password")
async def account_change_password(request: Request, uow: Uow, user: CurrentUser) -> Response:
    if user is None:
        return _sign_in_first(request)
    form = await read_form(request, s.PasswordChangeIn, secret_fields=("current_password", "new_password"))
    data = form.data
    if data is not None and (done := await submit(uow, form, lambda: a.change_password(uow, user, data))):
        sign_in_session(request, done.value)
        return await _account(request, uow, done.value, notice=gettext(N_("Your password was changed.")))
    return await _account(request, uow, user, password_form=form, status_code=422)


@pages.post("/account/signout-everywhere")
async def account_sign_out_everywhere(request: Request, uow: Uow, user: CurrentUser) -> Response:
    await check_form_csrf(request)
    await a.sign_out_everywhere(uow, user)
    await sign_out_session(request, uow)
    return see_other("/signin")


@pages.post("/account/tokens/{token_id}/revoke")
async def account_revoke_token(token_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    await check_form_csrf(request)
    await a.revoke_api_token(uow, user, token_id)
    return see_other("/account")


@pages.get("/account/verification")
async def verification_page(request: Request, uow: Uow, user: CurrentUser) -> Response:
    if user is None:
        return _sign_in_first(request)
    return render(request, "accounts/verification.html", _verification_context(user, Form()))


def _verification_context(user: User, form: Form[s.VerificationIn]) -> dict[str, object]:
    return {"user": user, "form": form, "host_kinds": list(HostKind)}


@pages.post("/account/verification")
async def verification_submit(request: Request, uow: Uow, ctx: Ctx, user: CurrentUser) -> Response:
    if user is None:
        return _sign_in_first(request)
    form = await read_form(request, s.VerificationIn, secret_fields=("id_number",))
    key = ctx.settings.resolved_secret_key
    data = form.data
    if data is not None and await submit(uow, form, lambda: a.apply_for_verification(uow, user, data, id_hash_key=key)):
        return see_other("/account")
    return render(request, "accounts/verification.html", _verification_context(user, form), status_code=422)


@pages.get("/admin/verifications")
async def admin_queue(
    request: Request,
    uow: Uow,
    user: CurrentUser,
    status: str = Query("pending", pattern="^(pending|approved|rejected|withdrawn|expired)$"),
) -> Response:
    if user is None:
        return _sign_in_first(request)
    require_platform_admin(user)
    items, total = await q.list_verifications(uow.session, status=status, limit=100)
    return render(
        request,
        "accounts/admin_queue.html",
        {
            "user": user,
            "items": items,
            "total": total,
            "status": status,
            "statuses": ["pending", "approved", "rejected", "expired"],
        },
    )


@pages.post("/admin/verifications/{request_id}/{decision}")
async def admin_decide(
    request_id: Id, decision: str, request: Request, uow: Uow, ctx: Ctx, user: CurrentUser
) -> Response:
    _raw, values = await read_raw_form(request)
    reason = values.get("reason", "")  # the actions check it, as for the API
    if decision == "approve":
        await a.approve_verification(
            uow, user, request_id, reason=reason, valid_days=ctx.settings.verification_valid_days
        )
    elif decision == "reject":
        await a.reject_verification(uow, user, request_id, reason=reason)
    else:
        raise NotFound(N_("There is nothing at this address."))
    return see_other("/admin/verifications")


@pages.get("/admin/audit")
async def admin_audit(request: Request, uow: Uow, user: CurrentUser, offset: Offset = 0) -> Response:
    if user is None:
        return _sign_in_first(request)
    require_platform_admin(user)
    rows = await audit_queries.list_audit(uow.session, limit=100, offset=offset)
    return render(request, "accounts/audit.html", {"user": user, "rows": rows, "offset": offset})


@pages.get("/hosts")
async def hosts_page(request: Request, uow: Uow, user: CurrentUser, offset: Offset = 0) -> Response:
    hosts, total = await q.list_verified_hosts(uow.session, limit=50, offset=offset)
    return render(request, "accounts/hosts.html", {"user": user, "hosts": hosts, "total": total})


@pages.get("/orgs")
async def orgs_page(request: Request, uow: Uow, user: CurrentUser, offset: Offset = 0) -> Response:
    orgs, total = await q.list_organisations(uow.session, limit=50, offset=offset)
    return render(request, "accounts/orgs.html", {"user": user, "orgs": orgs, "total": total})


@pages.get("/orgs/new")
async def org_new_page(request: Request, user: CurrentUser) -> Response:
    if user is None:
        return _sign_in_first(request)
    return render(
        request, "accounts/org_form.html", {"user": user, "form": Form(), "kinds": list(OrgKind), "org": None}
    )


@pages.post("/orgs/new")
async def org_new_submit(request: Request, uow: Uow, user: CurrentUser, throttle: Throttle) -> Response:
    if user is None:
        return _sign_in_first(request)
    form = await read_form(request, s.OrganisationIn)
    data = form.data
    limit, address = throttle.organisation_address, client_address(request)
    if data is not None and (
        done := await submit(uow, form, lambda: a.create_organisation(uow, user, data, throttle=limit, address=address))
    ):
        return see_other(f"/orgs/{done.value.slug}")
    return render(
        request,
        "accounts/org_form.html",
        {"user": user, "form": form, "kinds": list(OrgKind), "org": None},
        status_code=422,
    )


@pages.get("/orgs/{slug}")
async def org_page(slug: str, request: Request, uow: Uow, user: CurrentUser) -> Response:
    return await _org_page(request, uow, user, await org_or_404(uow, slug))


async def _org_page(
    request: Request,
    uow: UnitOfWork,
    user: User | None,
    org: Organisation,
    *,
    invite_form: Form[s.InvitationIn] | None = None,
    new_invitation: str | None = None,
    status_code: int = 200,
) -> Response:
    my_roles = await q.roles_in_org(uow.session, user.id, org.id) if user else set()
    can_manage = bool(user and (user.is_platform_admin or my_roles & {Role.OWNER, Role.ORGANISER}))
    return render(
        request,
        "accounts/org.html",
        {
            "user": user,
            "org": org,
            "members": await q.list_members(uow.session, org.id),
            "my_roles": my_roles,
            "can_manage": can_manage,
            "can_edit": bool(user and (user.is_platform_admin or Role.OWNER in my_roles)),
            "invitations": await q.list_invitations(uow.session, org.id) if can_manage else [],
            "invite_form": invite_form or Form(),
            "new_invitation": new_invitation,
            "roles": list(Role),
        },
        status_code=status_code,
    )


@pages.get("/orgs/{slug}/edit")
async def org_edit_page(slug: str, request: Request, uow: Uow, user: CurrentUser) -> Response:
    if user is None:
        return _sign_in_first(request)
    org = await org_or_404(uow, slug)
    await require_org_role(uow.session, user, org.id, Role.OWNER)
    values = {"name": org.name, "kind": org.kind.value, "region": org.region, "description": org.description}
    return render(
        request,
        "accounts/org_form.html",
        {"user": user, "form": Form(values=values), "kinds": list(OrgKind), "org": org},
    )


@pages.post("/orgs/{slug}/edit")
async def org_edit_submit(slug: str, request: Request, uow: Uow, user: CurrentUser) -> Response:
    org = await org_or_404(uow, slug)
    form = await read_form(request, s.OrganisationPatch)
    data = form.data
    if data is not None and await submit(uow, form, lambda: a.update_organisation(uow, user, org, data)):
        return see_other(f"/orgs/{org.slug}")
    return render(
        request,
        "accounts/org_form.html",
        {"user": user, "form": form, "kinds": list(OrgKind), "org": org},
        status_code=422,
    )


@pages.post("/orgs/{slug}/invitations")
async def org_invite_submit(slug: str, request: Request, uow: Uow, ctx: Ctx, user: CurrentUser) -> Response:
    org = await org_or_404(uow, slug)
    form = await read_form(request, s.InvitationIn)
    days = ctx.settings.invitation_valid_days
    data = form.data
    if data is not None and (
        done := await submit(uow, form, lambda: a.invite_member(uow, user, org, data, valid_days=days))
    ):
        _inv, token = done.value
        return await _org_page(request, uow, user, org, new_invitation=f"/invitations/{token}")
    return await _org_page(request, uow, user, org, invite_form=form, status_code=422)


@pages.post("/orgs/{slug}/invitations/{invitation_id}/revoke")
async def org_revoke_invitation(
    slug: str, invitation_id: Id, request: Request, uow: Uow, user: CurrentUser
) -> Response:
    await check_form_csrf(request)
    await a.revoke_invitation(uow, user, await org_or_404(uow, slug), invitation_id)
    return see_other(f"/orgs/{slug}")


@pages.post("/orgs/{slug}/members/{user_id}/roles/{role}/remove")
async def org_remove_role(
    slug: str, user_id: Id, role: Role, request: Request, uow: Uow, user: CurrentUser
) -> Response:
    await check_form_csrf(request)
    await a.remove_member_role(uow, user, await org_or_404(uow, slug), user_id, role)
    return see_other(f"/orgs/{slug}")


@pages.get("/invitations/{token}")
async def invitation_page(token: str, request: Request, user: CurrentUser) -> Response:
    if user is None:
        return _sign_in_first(request)
    return render(request, "accounts/invitation.html", {"user": user, "token": token, "error": None})


@pages.post("/invitations/{token}")
async def invitation_accept(token: str, request: Request, uow: Uow, user: CurrentUser) -> Response:
    await check_form_csrf(request)
    form: Form[Any] = Form()
    done = await submit(uow, form, lambda: a.accept_invitation(uow, user, token))
    if done is None:
        return render(
            request,
            "accounts/invitation.html",
            {"user": user, "token": token, "error": form.message or next(iter(form.errors.values()), "")},
            status_code=form.error.status if form.error else 422,
        )
    org = await uow.session.get(Organisation, done.value.organisation_id)
    return see_other(f"/orgs/{org.slug}" if org else "/account")
