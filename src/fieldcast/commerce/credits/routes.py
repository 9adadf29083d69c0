"""Credits over HTTP (JSON under /api/v1): record one for an organisation and list its credits.
Thin: parse, call one action or query, answer. The write takes an Idempotency-Key
(web/idempotency.py): a retried request answers the first one and writes nothing again."""

from __future__ import annotations

from fastapi import APIRouter

from fieldcast.accounts.auth import CurrentUser
from fieldcast.accounts.models import User
from fieldcast.accounts.routes import org_or_404
from fieldcast.commerce.credits import actions as a
from fieldcast.commerce.credits import queries as q
from fieldcast.commerce.credits import schemas as s
from fieldcast.web.api import PROBLEMS, Limit, Offset, Page
from fieldcast.web.deps import Uow

api = APIRouter(prefix="/api/v1", responses=PROBLEMS, tags=["credits"])


@api.post("/organisations/{slug}/credits", response_model=s.CreditOut, status_code=201)
async def api_record_credit(slug: str, data: s.CreditIn, uow: Uow, user: CurrentUser) -> s.CreditOut:
    """Record what the organisation credited to a person (commission, payout or gift): its owners
    and organisers. Never refused for an official; integrity flags it."""
    org = await org_or_404(uow, slug)
    credit = await a.record_credit(uow, user, org, data)
    person = await uow.session.get(User, credit.user_id)
    return q.credit_out(credit, person.display_name if person else "")


@api.get("/organisations/{slug}/credits", response_model=Page[s.CreditOut])
async def api_organisation_credits(
    slug: str, uow: Uow, user: CurrentUser, limit: Limit = 50, offset: Offset = 0
) -> Page[s.CreditOut]:
    org = await org_or_404(uow, slug)
    items, total = await q.organisation_credits(uow.session, user, org, limit=limit, offset=offset)
    return Page(items=items, total=total, limit=limit, offset=offset)
