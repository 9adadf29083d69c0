"""API shapes of room chat."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from fieldcast.chat import models as m
from fieldcast.inputs import CLEAN_TEXT, Id
from fieldcast.web.api import In, Out, text

# Chat bodies are flattened to one line and length-checked by the action (explicit limit, field
# "body"); the schema bounds what a request may carry and refuses unsafe text (inputs.clean_text).
BODY_INPUT_MAX = 2000


class ChatIn(In):
    body: Annotated[str, Field(max_length=BODY_INPUT_MAX), CLEAN_TEXT]


class ClaimWarning(BaseModel):
    """A phrase in the host's message that the Advertising Law forbids (the message was posted)."""

    term: str
    rule: str
    article: str
    suggestion: str


class ChatMessageOut(BaseModel):
    """A comment as stored. `body` is plain text (render it as text, never as HTML); None when
    the comment was removed and the reader is not a moderator."""

    id: int
    session_id: int
    user_id: int | None
    display_name: str
    body: str | None
    is_host: bool
    offset_s: float | None
    created_at: datetime
    removed: bool = False
    removed_at: datetime | None = None
    removal_reason: str = ""


class ChatPostedOut(ChatMessageOut):
    """The posted comment, with claim-checker warnings for hosts (empty for viewers)."""

    warnings: list[ClaimWarning] = []


class ChatHistory(BaseModel):
    items: list[ChatMessageOut]
    # Pass as after_id to read on; None when this page reached the end.
    next_after_id: int | None


class RemoveIn(In):
    reason: text(1, m.REASON_MAX)  # type: ignore[valid-type]


class MuteIn(In):
    user_id: Id
    reason: text(1, m.REASON_MAX)  # type: ignore[valid-type]
    # None: for the rest of the show (platform-wide: until lifted).
    minutes: Annotated[int, Field(ge=1, le=m.MUTE_MAX_MINUTES)] | None = None


class MuteOut(Out):
    id: int
    session_id: int | None
    user_id: int
    muted_by_id: int | None
    reason: str
    until: datetime | None
    created_at: datetime
    lifted_at: datetime | None


class BannedWordIn(In):
    word: text(1, m.WORD_MAX)  # type: ignore[valid-type]
    # None: the platform list (platform admins only).
    organisation_id: Id | None = None


class BannedWordOut(Out):
    id: int
    organisation_id: int | None
    word: str
    created_at: datetime


class ModerationEntryOut(BaseModel):
    """One moderation step from the audit log: who removed or muted what, when and why."""

    id: int
    at: datetime
    actor_id: int | None
    action: str
    reason: str
    details: dict[str, object]
