"""Reads of credits: an organisation's, newest first, for the same people who record them."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.accounts.models import Organisation, User
from fieldcast.accounts.permissions import require_org_role
from fieldcast.commerce.credits import schemas as s
from fieldcast.commerce.credits.actions import RECORDERS
from fieldcast.commerce.credits.models import HostCredit


def credit_out(credit: HostCredit, user_name: str = "") -> s.CreditOut:
    return s.CreditOut.model_validate(credit).model_copy(update={"user_name": user_name})


async def organisation_credits(
    session: AsyncSession, actor: User | None, org: Organisation, *, limit: int, offset: int
) -> tuple[list[s.CreditOut], int]:
    await require_org_role(session, actor, org.id, *RECORDERS)
    where = HostCredit.organisation_id == org.id
    total = await session.scalar(sa.select(sa.func.count(HostCredit.id)).where(where))
    rows = (
        await session.execute(
            sa.select(HostCredit, User.display_name)
            .join(User, User.id == HostCredit.user_id)
            .where(where)
            .order_by(HostCredit.id.desc())
            .limit(limit)
            .offset(offset)
        )
    ).all()
    return [credit_out(c, name) for c, name in rows], int(total or 0)
