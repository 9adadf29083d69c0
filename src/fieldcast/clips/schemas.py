"""API shapes of clips: what an operator asks for, a clip as anyone sees it, and its figures
(views, orders, paid GMV) as its organisation sees them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from fieldcast.clips import models as m
from fieldcast.inputs import Id
from fieldcast.web.api import In, text


class ClipIn(In):
    """Between two points of the replay (start_s and end_s, e.g. read from the player), or around
    an "explaining now" mark (mark_id: from a little before it to a set length after it).
    The product is the one pinned then unless sku_id names another of the show's shelf."""

    start_s: float | None = Field(default=None, ge=0, le=86400, description="Seconds into the replay.")
    end_s: float | None = Field(default=None, ge=0, le=86400, description="Seconds into the replay.")
    mark_id: Id | None = Field(default=None, description="Cut around this mark instead of start_s/end_s.")
    sku_id: Id | None = Field(default=None, description="The product sold from the clip (a SKU of the shelf).")
    title: text(0, m.TITLE_MAX, one_line=True) = Field(  # type: ignore[valid-type]
        default="", description="Empty: the product's title."
    )
    published: bool = True


class ClipPatch(In):
    """What may change once cut: the product, the title, whether the public sees it."""

    sku_id: Id | None = None
    title: text(1, m.TITLE_MAX, one_line=True) | None = None  # type: ignore[valid-type]
    published: bool | None = None


class ClipOut(BaseModel):
    id: int
    slug: str
    session_id: int
    sku_id: int
    mark_id: int | None
    title: str
    requested_start_s: float
    requested_end_s: float
    start_s: float | None = Field(
        description="Where the clip starts in the replay: the keyframe at or before the asked start."
    )
    duration_s: float | None
    state: m.ClipState
    published: bool
    error: str
    page_url: str
    video_url: str | None
    poster_url: str | None
    created_at: datetime


class ClipFiguresOut(ClipOut):
    views: int = Field(description="Viewers, each counted once per view window.")
    orders: int = Field(description="Orders placed from the clip's page.")
    paid_orders: int
    paid_gmv_fen: int = Field(description="The paid orders' totals, before refunds.")
    refunded_fen: int


class SessionClipsOut(BaseModel):
    session_id: int
    clips: list[ClipFiguresOut]
    views: int
    orders: int
    paid_orders: int
    paid_gmv_fen: int
    refunded_fen: int
