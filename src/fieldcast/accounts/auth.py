"""Who is asking: the signed-in user from a bearer token (API clients) or the signed session
cookie (browsers, room sockets), and starting and ending a browser session.

A session cookie carries a random session id. Signing out records that id as revoked (the
revoked_sessions table), so a copy of the cookie replayed later is anonymous although its
signature is still good; "sign out everywhere" and a password change bump the user's session
epoch, which ends every cookie at once."""

from __future__ import annotations

import secrets
from typing import Annotated, Protocol

import sqlalchemy as sa
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from fieldcast.accounts import actions as account_actions
from fieldcast.accounts.models import RevokedSession, User
from fieldcast.accounts.throttle import Throttles
from fieldcast.config import Settings
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import NotAuthenticated
from fieldcast.i18n import N_
from fieldcast.session_cookie import SESSION_EPOCH, SESSION_ID, SESSION_USER
from fieldcast.web.context import context_of
from fieldcast.web.deps import CSRF_HEADER, UNSAFE_METHODS, Uow, check_csrf, csrf_token


class AccountServices(Protocol):
    """What sign-in needs of the process (the composition root's context)."""

    settings: Settings
    throttles: Throttles

    def uow(self, *, write: bool = True) -> UnitOfWork: ...


def throttles(request: Request) -> Throttles:
    ctx: AccountServices = context_of(request)
    return ctx.throttles


Throttle = Annotated[Throttles, Depends(throttles)]


def reader(request: Request) -> account_actions.Reader:
    """Short read-only units of work, apart from the request's own (see `authenticate`)."""
    ctx: AccountServices = context_of(request)
    return lambda: ctx.uow(write=False)


Reader = Annotated[account_actions.Reader, Depends(reader)]


def client_address(request: HTTPConnection) -> str:
    """The client's address for per-address throttles. Behind nginx this is the real client:
    `fieldcast serve` runs uvicorn with proxy_headers, which takes X-Forwarded-For from the
    proxies it trusts (FORWARDED_ALLOW_IPS, 127.0.0.1 by default) and from nobody else."""
    return request.client.host if request.client else ""


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
    uid, session_id = conn.session.get(SESSION_USER), conn.session.get(SESSION_ID)
    if uid is None:
        return None
    user = None
    if isinstance(session_id, str):
        try:
            # One query: the user, unless this session was signed out.
            user = await session.scalar(
                sa.select(User).where(
                    User.id == int(uid),
                    ~sa.exists().where(RevokedSession.id == account_actions.session_id_hash(session_id)),
                )
            )
        except (TypeError, ValueError):
            user = None
    if user is None or not user.is_active or user.session_epoch != conn.session.get(SESSION_EPOCH):
        conn.session.pop(SESSION_USER, None)
        return None
    return user


def sign_in_session(request: Request, user: User) -> None:
    """Start a fresh session (new id, new CSRF token) for the user: no session fixation."""
    request.session.clear()
    request.session[SESSION_USER] = user.id
    request.session[SESSION_EPOCH] = user.session_epoch
    request.session[SESSION_ID] = secrets.token_urlsafe(18)
    csrf_token(request)


async def sign_out_session(request: Request, uow: UnitOfWork) -> None:
    """End this browser's session, on the server too: its cookie is dead even if copied."""
    uid, session_id = request.session.get(SESSION_USER), request.session.get(SESSION_ID)
    if isinstance(uid, int) and isinstance(session_id, str):
        ctx: AccountServices = context_of(request)
        await account_actions.end_session(uow, uid, session_id, max_age_s=ctx.settings.session_max_age_s)
    request.session.clear()
