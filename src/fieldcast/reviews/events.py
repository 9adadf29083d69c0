"""Events reviews publish (topic "review", keyed by product id, through the outbox): whoever
follows products and sellers (the per-product report, integrity rules) hears a review posted, a
seller's reply and a platform removal."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict

TOPIC_REVIEW = "review"


class _ReviewEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    event_type: ClassVar[str]

    review_id: int
    product_id: int
    organisation_id: int


class ReviewPosted(_ReviewEvent):
    """A buyer reviewed an order line: its rating and tags ("freshness+", "packaging_size-")."""

    event_type: ClassVar[str] = "review.posted"
    order_id: int
    buyer_id: int
    rating: int
    tags: list[str]
    photos: int


class ReviewReplied(_ReviewEvent):
    """The seller answered a review (once, in public)."""

    event_type: ClassVar[str] = "review.replied"
    replied_by_id: int


class ReviewRemoved(_ReviewEvent):
    """The platform removed a review for unlawful content; its rating no longer counts."""

    event_type: ClassVar[str] = "review.removed"
    removed_by_id: int
    ground: str


EVENTS: tuple[type[_ReviewEvent], ...] = (ReviewPosted, ReviewReplied, ReviewRemoved)
