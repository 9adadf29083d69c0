"""Reviews that sellers cannot hide: a buyer reviews a delivered order line once (stars, tags,
words, photos); the product page shows the average, the count and the tag counts; the seller may
reply once and is refused every way of editing or hiding a review; a platform administrator may
remove one for unlawful content only, with a reason, audited, shown as removed by the platform
and no longer counted. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.db.audit import AuditEntry
from fieldcast.db.outbox import OutboxMessage
from fieldcast.reviews import pages as review_pages
from fieldcast.reviews.events import EVENTS, TOPIC_REVIEW
from fieldcast.reviews.models import Review, ReviewPhoto
from tests.commerce.buyers import Buyer, make_buyer
from tests.conftest import QueryCounter
from tests.factories import LiveOrg, MakeClient, png_bytes
from tests.live.conftest import post_form
from tests.reviews.conftest import Bought, Deliver, get_json, move_to, order_line

EN = {"Accept-Language": "en"}


def review_body(
    line: Bought, rating: int = 5, tags: list[tuple[str, bool]] | None = None, **extra: Any
) -> dict[str, Any]:
    chosen = tags if tags is not None else [("freshness", True), ("packaging_size", False)]
    return {
        "order_line_id": line.line_id,
        "rating": rating,
        "tags": [{"tag": t, "positive": p} for t, p in chosen],
        **extra,
    }


async def post_review(client: httpx.AsyncClient, line: Bought, status: int = 201, **kw: Any) -> Any:
    r = await client.post("/api/v1/reviews", json=review_body(line, **kw))
    assert r.status_code == status, r.text
    return r.json()


async def count(app: FastAPI, model: Any) -> int:
    async with app.state.ctx.uow(write=False) as uow:
        return int(await uow.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def tag_counts(html: str) -> dict[str, int]:
    return {
        tag: int(n)
        for tag, n in re.findall(r'data-testid="tag-count" data-tag="([a-z_]+[+-])">[^<]*<strong>(\d+)</strong>', html)
    }


# -- the buyer ------------------------------------------------------------------------------------


async def test_reviews_show_on_the_product_page_with_average_count_and_tag_counts(
    app: FastAPI, shop: LiveOrg, buyer: Buyer, make_client: MakeClient, delivered: Deliver
) -> None:
    other = await make_buyer(make_client, "other")
    first, second = await delivered(buyer), await delivered(other)
    mine = await post_review(buyer.client, first, rating=5, body="蓝莓很新鲜，就是箱子太大了。")
    assert mine["rating"] == 5 and mine["buyer_name"] == "买***" and mine["spec_label"] == "5斤装"
    assert mine["tags"] == [{"tag": "freshness", "positive": True}, {"tag": "packaging_size", "positive": False}]
    await post_review(other.client, second, rating=4, tags=[("freshness", True), ("delivery_speed", False)])

    page = await get_json(shop["outsider"], f"/api/v1/products/{first.product_id}/reviews")
    assert page["summary"]["count"] == 2 and page["summary"]["average"] == 4.5 and page["total"] == 2
    assert {(t["tag"], t["positive"], t["count"]) for t in page["summary"]["tags"]} == {
        ("freshness", True, 2),
        ("packaging_size", False, 1),
        ("delivery_speed", False, 1),
    }
    assert [r["rating"] for r in page["items"]] == [4, 5]  # newest first
    assert "order_id" not in page["items"][0] and "buyer_id" not in page["items"][0]

    html = (await make_client().get(f"/p/{first.product_id}", headers=EN)).text  # anyone, signed in or not
    assert tag_counts(html) == {"freshness+": 2, "packaging_size-": 1, "delivery_speed-": 1}
    assert 'data-testid="review-average">4.5<' in html and "2 reviews" in html
    assert "蓝莓很新鲜，就是箱子太大了。" in html and "Packaging too big or small" in html
    assert html.count('data-testid="review"') == 2
    zh = (await make_client().get(f"/p/{first.product_id}")).text
    assert "新鲜" in zh and "包装过大或过小" in zh


async def test_a_review_before_delivery_is_refused(
    app: FastAPI, shop: LiveOrg, buyer: Buyer, delivered: Deliver
) -> None:
    for state in ("pending_payment", "paid", "shipped"):
        order = await move_to(app, shop, buyer, state)
        line_id, product_id = await order_line(app, order)
        r = await buyer.client.post("/api/v1/reviews", json=review_body(Bought(order, line_id, product_id)))
        assert r.status_code == 409, (state, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        problem = r.json()
        assert problem["code"] == "order_not_delivered" and problem["errors"][0]["field"] == "order_line_id"
        page = await buyer.client.get(f"/orders/{order}/review")
        assert 'data-testid="not-delivered"' in page.text and 'data-testid="review-form"' not in page.text
        assert 'data-testid="write-review"' not in (await buyer.client.get(f"/orders/{order}")).text
    assert await count(app, Review) == 0


async def test_a_second_review_of_the_same_line_is_refused_and_a_retry_posts_once(
    app: FastAPI, shop: LiveOrg, buyer: Buyer, delivered: Deliver
) -> None:
    line = await delivered(buyer)
    key = {"Idempotency-Key": "review-1"}
    r1 = await buyer.client.post("/api/v1/reviews", json=review_body(line), headers=key)
    r2 = await buyer.client.post("/api/v1/reviews", json=review_body(line), headers=key)
    assert r1.status_code == r2.status_code == 201 and r1.json() == r2.json()
    assert r2.headers.get("idempotent-replayed") == "true"
    again = await buyer.client.post("/api/v1/reviews", json=review_body(line, rating=1))
    assert again.status_code == 409 and again.json()["code"] == "already_reviewed"
    # Through the page, too: the form is gone and a forged post is answered on the page.
    page = await buyer.client.get(f"/orders/{line.order_id}/review")
    assert 'data-testid="review-form"' not in page.text and 'data-testid="review"' in page.text
    forged = await post_form(
        buyer.client, f"/orders/{line.order_id}/review", {"order_line_id": str(line.line_id), "rating": "1"}
    )
    assert forged.status_code == 422 and "您已经评价过了" in forged.text
    assert await count(app, Review) == 1
    assert (await get_json(buyer.client, f"/api/v1/reviews/{r1.json()['id']}"))["rating"] == 5


async def test_only_the_buyer_reviews_a_line(
    app: FastAPI, shop: LiveOrg, buyer: Buyer, make_client: MakeClient, delivered: Deliver
) -> None:
    line = await delivered(buyer)
    other = await make_buyer(make_client, "other")
    for client in (other.client, shop["supplier"], shop["owner"], shop["admin"]):
        r = await client.post("/api/v1/reviews", json=review_body(line))
        assert r.status_code == 404 and r.json()["code"] == "not_found", r.text
        assert (await client.get(f"/orders/{line.order_id}/review")).status_code == 404
    assert (await make_client().post("/api/v1/reviews", json=review_body(line))).status_code == 401
    bad = await buyer.client.post("/api/v1/reviews", json=review_body(line, rating=6))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "rating"
    twice = await buyer.client.post("/api/v1/reviews", json=review_body(line, tags=[("taste", True), ("taste", False)]))
    assert twice.status_code == 422 and twice.json()["errors"][0]["field"] == "tags"
    long = await buyer.client.post("/api/v1/reviews", json=review_body(line, body="好" * 501))
    assert long.status_code == 422 and long.json()["errors"][0]["field"] == "body"
    assert await count(app, Review) == 0


# -- the seller -----------------------------------------------------------------------------------


async def test_the_seller_cannot_edit_or_hide_a_review_and_replies_once(
    app: FastAPI, shop: LiveOrg, buyer: Buyer, delivered: Deliver
) -> None:
    line = await delivered(buyer)
    review = await post_review(buyer.client, line, rating=1, body="收到时一半坏了。")
    path = f"/api/v1/reviews/{review['id']}"
    for member in ("owner", "organiser", "supplier"):
        for method, body in (("PATCH", {"rating": 5}), ("PUT", {"body": "很好"}), ("DELETE", None)):
            r = await shop[member].request(method, path, json=body)
            assert r.status_code == 403, (member, method, r.text)
            assert r.headers["content-type"] == "application/problem+json"
            assert (
                r.json()["code"] == "review_is_permanent"
                and "seller" in (await shop[member].request(method, path, json=body, headers=EN)).json()["detail"]
            )
    # Nor the buyer, once it is posted.
    assert (await buyer.client.patch(path, json={"rating": 5})).json()["code"] == "review_is_permanent"
    assert (await buyer.client.delete(path)).status_code == 403
    assert (await get_json(buyer.client, path))["body"] == "收到时一半坏了。"

    # Those who do not speak for the seller may not reply.
    for member in ("host", "outsider"):
        r = await shop[member].post(f"{path}/reply", json={"body": "我们会改进"})
        assert r.status_code == 403 and r.json()["code"] == "not_the_seller"
    assert (await buyer.client.post(f"{path}/reply", json={"body": "…"})).status_code == 403
    assert (await shop["admin"].post(f"{path}/reply", json={"body": "…"})).status_code == 403
    empty = await shop["supplier"].post(f"{path}/reply", json={"body": "  "})
    assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "body"
    assert (await shop["supplier"].get(f"/p/{line.product_id}")).text.count('data-testid="reply-review"') == 1
    assert 'data-testid="reply-review"' not in (await shop["outsider"].get(f"/p/{line.product_id}")).text
    replied = await post_form(shop["supplier"], f"/reviews/{review['id']}/reply", {"body": "抱歉，已为您补发。"})
    assert replied.status_code == 303 and replied.headers["location"].endswith(f"#review-{review['id']}")
    again = await shop["owner"].post(f"{path}/reply", json={"body": "再说一次"})
    assert again.status_code == 409 and again.json()["code"] == "already_replied"
    out = await get_json(shop["outsider"], path)
    assert out["reply"]["body"] == "抱歉，已为您补发。" and out["rating"] == 1 and out["body"] == "收到时一半坏了。"
    html = (await shop["outsider"].get(f"/p/{line.product_id}")).text
    assert "抱歉，已为您补发。" in html and "收到时一半坏了。" in html
    async with app.state.ctx.uow(write=False) as uow:
        actions = list(
            await uow.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.target_type == "review"))
        )
    assert sorted(actions) == ["review.post", "review.reply"]
    # A withdrawn product's reviews are its organisation's to see, like the product.
    assert (await shop["owner"].post(f"/api/v1/products/{line.product_id}/withdraw", json={})).status_code == 200
    assert (await shop["outsider"].get(path)).status_code == 404
    assert (await shop["outsider"].get(f"/api/v1/products/{line.product_id}/reviews")).status_code == 404
    assert (await shop["owner"].get(path)).status_code == 200


# -- the platform ---------------------------------------------------------------------------------


async def test_a_moderator_removes_a_review_for_unlawful_content_and_it_shows_removed_by_the_platform(
    app: FastAPI, shop: LiveOrg, buyer: Buyer, make_client: MakeClient, delivered: Deliver
) -> None:
    other = await make_buyer(make_client, "other")
    kept, unlawful = await delivered(buyer), await delivered(other)
    await post_review(buyer.client, kept, rating=5, tags=[("taste", True)])
    bad = await post_review(
        other.client, unlawful, rating=1, tags=[("taste", False)], body="卖家电话13912345678，骂人的话"
    )
    path = f"/api/v1/reviews/{bad['id']}/removal"
    removal = {"ground": "personal_information", "reason": "公开了他人手机号码"}
    for client in (shop["owner"], shop["supplier"], buyer.client, other.client):
        r = await client.post(path, json=removal)
        assert r.status_code == 403 and r.json()["code"] == "not_platform_admin", r.text
    missing = await shop["admin"].post(path, json={"ground": "personal_information", "reason": ""})
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "reason"
    not_a_ground = await shop["admin"].post(path, json={"ground": "bad_rating", "reason": "差评"})
    assert not_a_ground.status_code == 422 and not_a_ground.json()["errors"][0]["field"] == "ground"
    assert 'data-testid="remove-review"' not in (await shop["owner"].get(f"/p/{kept.product_id}")).text
    assert 'data-testid="remove-review"' in (await shop["admin"].get(f"/p/{kept.product_id}")).text

    r = await shop["admin"].post(path, json=removal)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["removed"]["ground"] == "personal_information" and out["removed"]["reason"] == "公开了他人手机号码"
    assert (out["rating"], out["body"], out["tags"], out["photos"]) == (None, "", [], [])
    assert (await shop["admin"].post(path, json=removal)).json()["code"] == "already_removed"

    page = await get_json(shop["outsider"], f"/api/v1/products/{kept.product_id}/reviews")
    assert page["summary"]["count"] == 1 and page["summary"]["average"] == 5.0 and page["summary"]["removed"] == 1
    assert [(t["tag"], t["positive"]) for t in page["summary"]["tags"]] == [("taste", True)]
    html = (await make_client().get(f"/p/{kept.product_id}", headers=EN)).text
    assert 'data-testid="review-removed"' in html and "Removed by the platform" in html
    assert "13912345678" not in html and "公开了他人手机号码" in html
    assert tag_counts(html) == {"taste+": 1}
    assert "已被平台删除" in (await make_client().get(f"/p/{kept.product_id}")).text
    async with app.state.ctx.uow(write=False) as uow:
        entry = await uow.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "review.remove"))
    assert entry is not None and entry.reason == "公开了他人手机号码" and entry.target_id == str(bad["id"])
    assert (
        entry.details["body"] == "卖家电话13912345678，骂人的话" and entry.details["ground"] == "personal_information"
    )


# -- the page form and photos ---------------------------------------------------------------------


async def multipart(client: httpx.AsyncClient, path: str, data: dict[str, str], files: list[Any]) -> httpx.Response:
    token = client.headers.get("X-CSRF-Token") or ""
    return await client.post(path, data={**data, "csrf_token": token}, files=files)


async def test_the_review_form_takes_tags_and_photos_re_encoded_like_product_images(
    app: FastAPI, shop: LiveOrg, buyer: Buyer, delivered: Deliver
) -> None:
    line = await delivered(buyer)
    order_page = (await buyer.client.get(f"/orders/{line.order_id}")).text
    assert f'href="/orders/{line.order_id}/review"' in order_page and 'data-testid="write-review"' in order_page
    form = {"order_line_id": str(line.line_id), "tag_freshness": "good", "tag_service": "bad", "body": "好吃"}
    five = [("photos", (f"p{i}.png", png_bytes((64, 64)), "image/png")) for i in range(5)]
    too_many = await multipart(buyer.client, f"/orders/{line.order_id}/review", {**form, "rating": "4"}, five)
    assert too_many.status_code == 422 and 'data-testid="error-photos"' in too_many.text
    not_image = [("photos", ("x.png", b"not an image", "image/png"))]
    r = await multipart(buyer.client, f"/orders/{line.order_id}/review", {**form, "rating": "4"}, not_image)
    assert r.status_code == 422 and 'data-testid="error-photos"' in r.text
    no_rating = await multipart(buyer.client, f"/orders/{line.order_id}/review", form, [])
    assert no_rating.status_code == 422 and 'value="good" checked' in no_rating.text  # the form comes back as typed
    assert await count(app, Review) == 0 and await count(app, ReviewPhoto) == 0

    photo = [("photos", ("berries.png", png_bytes((3000, 1500)), "image/png"))]
    done = await multipart(buyer.client, f"/orders/{line.order_id}/review", {**form, "rating": "4"}, photo)
    assert done.status_code == 303, done.text
    review = (await get_json(buyer.client, f"/api/v1/products/{line.product_id}/reviews"))["items"][0]
    assert review["rating"] == 4 and review["body"] == "好吃"
    assert review["tags"] == [{"tag": "freshness", "positive": True}, {"tag": "service", "positive": False}]
    (stored,) = review["photos"]
    assert stored["url"].endswith(".webp") and max(stored["width"], stored["height"]) == 2048
    assert (await buyer.client.get(stored["url"])).status_code == 200
    posted = await buyer.client.get(done.headers["location"])
    assert 'data-testid="review-posted"' in posted.text and 'data-testid="review-form"' not in posted.text

    # A removal deletes the photo's files: they are what may be unlawful.
    r = await shop["admin"].post(
        f"/api/v1/reviews/{review['id']}/removal", json={"ground": "obscene_or_violent", "reason": "图片违法"}
    )
    assert r.status_code == 200
    assert (await buyer.client.get(stored["url"])).status_code == 404


async def test_a_products_reviews_come_a_page_at_a_time_for_the_same_queries(
    app: FastAPI,
    shop: LiveOrg,
    buyer: Buyer,
    make_client: MakeClient,
    delivered: Deliver,
    monkeypatch: pytest.MonkeyPatch,
    queries: QueryCounter,
) -> None:
    lines = [await delivered(buyer) for _ in range(3)]
    product = lines[0].product_id
    visitor = make_client()
    statements: list[int] = []
    for n, line in enumerate(lines, start=1):
        await post_review(buyer.client, line, rating=n, tags=[("taste", True)])
        if n in (1, 3):
            async with queries.counting() as sent:
                assert (await visitor.get(f"/p/{product}")).status_code == 200
            statements.append(len(sent))
    assert statements[0] == statements[1], statements  # the section's cost does not grow with its reviews
    page = await get_json(make_client(), f"/api/v1/products/{product}/reviews", limit=2, offset=2)
    assert [r["rating"] for r in page["items"]] == [1] and page["total"] == 3 and page["summary"]["average"] == 2.0
    monkeypatch.setattr(review_pages, "PAGE_SIZE", 2)
    await app.state.ctx.data_version.bump()  # pages built before the change are not served again
    first = (await make_client().get(f"/p/{product}")).text
    assert first.count('data-testid="review"') == 2 and 'href="?reviews=2#reviews"' in first
    second = (await make_client().get(f"/p/{product}?reviews=2")).text
    assert second.count('data-testid="review"') == 1


async def test_review_events_leave_through_the_outbox_and_match_their_contract(
    app: FastAPI, shop: LiveOrg, buyer: Buyer, delivered: Deliver
) -> None:
    line = await delivered(buyer)
    review = await post_review(buyer.client, line)
    await shop["supplier"].post(f"/api/v1/reviews/{review['id']}/reply", json={"body": "谢谢"})
    await shop["admin"].post(f"/api/v1/reviews/{review['id']}/removal", json={"ground": "defamation", "reason": "诽谤"})
    async with app.state.ctx.uow(write=False) as uow:
        messages = list(
            await uow.session.scalars(
                sa.select(OutboxMessage).where(OutboxMessage.topic == TOPIC_REVIEW).order_by(OutboxMessage.id)
            )
        )
    models = {m.event_type: m for m in EVENTS}
    assert [m.event_type for m in messages] == ["review.posted", "review.replied", "review.removed"]
    for message in messages:
        event = models[message.event_type].model_validate(message.payload)
        assert message.key == str(line.product_id) and event.review_id == review["id"]
    assert messages[0].payload["tags"] == ["freshness+", "packaging_size-"]


async def test_the_api_takes_a_review_with_photos_as_multipart_and_a_retry_posts_it_once(
    app: FastAPI, shop: LiveOrg, buyer: Buyer, delivered: Deliver
) -> None:
    line = await delivered(buyer)
    path = "/api/v1/reviews/with-photos"
    bad = await buyer.client.post(path, data={"review": orjson.dumps(review_body(line, rating=0)).decode()})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "review.rating"
    body = {"review": orjson.dumps(review_body(line, body="有图")).decode()}
    photo = [("photos", ("a.jpg", png_bytes((640, 480)), "image/png"))]
    # A retry sends the same bytes: the same multipart boundary.
    key = {"Idempotency-Key": "with-photos-1", "Content-Type": "multipart/form-data; boundary=fc-review-retry"}
    first = await buyer.client.post(path, data=body, files=photo, headers=key)
    again = await buyer.client.post(path, data=body, files=photo, headers=key)
    assert first.status_code == again.status_code == 201, first.text
    assert again.headers.get("idempotent-replayed") == "true" and first.json() == again.json()
    (stored,) = first.json()["photos"]
    assert stored["url"].endswith(".webp") and (stored["width"], stored["height"]) == (640, 480)
    assert await count(app, Review) == 1 and await count(app, ReviewPhoto) == 1
