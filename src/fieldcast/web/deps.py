"""Request dependencies shared by every capability: the unit of work and CSRF."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request

from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import NotAllowed
from fieldcast.i18n import N_
from fieldcast.session_cookie import SESSION_CSRF
from fieldcast.web.context import Services, services
from fieldcast.web.page_cache import BUILD, CSRF_MARKER

CSRF_FORM_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Where the idempotency middleware leaves the unit of work it owns for a keyed request.
STATE_UOW = "fc_uow"


class CsrfFailed(NotAllowed):
    code = "csrf_failed"


async def get_uow(request: Request) -> AsyncIterator[UnitOfWork]:
    """One transaction per request, committed before the response is sent (scope='function'),
    rolled back when the handler raises. A request with an Idempotency-Key runs in the unit of
    work its middleware opened: the key and the response commit with the write, there."""
    owned: UnitOfWork | None = request.scope.get("state", {}).get(STATE_UOW)
    if owned is not None:
        try:
            yield owned
        except BaseException:
            await owned.rollback()
            raise
        return
    async with services(request).uow(write=request.method in UNSAFE_METHODS) as uow:
        yield uow


Uow = Annotated[UnitOfWork, Depends(get_uow, scope="function")]
Ctx = Annotated[Services, Depends(services)]


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use. A page built for the page cache gets a
    marker instead, replaced by each visitor's own token when served (web/page_cache.py)."""
    if BUILD in request.scope:
        return CSRF_MARKER
    token = request.session.get(SESSION_CSRF)
    if not token:
        token = secrets.token_urlsafe(24)
        request.session[SESSION_CSRF] = token
    return str(token)


def check_csrf(request: Request, submitted: str | None) -> None:
    expected = request.session.get(SESSION_CSRF)
    if not expected or not submitted or not hmac.compare_digest(str(expected), submitted):
        raise CsrfFailed(N_("This form has expired or did not come from this site. Please try again."))
