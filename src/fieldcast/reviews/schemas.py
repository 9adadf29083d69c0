"""API shapes of reviews. What the public sees of a review never names the order or the buyer's
account: the buyer's display name is masked, and a review the platform removed shows only that it
was removed, when and on what ground."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from fieldcast.inputs import Id
from fieldcast.reviews import models as m
from fieldcast.web.api import In, Out, text


class TagIn(In):
    tag: m.ReviewTag
    positive: bool = Field(description="true: good (新鲜), false: bad (不新鲜).")


class ReviewIn(In):
    """A buyer's review of one line of a delivered (or completed) order. With photos, send it as
    the `review` field of POST /reviews/with-photos (multipart)."""

    order_line_id: Id
    rating: int = Field(ge=m.RATING_MIN, le=m.RATING_MAX, description="Stars, 1 to 5.")
    tags: list[TagIn] = Field(default_factory=list, max_length=len(m.ReviewTag))
    body: text(0, m.BODY_MAX) = ""  # type: ignore[valid-type]


class ReplyIn(In):
    body: text(1, m.REPLY_MAX)  # type: ignore[valid-type]


class RemovalIn(In):
    ground: m.RemovalGround = Field(description="The unlawful content that justifies the removal.")
    reason: text(1, m.REASON_MAX)  # type: ignore[valid-type]


class TagOut(BaseModel):
    tag: m.ReviewTag
    positive: bool


class TagCountOut(TagOut):
    count: int


class PhotoOut(BaseModel):
    url: str
    thumb_url: str
    width: int
    height: int


class ReplyOut(BaseModel):
    body: str
    replied_at: datetime


class RemovalOut(BaseModel):
    removed_at: datetime
    ground: m.RemovalGround
    reason: str


class ReviewOut(Out):
    id: int
    product_id: int
    buyer_name: str = Field(description="The buyer's display name, masked (买***).")
    spec_label: str
    created_at: datetime
    # None, empty and empty once the platform removed the review:
    rating: int | None
    tags: list[TagOut]
    body: str
    photos: list[PhotoOut]
    reply: ReplyOut | None
    removed: RemovalOut | None


class SummaryOut(BaseModel):
    """A product's reviews as counted: removed reviews count in neither the average, the count
    nor the tags (they are counted apart, in `removed`)."""

    product_id: int
    count: int
    average: float | None = Field(description="Mean rating, one decimal; null without reviews.")
    removed: int
    tags: list[TagCountOut]


class ReviewsPage(BaseModel):
    summary: SummaryOut
    items: list[ReviewOut]
    total: int = Field(description="Reviews listed, removed ones included.")
    limit: int
    offset: int
