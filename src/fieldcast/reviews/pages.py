"""Reviews as HTML: the buyer's review page for an order (/orders/<id>/review), the seller's reply
and the platform's removal forms, and the reviews section of the product page.

The product page belongs to catalog, which sits below reviews and cannot ask for them: the
composition root adds `product_reviews_section` as a dependency of catalog's page router, and
it leaves the section's data on the request for the product page's one `{% include %}`
(reviews/_product_reviews.html), as the notification bell does for every page header."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import FormData, UploadFile
from starlette.responses import Response

from fieldcast.accounts.auth import CurrentUser
from fieldcast.accounts.models import User
from fieldcast.catalog.queries import load_product
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import NotFound
from fieldcast.i18n import N_
from fieldcast.inputs import Id, parse_int
from fieldcast.reviews import actions as a
from fieldcast.reviews import queries as q
from fieldcast.reviews import schemas as s
from fieldcast.reviews.models import (
    BODY_MAX,
    PHOTO_MAX_BYTES,
    PHOTOS_MAX,
    REASON_MAX,
    REPLY_MAX,
    RemovalGround,
    Review,
    ReviewTag,
)
from fieldcast.web.deps import Ctx, Uow
from fieldcast.web.forms import (
    ACCESS_ERRORS,
    Form,
    read_form,
    read_raw_form,
    safe_next,
    see_other,
    submit,
    validate_into,
)
from fieldcast.web.templating import render

pages = APIRouter(include_in_schema=False)
PAGE_SIZE = 10
PRODUCT_PAGE_ROUTE = "/p/{product_id}"
OFFSET_PARAM = "reviews"  # the product page's query parameter for the reviews' page
STATE_SECTION = "product_reviews"
GOOD, BAD = "good", "bad"


def _sign_in_first(request: Request) -> Response:
    return see_other(f"/signin?next={safe_next(request.url.path, '/')}")


# -- the product page's section -------------------------------------------------------------------


@dataclass(frozen=True)
class ProductSection:
    """What reviews/_product_reviews.html shows: a page of reviews with the summary, and what this
    viewer may do (reply as the seller, remove as the platform)."""

    page: s.ReviewsPage
    can_reply: bool
    can_remove: bool
    page_size: int
    param: str = OFFSET_PARAM


def _offset(request: Request) -> int:
    try:
        return max(0, min(int(request.query_params.get(OFFSET_PARAM, "0")), 1_000_000))
    except ValueError:
        return 0


async def product_reviews_section(request: Request, uow: Uow, user: CurrentUser) -> None:
    """A dependency of catalog's page router: on a product page (GET), load its reviews section
    onto the request. Any other page of that router costs nothing. The product page itself still
    decides whether the product may be seen (a 404 shows no section)."""
    route = request.scope.get("route")
    if request.method != "GET" or getattr(route, "path", None) != PRODUCT_PAGE_ROUTE:
        return
    # Dependencies run before the route's own parameters are validated: parse the id here too.
    product_id = parse_int(str(request.path_params.get("product_id", "")))
    product = None if product_id is None else await load_product(uow.session, product_id)
    if product is None:
        return
    page = await q.reviews_page(uow.session, product.id, limit=PAGE_SIZE, offset=_offset(request))
    admin = bool(user and user.is_active and user.is_platform_admin)
    can_reply = await a.is_seller(uow.session, user, product.organisation_id)
    setattr(
        request.state,
        STATE_SECTION,
        ProductSection(page, can_reply=can_reply, can_remove=admin, page_size=PAGE_SIZE),
    )


# -- the buyer's review page ----------------------------------------------------------------------


def _limits() -> dict[str, Any]:
    return {
        "body_max": BODY_MAX,
        "photos_max": PHOTOS_MAX,
        "photo_max_mb": PHOTO_MAX_BYTES // (1024 * 1024),
        "tags": list(ReviewTag),
        "good": GOOD,
        "bad": BAD,
    }


async def _order_view(
    request: Request,
    uow: UnitOfWork,
    user: User,
    order_id: Id,
    *,
    form: Form[Any] | None = None,
    line_id: Id | None = None,
    status_code: int = 200,
) -> Response:
    order = await q.order_to_review(uow.session, user, order_id)
    posted = request.query_params.get("posted", "")
    return render(
        request,
        "reviews/order.html",
        {
            "user": user,
            "order": order,
            "form": form or Form(),
            "form_line": line_id,
            "posted": int(posted) if posted.isdigit() else None,
            **_limits(),
        },
        status_code=status_code,
    )


@pages.get("/orders/{order_id}/review")
async def order_review_page(order_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    if user is None:
        return _sign_in_first(request)
    return await _order_view(request, uow, user, order_id)


async def _photos(raw: FormData) -> list[bytes]:
    """The chosen photos, each read up to its limit + 1 byte so the action can refuse a larger
    one (more than allowed are not read at all: the action refuses their number)."""
    out: list[bytes] = []
    try:
        for upload in raw.getlist("photos"):
            if isinstance(upload, UploadFile) and upload.filename:
                out.append(await upload.read(PHOTO_MAX_BYTES + 1) if len(out) < PHOTOS_MAX else b"")
    finally:
        await raw.close()
    return out


def _review_fields(values: dict[str, str]) -> dict[str, Any]:
    """The form's fields as the API's ReviewIn: tag_<tag> = good | bad | (nothing) becomes a tag."""
    tags = [
        {"tag": tag.value, "positive": values[f"tag_{tag.value}"] == GOOD}
        for tag in ReviewTag
        if values.get(f"tag_{tag.value}") in (GOOD, BAD)
    ]
    fields: dict[str, Any] = {"order_line_id": values.get("order_line_id", ""), "tags": tags}
    fields["body"] = values.get("body", "")
    if values.get("rating", "").strip():
        fields["rating"] = values["rating"]
    return fields


@pages.post("/orders/{order_id}/review")
async def order_review_submit(order_id: Id, request: Request, uow: Uow, ctx: Ctx, user: CurrentUser) -> Response:
    raw, values = await read_raw_form(request)
    photos = await _photos(raw)
    if user is None:
        return _sign_in_first(request)
    form: Form[s.ReviewIn] = Form(values=values)
    validate_into(form, s.ReviewIn, _review_fields(values))
    data = form.data
    media_dir = ctx.settings.resolved_media_dir
    done = data is not None and await submit(
        uow,
        form,
        lambda: a.post_review(uow, user, data, photos=photos, media_dir=media_dir),
        reraise=ACCESS_ERRORS,
    )
    if done:
        return see_other(f"/orders/{order_id}/review?posted={done.value.id}#review-{done.value.id}")
    line = values.get("order_line_id", "")
    return await _order_view(
        request, uow, user, order_id, form=form, line_id=int(line) if line.isdigit() else None, status_code=422
    )


# -- the seller's reply and the platform's removal ------------------------------------------------


async def _review_view(
    request: Request, uow: UnitOfWork, review: Review, template: str, form: Form[Any], status_code: int = 200
) -> Response:
    return render(
        request,
        template,
        {
            "review": await q.review_out(uow.session, review),
            "form": form,
            "reply_max": REPLY_MAX,
            "reason_max": REASON_MAX,
            "grounds": list(RemovalGround),
        },
        status_code=status_code,
    )


def _back(review: Review) -> str:
    return f"/p/{review.product_id}#review-{review.id}"


@pages.get("/reviews/{review_id}/reply")
async def reply_page(review_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    if user is None:
        return _sign_in_first(request)
    review = await q.review_or_404(uow.session, review_id)
    if not await a.is_seller(uow.session, user, review.organisation_id):
        raise NotFound(N_("No such review."))
    return await _review_view(request, uow, review, "reviews/reply.html", Form())


@pages.post("/reviews/{review_id}/reply")
async def reply_submit(review_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    form = await read_form(request, s.ReplyIn)
    review = await q.review_or_404(uow.session, review_id)
    data = form.data
    if data is not None and await submit(
        uow, form, lambda: a.reply_to_review(uow, user, review_id, data), reraise=ACCESS_ERRORS
    ):
        return see_other(_back(review))
    return await _review_view(request, uow, review, "reviews/reply.html", form, status_code=422)


@pages.get("/reviews/{review_id}/remove")
async def remove_page(review_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    if user is None:
        return _sign_in_first(request)
    review = await q.review_or_404(uow.session, review_id)
    if not user.is_platform_admin:
        raise NotFound(N_("No such review."))
    return await _review_view(request, uow, review, "reviews/remove.html", Form())


@pages.post("/reviews/{review_id}/remove")
async def remove_submit(review_id: Id, request: Request, uow: Uow, ctx: Ctx, user: CurrentUser) -> Response:
    form = await read_form(request, s.RemovalIn)
    review = await q.review_or_404(uow.session, review_id)
    data = form.data
    media_dir = ctx.settings.resolved_media_dir
    if data is not None and await submit(
        uow, form, lambda: a.remove_review(uow, user, review_id, data, media_dir=media_dir), reraise=ACCESS_ERRORS
    ):
        return see_other(_back(review))
    return await _review_view(request, uow, review, "reviews/remove.html", form, status_code=422)
