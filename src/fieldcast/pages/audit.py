"""The audit log's published day heads (db/audit_chain.py): `GET /api/v1/audit/heads` and the
public page `/audit`. Anyone may read them and keep a copy; a later `fieldcast audit verify` or a
comparison with a kept copy shows whether the log was rewritten since."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from fieldcast.db.audit import list_heads
from fieldcast.db.audit_chain import GENESIS, chain_day
from fieldcast.errors import Invalid
from fieldcast.i18n import N_
from fieldcast.web.api import PROBLEMS, Out
from fieldcast.web.deps import Uow
from fieldcast.web.templating import render

api = APIRouter(prefix="/api/v1/audit", responses=PROBLEMS, tags=["audit"])
pages = APIRouter()

HEADS_DEFAULT_DAYS = 30
HEADS_MAX_DAYS = 366
PAGE_DAYS = 14


class HeadOut(Out):
    day: date
    head_hash: str
    entries: int


class HeadsOut(Out):
    timezone: str
    genesis: str
    items: list[HeadOut]


def _range(first: date | None, last: date | None) -> tuple[date, date]:
    last = last or chain_day(datetime.now(UTC))
    first = first or last - timedelta(days=HEADS_DEFAULT_DAYS - 1)
    if first > last:
        raise Invalid(N_("The first day must not be after the last."), field="from")
    if (last - first).days >= HEADS_MAX_DAYS:
        raise Invalid(N_("Ask for at most %(days)s days at a time."), field="to", days=HEADS_MAX_DAYS)
    return first, last


@api.get("/heads", response_model=HeadsOut)
async def audit_heads(
    uow: Uow,
    first: Annotated[date | None, Query(alias="from", description="First Beijing day (YYYY-MM-DD).")] = None,
    last: Annotated[
        date | None, Query(alias="to", description="Last Beijing day (YYYY-MM-DD), today by default.")
    ] = None,
) -> HeadsOut:
    """Each Beijing day's head hash and entry count (days without entries are absent), oldest first."""
    first, last = _range(first, last)
    heads = await list_heads(uow.session, first=first, last=last)
    return HeadsOut(
        timezone="Asia/Shanghai",
        genesis=GENESIS,
        items=[HeadOut.model_validate(h) for h in heads],
    )


@pages.get("/audit", include_in_schema=False)
async def audit_page(request: Request, uow: Uow) -> Response:
    last = chain_day(datetime.now(UTC))
    heads = await list_heads(uow.session, first=last - timedelta(days=PAGE_DAYS - 1), last=last)
    return render(request, "audit.html", {"heads": list(reversed(heads)), "days": PAGE_DAYS})
