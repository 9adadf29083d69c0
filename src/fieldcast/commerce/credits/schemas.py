"""API shapes of credits. Money is integer fen; times are UTC (ISO 8601 with an offset)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from fieldcast.commerce.credits import models as m
from fieldcast.inputs import Id
from fieldcast.web.api import In, Out, text


class CreditIn(In):
    user_id: Id = Field(description="The person credited (a host or anyone else).")
    session_id: Id | None = Field(None, description="The organisation's show it was for, if any.")
    kind: m.CreditKind = Field(description="commission, payout or gift.")
    amount_fen: Annotated[int, Field(gt=0, le=m.AMOUNT_MAX_FEN)]
    note: text(0, m.NOTE_MAX) = ""  # type: ignore[valid-type]


class CreditOut(Out):
    id: int
    organisation_id: int
    session_id: int | None
    user_id: int
    user_name: str = ""
    kind: m.CreditKind
    amount_fen: int
    note: str
    created_by_id: int | None
    created_at: datetime
