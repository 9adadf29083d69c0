"""Reads of reviews: a product's summary (average, count, tag counts) and its reviews a page at
a time, one review, and an order's lines with the buyer's reviews for the review page.

A product's page of reviews costs five queries whatever its length: the summary, the tag counts,
the page with the buyers' names, and the page's tags and photos. Removed reviews are listed (as
removed) but count in neither the average, the count nor the tags."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.accounts.models import User
from fieldcast.accounts.permissions import require_user
from fieldcast.catalog.queries import media_url
from fieldcast.commerce.models import Order, OrderLine
from fieldcast.errors import NotFound
from fieldcast.i18n import N_
from fieldcast.reviews import schemas as s
from fieldcast.reviews.actions import REVIEWABLE_STATES
from fieldcast.reviews.models import Review, ReviewPhoto, ReviewTag, ReviewTagMark

TAG_ORDER = {tag: i for i, tag in enumerate(ReviewTag)}


def mask_name(name: str) -> str:
    """The first character and three stars, as Chinese shops show reviewers (王***)."""
    return f"{name[:1]}***" if name else "***"


async def summary(session: AsyncSession, product_id: int) -> s.SummaryOut:
    counted = Review.removed_at.is_(None)
    count, total, removed = (
        await session.execute(
            sa.select(
                sa.func.sum(sa.case((counted, 1), else_=0)),
                sa.func.sum(sa.case((counted, Review.rating), else_=0)),
                sa.func.sum(sa.case((counted, 0), else_=1)),
            ).where(Review.product_id == product_id)
        )
    ).one()
    tags = [
        s.TagCountOut(tag=tag, positive=positive, count=int(n))
        for tag, positive, n in await session.execute(
            sa.select(ReviewTagMark.tag, ReviewTagMark.positive, sa.func.count(ReviewTagMark.id))
            .join(Review, Review.id == ReviewTagMark.review_id)
            .where(ReviewTagMark.product_id == product_id, counted)
            .group_by(ReviewTagMark.tag, ReviewTagMark.positive)
        )
    ]
    tags.sort(key=lambda t: (TAG_ORDER[t.tag], not t.positive))
    count = int(count or 0)
    return s.SummaryOut(
        product_id=product_id,
        count=count,
        average=round(int(total or 0) / count, 1) if count else None,
        removed=int(removed or 0),
        tags=tags,
    )


async def _outs(session: AsyncSession, rows: Sequence[tuple[Review, str]]) -> list[s.ReviewOut]:
    """Reviews as the public sees them, with their tags and photos in two more queries."""
    ids = [review.id for review, _name in rows]
    tags: dict[int, list[s.TagOut]] = defaultdict(list)
    photos: dict[int, list[s.PhotoOut]] = defaultdict(list)
    if ids:
        for mark in await session.scalars(sa.select(ReviewTagMark).where(ReviewTagMark.review_id.in_(ids))):
            tags[mark.review_id].append(s.TagOut(tag=mark.tag, positive=mark.positive))
        for photo in await session.scalars(
            sa.select(ReviewPhoto)
            .where(ReviewPhoto.review_id.in_(ids))
            .order_by(ReviewPhoto.review_id, ReviewPhoto.position)
        ):
            photos[photo.review_id].append(
                s.PhotoOut(
                    url=media_url(photo.path),
                    thumb_url=media_url(photo.thumb_path),
                    width=photo.width,
                    height=photo.height,
                )
            )
    out = []
    for review, name in rows:
        removed = review.removed_at is not None
        reply = s.ReplyOut(body=review.reply_body, replied_at=review.replied_at) if review.replied_at else None
        out.append(
            s.ReviewOut(
                id=review.id,
                product_id=review.product_id,
                buyer_name=mask_name(name),
                spec_label=review.spec_label,
                created_at=review.created_at,
                rating=None if removed else review.rating,
                tags=[] if removed else sorted(tags[review.id], key=lambda t: TAG_ORDER[t.tag]),
                body="" if removed else review.body,
                photos=[] if removed else photos[review.id],
                reply=reply,
                removed=s.RemovalOut(
                    removed_at=review.removed_at, ground=review.removal_ground, reason=review.removal_reason
                )
                if review.removed_at is not None and review.removal_ground is not None
                else None,
            )
        )
    return out


async def reviews_page(session: AsyncSession, product_id: int, *, limit: int, offset: int) -> s.ReviewsPage:
    """A product's reviews, newest first, with its summary."""
    head = await summary(session, product_id)
    rows = (
        await session.execute(
            sa.select(Review, User.display_name)
            .join(User, User.id == Review.buyer_id)
            .where(Review.product_id == product_id)
            .order_by(Review.id.desc())
            .limit(limit)
            .offset(offset)
        )
    ).all()
    items = await _outs(session, [(r, n) for r, n in rows])
    return s.ReviewsPage(summary=head, items=items, total=head.count + head.removed, limit=limit, offset=offset)


async def review_or_404(session: AsyncSession, review_id: int) -> Review:
    review = await session.get(Review, review_id)
    if review is None:
        raise NotFound(N_("No such review."))
    return review


async def review_out(session: AsyncSession, review: Review) -> s.ReviewOut:
    name = await session.scalar(sa.select(User.display_name).where(User.id == review.buyer_id)) or ""
    (out,) = await _outs(session, [(review, name)])
    return out


@dataclass(frozen=True)
class LineToReview:
    line_id: int
    product_id: int
    title: str
    spec_label: str
    quantity: int
    review: s.ReviewOut | None


@dataclass(frozen=True)
class OrderToReview:
    order_id: int
    reviewable: bool  # delivered or completed
    lines: list[LineToReview]

    @property
    def open_lines(self) -> list[LineToReview]:
        return [x for x in self.lines if x.review is None] if self.reviewable else []


async def order_to_review(session: AsyncSession, actor: User | None, order_id: int) -> OrderToReview:
    """The buyer's order with each line and its review, if any; "not found" for anyone else."""
    user = require_user(actor)
    order = await session.get(Order, order_id)
    if order is None or order.buyer_id != user.id:
        raise NotFound(N_("No such order."))
    lines = list(
        await session.scalars(sa.select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.id))
    )
    rows = (
        await session.execute(
            sa.select(Review, User.display_name)
            .join(User, User.id == Review.buyer_id)
            .where(Review.order_id == order.id)
            .order_by(Review.id)
        )
    ).all()
    outs = await _outs(session, [(r, n) for r, n in rows])
    by_line = {review.order_line_id: out for (review, _n), out in zip(rows, outs, strict=True)}
    return OrderToReview(
        order_id=order.id,
        reviewable=order.state in REVIEWABLE_STATES,
        lines=[LineToReview(x.id, x.product_id, x.title, x.spec_label, x.quantity, by_line.get(x.id)) for x in lines],
    )
