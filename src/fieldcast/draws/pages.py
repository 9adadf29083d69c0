"""The page that lets anyone check a lucky draw in their own browser.

The page only shows what the public API already publishes; static/draw_verify.js fetches the draw
and its entrant list and recomputes the winners with Web Crypto, exactly as draws/verify.py does.
scripts/verify_draw.py stays the tool for experts (named in the page's small print)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from fieldcast.draws import queries as q
from fieldcast.errors import NotFound
from fieldcast.i18n import N_
from fieldcast.inputs import Id
from fieldcast.web.deps import Uow
from fieldcast.web.templating import render

pages = APIRouter(include_in_schema=False)


@pages.get("/draws/{draw_id}/verify")
async def verify_draw_page(draw_id: Id, request: Request, uow: Uow) -> Response:
    draw = await q.load_draw(uow.session, draw_id)
    if draw is None:
        raise NotFound(N_("No such draw."))
    return render(
        request,
        "draws/verify.html",
        {
            "d": await q.draw_out(uow.session, draw),
            "site_url": str(request.base_url).rstrip("/"),
        },
    )
