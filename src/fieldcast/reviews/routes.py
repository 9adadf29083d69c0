"""Reviews over the JSON API under /api/v1. Thin: parse, call one action or query, answer. POSTs
take an Idempotency-Key (web/idempotency.py): a retried review is posted once.

PATCH, PUT and DELETE on a review exist only to refuse, with a problem+json that says why:
nobody edits or hides a review (see actions.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from fieldcast.accounts.auth import CurrentUser
from fieldcast.accounts.permissions import require_user
from fieldcast.catalog.routes import visible_product
from fieldcast.i18n import N_
from fieldcast.inputs import Id
from fieldcast.reviews import actions as a
from fieldcast.reviews import errors as e
from fieldcast.reviews import queries as q
from fieldcast.reviews import schemas as s
from fieldcast.reviews.models import PHOTO_MAX_BYTES, PHOTOS_MAX
from fieldcast.web.api import PROBLEMS, Limit, Offset
from fieldcast.web.deps import Ctx, Uow

api = APIRouter(prefix="/api/v1", responses=PROBLEMS, tags=["reviews"])
PERMANENT = N_(
    "A review cannot be edited, hidden or deleted, not even by the seller: the seller may reply once, "
    "and the platform removes only unlawful content."
)


@api.get("/products/{product_id}/reviews", response_model=s.ReviewsPage)
async def api_product_reviews(
    product_id: Id, uow: Uow, user: CurrentUser, limit: Limit = 10, offset: Offset = 0
) -> s.ReviewsPage:
    """A product's reviews, newest first, with the average, the count and the tag counts
    (removed reviews are listed as removed and counted apart)."""
    product = await visible_product(uow, product_id, user)
    return await q.reviews_page(uow.session, product.id, limit=limit, offset=offset)


@api.post("/reviews", response_model=s.ReviewOut, status_code=201)
async def api_post_review(data: s.ReviewIn, uow: Uow, ctx: Ctx, user: CurrentUser) -> s.ReviewOut:
    """The buyer reviews a line of a delivered or completed order, once. It cannot be edited."""
    review = await a.post_review(uow, user, data, media_dir=ctx.settings.resolved_media_dir)
    return await q.review_out(uow.session, review)


@api.post("/reviews/with-photos", response_model=s.ReviewOut, status_code=201)
async def api_post_review_with_photos(
    uow: Uow,
    ctx: Ctx,
    user: CurrentUser,
    review: Annotated[str, Form(description="The review as the JSON body of POST /reviews.")],
    photos: Annotated[list[UploadFile] | None, File(description="Up to 4 JPEG, PNG or WebP photos, 5 MB each.")] = None,
) -> s.ReviewOut:
    """The same as POST /reviews, as multipart/form-data with photos (re-encoded, metadata dropped)."""
    try:
        data = s.ReviewIn.model_validate_json(review)
    except ValidationError as exc:
        raise RequestValidationError([{**err, "loc": ("review", *err["loc"])} for err in exc.errors()]) from exc
    files = [await f.read(PHOTO_MAX_BYTES + 1) for f in (photos or [])[: PHOTOS_MAX + 1] if f.filename]
    created = await a.post_review(uow, user, data, photos=files, media_dir=ctx.settings.resolved_media_dir)
    return await q.review_out(uow.session, created)


@api.get("/reviews/{review_id}", response_model=s.ReviewOut)
async def api_review(review_id: Id, uow: Uow, user: CurrentUser) -> s.ReviewOut:
    """A review as its product page shows it (to whoever may see the product)."""
    review = await q.review_or_404(uow.session, review_id)
    await visible_product(uow, review.product_id, user)
    return await q.review_out(uow.session, review)


@api.post("/reviews/{review_id}/reply", response_model=s.ReviewOut)
async def api_reply(review_id: Id, data: s.ReplyIn, uow: Uow, user: CurrentUser) -> s.ReviewOut:
    """The seller (the organisation's owners, organisers and suppliers) replies once, in public."""
    review = await a.reply_to_review(uow, user, review_id, data)
    return await q.review_out(uow.session, review)


@api.post("/reviews/{review_id}/removal", response_model=s.ReviewOut)
async def api_remove(review_id: Id, data: s.RemovalIn, uow: Uow, ctx: Ctx, user: CurrentUser) -> s.ReviewOut:
    """A platform administrator removes a review for unlawful content, with a ground and a reason
    (audited, and shown in the review's place)."""
    review = await a.remove_review(uow, user, review_id, data, media_dir=ctx.settings.resolved_media_dir)
    return await q.review_out(uow.session, review)


@api.patch("/reviews/{review_id}", status_code=204, operation_id="edit_review_refused")
@api.put("/reviews/{review_id}", status_code=204, operation_id="replace_review_refused")
@api.delete("/reviews/{review_id}", status_code=204, operation_id="hide_review_refused")
async def api_change_review(review_id: Id, uow: Uow, user: CurrentUser) -> None:
    """Always refused (403 `review_is_permanent`): there is no way to edit or hide a review."""
    require_user(user)
    await q.review_or_404(uow.session, review_id)
    raise e.ReviewIsPermanent(PERMANENT)
