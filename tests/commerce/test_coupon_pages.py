"""Coupons on pages: the room's coupon cards (anonymous viewers see Claim and are asked to sign
in; a claimed coupon says so), the cart with the best coupon chosen and its checkout form taking
it off, and the organisation's page that issues batches (and refuses those who may not)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.commerce.coupons.models import CouponBatch
from fieldcast.commerce.models import Order
from fieldcast.db.base import utcnow
from fieldcast.web.templating import DISPLAY_TZ
from tests.commerce.buyers import Buyer
from tests.commerce.test_coupons import batch_body, claim, issue
from tests.factories import LiveOrg, MakeClient, live_session


def csrf(client: httpx.AsyncClient) -> str:
    return str(client.headers["X-CSRF-Token"])


async def test_the_room_shows_its_coupons_to_claim(make_client: MakeClient, shop: LiveOrg, buyer: Buyer) -> None:
    room = await live_session(shop)
    batch = await issue(shop["organiser"], shop.slug, batch_body(room, total=5))
    page = (await make_client().get(f"/live/{room}")).text
    assert 'data-testid="coupon-card"' in page and 'data-testid="coupon-claim"' in page
    assert 'data-signed-in=""' in page  # coupons.js asks anonymous viewers to sign in first
    await claim(buyer.client, batch["id"])
    mine = (await buyer.client.get(f"/live/{room}")).text
    assert 'data-left="4"' in mine and 'data-signed-in="y"' in mine
    # The page is every signed-in viewer's; the room's /me names the batches this one claimed.
    assert (await buyer.client.get(f"/api/v1/sessions/{room}/me")).json()["claimed_coupon_batch_ids"] == [batch["id"]]
    assert (await shop["organiser"].get(f"/api/v1/sessions/{room}/me")).json()["claimed_coupon_batch_ids"] == []


async def test_the_cart_chooses_the_best_coupon_and_its_checkout_takes_it_off(
    app: FastAPI, shop: LiveOrg, buyer: Buyer
) -> None:
    room = await live_session(shop)
    small = await issue(shop["organiser"], shop.slug, batch_body(room, amount_off_fen=500))
    big = await issue(shop["organiser"], shop.slug, batch_body(room, amount_off_fen=1500))
    await claim(buyer.client, small["id"])
    best = await claim(buyer.client, big["id"])
    r = await buyer.client.post(
        "/api/v1/me/cart", json={"sku_id": shop.inspected_sku, "quantity": 1, "session_id": room}
    )
    assert r.status_code == 201, r.text
    page = (await buyer.client.get("/cart")).text
    assert f'<option value="{best["id"]}" selected>' in page, page
    form = {
        "csrf_token": csrf(buyer.client),
        "sku_id": str(shop.inspected_sku),
        "quantity": "1",
        "session_id": str(room),
        "address_id": str(buyer.address_id),
        "coupon_claim_id": str(best["id"]),
    }
    r = await buyer.client.post("/checkout", data=form)
    assert r.status_code == 303 and r.headers["location"].startswith("/pay/"), r.text
    async with app.state.ctx.uow(write=False) as uow:
        order = await uow.session.scalar(sa.select(Order))
        assert order is not None and (order.discount_fen, order.coupon_claim_id) == (1500, best["id"])
    page = (await buyer.client.get(f"/orders/{order.id}")).text
    assert 'data-testid="order-discount"' in page and "¥15.00" in page


def form_of(room: int, **overrides: Any) -> dict[str, str]:
    ends = (utcnow() + timedelta(hours=2)).astimezone(DISPLAY_TZ).strftime("%Y-%m-%dT%H:%M")
    values = {
        "title": "满99减10",
        "kind": "threshold",
        "amount_off_yuan": "10",
        "min_spend_yuan": "99",
        "scope": "session",
        "session_id": str(room),
        "total": "100",
        "claim_ends_at": ends,
    }
    values.update(overrides)
    return values


async def test_organisers_issue_coupons_from_the_page(app: FastAPI, shop: LiveOrg) -> None:
    room = await live_session(shop)
    organiser = shop["organiser"]
    assert (await organiser.get(f"/orgs/{shop.slug}/coupons")).status_code == 200
    r = await organiser.post(f"/orgs/{shop.slug}/coupons", data={"csrf_token": csrf(organiser), **form_of(room)})
    assert r.status_code == 303, r.text
    async with app.state.ctx.uow(write=False) as uow:
        batch = await uow.session.scalar(sa.select(CouponBatch))
        assert batch is not None
        assert (batch.amount_off_fen, batch.min_spend_fen, batch.total, batch.session_id) == (1000, 9900, 100, room)
    listed = (await organiser.get(f"/orgs/{shop.slug}/coupons")).text
    assert 'data-testid="coupon-batch"' in listed


async def test_the_page_shows_a_refused_form_again_with_the_message(shop: LiveOrg) -> None:
    room = await live_session(shop)
    organiser = shop["organiser"]
    bad = form_of(room, kind="percent", percent_off="10", cap_yuan="", amount_off_yuan="")
    r = await organiser.post(f"/orgs/{shop.slug}/coupons", data={"csrf_token": csrf(organiser), **bad})
    assert r.status_code == 422 and 'data-testid="error-cap_yuan"' in r.text, r.text
    r = await organiser.post(
        f"/orgs/{shop.slug}/coupons", data={"csrf_token": csrf(organiser), **form_of(room, amount_off_yuan="ten")}
    )
    assert r.status_code == 422 and 'data-testid="error-amount_off_yuan"' in r.text


async def test_those_who_may_not_issue_get_no_page_and_no_batch(app: FastAPI, shop: LiveOrg) -> None:
    room = await live_session(shop)
    for who in ("host", "outsider", "supervisor"):
        client = shop[who]
        assert (await client.get(f"/orgs/{shop.slug}/coupons")).status_code == 403
        r = await client.post(f"/orgs/{shop.slug}/coupons", data={"csrf_token": csrf(client), **form_of(room)})
        assert r.status_code == 403, r.text
    async with app.state.ctx.uow(write=False) as uow:
        assert await uow.session.scalar(sa.select(sa.func.count(CouponBatch.id))) == 0
