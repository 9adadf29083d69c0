"""The public ledger of a show (/live/<id>/ledger): anyone may open it, signed in or not."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from fieldcast.inputs import Id
from fieldcast.integrity.actions import session_or_404
from fieldcast.integrity.ledger import ledger
from fieldcast.web.deps import Uow
from fieldcast.web.templating import render

pages = APIRouter(include_in_schema=False)


@pages.get("/live/{session_id}/ledger")
async def ledger_page(session_id: Id, request: Request, uow: Uow) -> Response:
    live = await session_or_404(uow, session_id)
    return render(request, "integrity/ledger.html", {"l": await ledger(uow.session, live)})
