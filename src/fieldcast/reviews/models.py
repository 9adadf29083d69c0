"""Tables of reviews: one review per order line, its tags and its photos.

A review is written once by the buyer of a delivered (or completed) order line and is never
edited or hidden by anyone but the platform, which may remove it for unlawful content only: the
row stays (the audit log and moderators keep what it said), the public sees "removed by the
platform", and its rating and tags stop counting. The seller may reply once, in public."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from fieldcast.db.base import Base, IdType, Timestamped
from fieldcast.db.types import str_enum

BODY_MAX = 500  # characters of a review's text
REPLY_MAX = 500
REASON_MAX = 500
PHOTOS_MAX = 4  # per review
PHOTO_MAX_BYTES = 5 * 1024 * 1024  # per photo, before re-encoding
RATING_MIN, RATING_MAX = 1, 5


class ReviewTag(StrEnum):
    """What a buyer may say in one tap, each either good or bad (a review holds a tag once)."""

    FRESHNESS = "freshness"
    TASTE = "taste"
    AS_DESCRIBED = "as_described"
    PACKAGING_SIZE = "packaging_size"
    DELIVERY_SPEED = "delivery_speed"
    SERVICE = "service"


class RemovalGround(StrEnum):
    """Why the platform may remove a review: unlawful content, and nothing else (a bad rating,
    a complaint, a competitor's wish are not grounds)."""

    PERSONAL_INFORMATION = "personal_information"  # someone's phone, address, ID number
    DEFAMATION = "defamation"
    OBSCENE_OR_VIOLENT = "obscene_or_violent"
    ILLEGAL_ADVERTISING = "illegal_advertising"  # spam, links to unlawful sales
    OTHER_UNLAWFUL = "other_unlawful"


class Review(Timestamped, Base):
    __tablename__ = "reviews"
    __table_args__ = (
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
        # The product page lists a product's reviews newest first.
        sa.Index("ix_reviews_product_id_id", "product_id", "id"),
    )

    # One review per order line: the unique constraint is the last guard behind the action's check.
    order_line_id: Mapped[int] = mapped_column(
        IdType, sa.ForeignKey("order_lines.id", ondelete="RESTRICT"), unique=True
    )
    order_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("orders.id", ondelete="RESTRICT"), index=True)
    product_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("products.id", ondelete="CASCADE"))
    organisation_id: Mapped[int] = mapped_column(
        IdType, sa.ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    buyer_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    spec_label: Mapped[str] = mapped_column(sa.String(40))  # what was bought, as it was bought
    rating: Mapped[int]
    body: Mapped[str] = mapped_column(sa.String(BODY_MAX), default="")
    reply_body: Mapped[str] = mapped_column(sa.String(REPLY_MAX), default="")
    replied_at: Mapped[datetime | None] = mapped_column(default=None)
    replied_by_id: Mapped[int | None] = mapped_column(
        IdType, sa.ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    removed_at: Mapped[datetime | None] = mapped_column(default=None)
    removed_by_id: Mapped[int | None] = mapped_column(
        IdType, sa.ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    removal_ground: Mapped[RemovalGround | None] = mapped_column(str_enum(RemovalGround), default=None)
    removal_reason: Mapped[str] = mapped_column(sa.String(REASON_MAX), default="")
    is_demo: Mapped[bool] = mapped_column(default=False)


class ReviewTagMark(Base):
    """One tag of a review, good or bad. `product_id` is the review's, so a product's tag counts
    are one grouped query."""

    __tablename__ = "review_tags"
    __table_args__ = (sa.UniqueConstraint("review_id", "tag", name="uq_review_tag"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    review_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("reviews.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("products.id", ondelete="CASCADE"), index=True)
    tag: Mapped[ReviewTag] = mapped_column(str_enum(ReviewTag))
    positive: Mapped[bool]


class ReviewPhoto(Timestamped, Base):
    """A photo of a review, re-encoded like product images (metadata stripped, scaled, WebP)."""

    __tablename__ = "review_photos"

    review_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("reviews.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(sa.String(200))
    thumb_path: Mapped[str] = mapped_column(sa.String(200))
    width: Mapped[int]
    height: Mapped[int]
    size_bytes: Mapped[int]
    position: Mapped[int] = mapped_column(default=0)
