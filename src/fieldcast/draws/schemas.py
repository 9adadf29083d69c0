"""API shapes of lucky draws. The seed appears only in DrawOut, and only once it may be public."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from fieldcast.draws import models as m
from fieldcast.inputs import BIGINT_MAX
from fieldcast.web.api import In, text


class DrawIn(In):
    prize_title: text(2, m.PRIZE_TITLE_MAX, one_line=True)  # type: ignore[valid-type]
    # Declared value in fen; the cap (50,000 yuan) is checked by the action with its own message.
    prize_value_fen: Annotated[int, Field(ge=1, le=BIGINT_MAX)]
    winners_count: Annotated[int, Field(ge=1, le=m.MAX_WINNERS)]
    entry_rule: m.EntryRule
    # Required for the keyword rule; ignored for presence draws.
    keyword: text(0, m.KEYWORD_MAX, one_line=True) = ""  # type: ignore[valid-type]
    # How the prize reaches the winners, who pays postage, anything else the public should know.
    terms: text(0, m.TERMS_MAX) = ""  # type: ignore[valid-type]
    # Prize, keyword and terms go through the claim checker; flagged wording needs a written reason (audited).
    claims_override_reason: text(0, m.REASON_MAX) = ""  # type: ignore[valid-type]


class OpenIn(In):
    # Optional entry window: entries close this many seconds after opening, and the host cannot
    # draw before then. Without it, entries stay open until the host draws.
    duration_s: Annotated[int, Field(ge=10, le=3600)] | None = None


class CancelIn(In):
    # Shown in the room. How short or long it may be is the action's rule (cancel_draw), so the API
    # and the console answer alike; the bound here is the same constant, for the schema's readers.
    reason: text(0, m.REASON_MAX)  # type: ignore[valid-type]


class WinnerOut(BaseModel):
    rank: int
    user_id: int
    label: str


class DrawOut(BaseModel):
    """The public view of a draw: terms, state, the seed's hash once open, the seed itself only
    once drawn (or cancelled after opening), the entrant count and the winners."""

    id: int
    session_id: int
    prize_title: str
    prize_value_fen: int
    winners_count: int
    entry_rule: m.EntryRule
    keyword: str
    terms: str
    state: m.DrawState
    seed_hash: str | None
    seed: str | None
    created_at: datetime
    opened_at: datetime | None
    closes_at: datetime | None
    drawn_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str
    entrant_count: int
    winners: list[WinnerOut]
    entrants_url: str
    algorithm: str = "hmac-sha256-v1"


class EntrantOut(BaseModel):
    user_id: int
    label: str
    entered_at: datetime


class EntrantList(BaseModel):
    """The published entrant list, ascending by user id: the order the winner algorithm uses."""

    draw_id: int
    state: m.DrawState
    count: int
    entrants: list[EntrantOut]


class EnterOut(BaseModel):
    draw_id: int
    # False when this person had already entered: entering twice changes nothing.
    created: bool
    label: str
