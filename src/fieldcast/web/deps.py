"""Request dependencies: the unit of work, the signed-in user (cookie or bearer), CSRF."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from fieldcast.accounts import actions as account_actions
from fieldcast.accounts.models import User
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import DomainError, NotAllowed, NotAuthenticated
from fieldcast.i18n import N_
from fieldcast.live import queries as live_queries
from fieldcast.web.context import AppContext, app_context

SESSION_COOKIE = "fc_session"  # the signed session cookie (Starlette SessionMiddleware)
SESSION_USER = "uid"
SESSION_EPOCH = "ep"
SESSION_CSRF = "csrf"
CSRF_FORM_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

bearer_scheme = HTTPBearer(auto_error=False, description="API token from /api/v1/me/tokens")


class CsrfFailed(NotAllowed):
    code = "csrf_failed"


async def get_uow(request: Request) -> AsyncIterator[UnitOfWork]:
    """One transaction per request, committed before the response is sent (scope='function'),
    rolled back when the handler raises."""
    async with app_context(request).uow() as uow:
        yield uow


Uow = Annotated[UnitOfWork, Depends(get_uow, scope="function")]
Ctx = Annotated[AppContext, Depends(app_context)]


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use."""
    token = request.session.get(SESSION_CSRF)
    if not token:
        token = secrets.token_urlsafe(24)
        request.session[SESSION_CSRF] = token
    return str(token)


def check_csrf(request: Request, submitted: str | None) -> None:
    expected = request.session.get(SESSION_CSRF)
    if not expected or not submitted or not hmac.compare_digest(str(expected), submitted):
        raise CsrfFailed(N_("This form has expired or did not come from this site. Please try again."))


async def current_user(
    request: Request,
    uow: Uow,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> User | None:
    """Bearer token first (API clients), else the signed session cookie (browsers).

    Cookie-authenticated API writes must carry the CSRF token in X-CSRF-Token."""
    if credentials is not None:
        user = await account_actions.user_for_token(uow, credentials.credentials)
        if user is None:
            raise NotAuthenticated(N_("This API token is not valid or has been revoked."))
        request.state.auth = "token"
        request.state.user = user
        return user
    user = await session_cookie_user(request, uow.session)
    if user is None:
        return None
    request.state.auth = "cookie"
    if request.method in UNSAFE_METHODS and request.url.path.startswith("/api/"):
        check_csrf(request, request.headers.get(CSRF_HEADER))
    elif request.method == "GET" and not request.url.path.startswith("/api/"):
        # The bell in the page header: one indexed count per page view, none for API calls.
        request.state.unread_notifications = await live_queries.unread_count(uow.session, user.id)
    return user


CurrentUser = Annotated[User | None, Depends(current_user)]


async def session_cookie_user(conn: HTTPConnection, session: AsyncSession) -> User | None:
    """The user of the signed session cookie (pages, API and WebSockets alike). A cookie from
    before a sign-out-everywhere or a password change (older epoch) no longer counts."""
    uid = conn.session.get(SESSION_USER)
    if uid is None:
        return None
    try:
        user = await session.get(User, int(uid))
    except (TypeError, ValueError):
        user = None
    if user is None or not user.is_active or user.session_epoch != conn.session.get(SESSION_EPOCH):
        conn.session.pop(SESSION_USER, None)
        return None
    return user


def sign_in_session(request: Request, user: User) -> None:
    """Start a fresh session (new CSRF token) for the user: no session fixation."""
    request.session.clear()
    request.session[SESSION_USER] = user.id
    request.session[SESSION_EPOCH] = user.session_epoch
    csrf_token(request)


def sign_out_session(request: Request) -> None:
    request.session.clear()


async def rollback_on(uow: UnitOfWork, exc: DomainError) -> DomainError:
    """Forms that catch a domain error to re-render must not commit a half-done change."""
    await uow.rollback()
    return exc
