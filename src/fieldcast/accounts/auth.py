"""Who is asking: the signed-in user from a bearer token (API clients) or the signed session
cookie (browsers, room sockets), and starting and ending a browser session."""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from fieldcast.accounts import actions as account_actions
from fieldcast.accounts.models import User
from fieldcast.accounts.throttle import SignInThrottle
from fieldcast.errors import NotAuthenticated
from fieldcast.i18n import N_
from fieldcast.session_cookie import SESSION_EPOCH, SESSION_USER
from fieldcast.web.context import context_of
from fieldcast.web.deps import CSRF_HEADER, UNSAFE_METHODS, Uow, check_csrf, csrf_token


class AccountServices(Protocol):
    """What sign-in needs of the process (the composition root's context)."""

    sign_in_throttle: SignInThrottle


def sign_in_throttle(request: Request) -> SignInThrottle:
    ctx: AccountServices = context_of(request)
    return ctx.sign_in_throttle


Throttle = Annotated[SignInThrottle, Depends(sign_in_throttle)]

bearer_scheme = HTTPBearer(auto_error=False, description="API token from /api/v1/me/tokens")


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
