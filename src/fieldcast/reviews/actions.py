"""The writes of reviews, one per thing a person does: the buyer posts a review, the seller
replies once, the platform removes one for unlawful content. Each locks, checks, changes, writes
the audit log and emits its event through the outbox.

There is deliberately no action to edit, hide or delete a review: not for the seller (the whole
point), and not for the buyer once it is posted (a review that changes after the seller's reply
would make the reply meaningless; a buyer with more to say has the order's after-sales). The
only way a review stops showing is `remove_review`, by a platform administrator, with a ground
of unlawful content and a reason, in the audit log and shown in the review's place."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.accounts.models import Role, User
from fieldcast.accounts.permissions import require_platform_admin, require_user
from fieldcast.accounts.queries import roles_in_org
from fieldcast.catalog.errors import BadImage
from fieldcast.catalog.images import StoredImage, remove_stored, store_image
from fieldcast.commerce.models import Order, OrderLine, OrderState
from fieldcast.commerce.orders import lock_orders
from fieldcast.db.audit import record_audit
from fieldcast.db.base import utcnow
from fieldcast.db.locks import lock_row
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import Invalid, NotFound
from fieldcast.i18n import N_
from fieldcast.reviews import errors as e
from fieldcast.reviews import schemas as s
from fieldcast.reviews.events import TOPIC_REVIEW, ReviewPosted, ReviewRemoved, ReviewReplied
from fieldcast.reviews.models import PHOTO_MAX_BYTES, PHOTOS_MAX, Review, ReviewPhoto, ReviewTagMark

REVIEWABLE_STATES = (OrderState.DELIVERED, OrderState.COMPLETED)
# Who speaks for the seller: the members who run and ship the organisation's orders.
SELLER_ROLES = frozenset({Role.OWNER, Role.ORGANISER, Role.SUPPLIER})
AUDIT_TARGET = "review"


def _audit(uow: UnitOfWork, actor: User, action: str, review: Review, reason: str = "", **details: Any) -> None:
    record_audit(
        uow,
        actor_id=actor.id,
        action=action,
        target_type=AUDIT_TARGET,
        target_id=review.id,
        reason=reason,
        organisation_id=review.organisation_id,
        details={"product_id": review.product_id, **details},
    )


def tag_codes(tags: Sequence[s.TagIn]) -> list[str]:
    """Tags as "freshness+" or "packaging_size-": how a tag travels in events and the audit log."""
    return [f"{t.tag.value}{'+' if t.positive else '-'}" for t in tags]


def _check_tags(tags: Sequence[s.TagIn]) -> None:
    if len({t.tag for t in tags}) != len(tags):
        raise Invalid(N_("Pick each tag once, good or bad."), field="tags")


def _check_photos(photos: Sequence[bytes]) -> None:
    if len(photos) > PHOTOS_MAX:
        raise e.BadPhoto(N_("A review has at most %(max)s photos."), field="photos", max=PHOTOS_MAX)
    for data in photos:
        if len(data) > PHOTO_MAX_BYTES:
            raise e.BadPhoto(
                N_("Photos may be at most %(mb)s MB each."), field="photos", mb=PHOTO_MAX_BYTES // (1024 * 1024)
            )


async def _store_photos(
    uow: UnitOfWork, photos: Sequence[bytes], media_dir: Path, folder: str, uploader_id: int
) -> list[StoredImage]:
    """Decode, strip and re-encode each photo as product images are (catalog/images.py), off the
    event loop; a failed transaction removes the files again."""
    stored: list[StoredImage] = []
    for data in photos:
        try:
            image = await store_image(data, media_dir, folder, uploader_id=uploader_id, field="photos")
        except BadImage as exc:
            raise e.BadPhoto(exc.message, field="photos", **exc.params) from exc
        uow.on_rollback(lambda image=image: remove_stored(media_dir, image.path, image.thumb_path))  # type: ignore[misc]
        stored.append(image)
    return stored


async def post_review(
    uow: UnitOfWork,
    actor: User | None,
    data: s.ReviewIn,
    *,
    photos: Sequence[bytes] = (),
    media_dir: Path,
    is_demo: bool = False,
) -> Review:
    """The buyer reviews one line of their order once it was delivered: stars, tags, optional
    text and photos. Anyone else is told there is no such line (an order is nobody else's
    business); before delivery, or a second time, it is refused."""
    user = require_user(actor)
    line = await uow.session.get(OrderLine, data.order_line_id)
    order = await uow.session.get(Order, line.order_id) if line is not None else None
    if line is None or order is None or order.buyer_id != user.id:
        raise NotFound(N_("No such order line."), field="order_line_id")
    _check_tags(data.tags)
    _check_photos(photos)
    (order,) = await lock_orders(uow, [order.id])  # one review at a time per order
    if order.state not in REVIEWABLE_STATES:
        raise e.NotDelivered(N_("You can review this once the order has been delivered."), field="order_line_id")
    if await uow.session.scalar(sa.select(Review.id).where(Review.order_line_id == line.id)) is not None:
        raise e.AlreadyReviewed(
            N_("You have already reviewed this; a review cannot be changed."), field="order_line_id"
        )
    review = Review(
        order_line_id=line.id,
        order_id=order.id,
        product_id=line.product_id,
        organisation_id=order.organisation_id,
        buyer_id=user.id,
        spec_label=line.spec_label,
        rating=data.rating,
        body=data.body,
        is_demo=is_demo,
    )
    uow.session.add(review)
    await uow.session.flush()
    for tag in data.tags:
        uow.session.add(
            ReviewTagMark(review_id=review.id, product_id=review.product_id, tag=tag.tag, positive=tag.positive)
        )
    stored = await _store_photos(uow, photos, media_dir, f"reviews/{review.product_id}", user.id)
    for position, image in enumerate(stored):
        uow.session.add(
            ReviewPhoto(
                review_id=review.id,
                path=image.path,
                thumb_path=image.thumb_path,
                width=image.width,
                height=image.height,
                size_bytes=image.size_bytes,
                position=position,
            )
        )
    tags = tag_codes(data.tags)
    _audit(uow, user, "review.post", review, order_id=order.id, rating=review.rating, tags=tags, photos=len(stored))
    event = ReviewPosted(
        review_id=review.id,
        product_id=review.product_id,
        organisation_id=review.organisation_id,
        order_id=order.id,
        buyer_id=user.id,
        rating=review.rating,
        tags=tags,
        photos=len(stored),
    )
    uow.publish(TOPIC_REVIEW, str(review.product_id), event.event_type, event.model_dump(mode="json"))
    return review


async def _locked_review(uow: UnitOfWork, review_id: int) -> Review:
    review = await lock_row(uow.session, Review, review_id)
    if review is None:
        raise NotFound(N_("No such review."))
    return review


async def is_seller(session: AsyncSession, user: User | None, organisation_id: int) -> bool:
    """A member who runs or ships the organisation's orders (platform administrators are not the
    seller: they moderate)."""
    if user is None or not user.is_active:
        return False
    return bool(await roles_in_org(session, user.id, organisation_id) & SELLER_ROLES)


async def reply_to_review(uow: UnitOfWork, actor: User | None, review_id: int, data: s.ReplyIn) -> Review:
    """The seller answers a review once, in public, next to it. The reply cannot change either."""
    user = require_user(actor)
    review = await _locked_review(uow, review_id)
    if not await is_seller(uow.session, user, review.organisation_id):
        raise e.NotTheSeller(N_("Only the seller's owners, organisers and suppliers may reply to this review."))
    if review.removed_at is not None:
        raise e.AlreadyRemoved(N_("The platform removed this review."))
    if review.replied_at is not None:
        raise e.AlreadyReplied(N_("The seller has already replied to this review."))
    review.reply_body = data.body
    review.replied_at = utcnow()
    review.replied_by_id = user.id
    _audit(uow, user, "review.reply", review, body=data.body)
    event = ReviewReplied(
        review_id=review.id, product_id=review.product_id, organisation_id=review.organisation_id, replied_by_id=user.id
    )
    uow.publish(TOPIC_REVIEW, str(review.product_id), event.event_type, event.model_dump(mode="json"))
    return review


async def remove_review(
    uow: UnitOfWork, actor: User | None, review_id: int, data: s.RemovalIn, *, media_dir: Path
) -> Review:
    """The platform removes a review for unlawful content (the ground) with a reason, both shown
    in its place. The row stays; its text and tags stay in the audit log for the record; its
    photos' files are deleted after the commit (they are what may be unlawful); its rating and
    tags stop counting."""
    user = require_platform_admin(actor)
    review = await _locked_review(uow, review_id)
    if review.removed_at is not None:
        raise e.AlreadyRemoved(N_("This review was already removed."))
    tags = [
        f"{t.tag.value}{'+' if t.positive else '-'}"
        for t in await uow.session.scalars(sa.select(ReviewTagMark).where(ReviewTagMark.review_id == review.id))
    ]
    photos = list(await uow.session.scalars(sa.select(ReviewPhoto).where(ReviewPhoto.review_id == review.id)))
    review.removed_at = utcnow()
    review.removed_by_id = user.id
    review.removal_ground = data.ground
    review.removal_reason = data.reason
    _audit(
        uow,
        user,
        "review.remove",
        review,
        reason=data.reason,
        ground=data.ground.value,
        buyer_id=review.buyer_id,
        rating=review.rating,
        tags=tags,
        body=review.body,
        photos=len(photos),
        posted_at=review.created_at.isoformat(),
    )
    paths = [p for photo in photos for p in (photo.path, photo.thumb_path)]

    async def _unlink() -> None:
        remove_stored(media_dir, *paths)

    uow.after_commit(_unlink)
    event = ReviewRemoved(
        review_id=review.id,
        product_id=review.product_id,
        organisation_id=review.organisation_id,
        removed_by_id=user.id,
        ground=data.ground.value,
    )
    uow.publish(TOPIC_REVIEW, str(review.product_id), event.event_type, event.model_dump(mode="json"))
    return review
