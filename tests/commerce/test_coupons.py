"""Coupons through the API and the real actions, on SQLite and PostgreSQL: who may issue a batch
(and who may not), claiming one per viewer within the window, the discount taken off checkout and
the payment's amount after it, a coupon used once, and given back when its order is cancelled or
expires unpaid."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.accounts.models import User
from fieldcast.commerce.checkout import Wanted
from fieldcast.commerce.coupons import actions as coupon_actions
from fieldcast.commerce.coupons import errors as ce
from fieldcast.commerce.coupons.models import ClaimState, CouponBatch, CouponClaim
from fieldcast.commerce.models import Order, OrderState
from fieldcast.db.audit import AuditEntry
from fieldcast.db.base import utcnow
from fieldcast.payments import actions as payments
from fieldcast.payments.models import NotificationOutcome, Payment, PaymentOrder
from fieldcast.payments.provider import Notification
from tests.commerce.buyers import Buyer, make_buyer
from tests.factories import LiveOrg, MakeClient, live_session, make_live_org, sign_up

LIVE_PRICE_FEN = 7900  # the inspected SKU on the test show's shelf


def batch_body(session_id: int | None, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "直播间满减券",
        "kind": "threshold",
        "amount_off_fen": 1000,
        "min_spend_fen": 5000,
        "scope": "session",
        "session_id": session_id,
        "total": 100,
        "claim_ends_at": (utcnow() + timedelta(hours=1)).isoformat(),
    }
    body.update(overrides)
    return body


async def issue(client: httpx.AsyncClient, slug: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await client.post(f"/api/v1/organisations/{slug}/coupons", json=body)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def claim(client: httpx.AsyncClient, batch_id: int, status: int = 201, **headers: str) -> dict[str, Any]:
    r = await client.post(f"/api/v1/coupons/{batch_id}/claim", headers=headers)
    assert r.status_code == status, r.text
    answer: dict[str, Any] = r.json()
    return answer


async def checkout(buyer: Buyer, room: int, sku: int, coupon: int | None, quantity: int = 1) -> httpx.Response:
    body: dict[str, Any] = {
        "items": [{"sku_id": sku, "quantity": quantity, "session_id": room}],
        "address_id": buyer.address_id,
    }
    if coupon is not None:
        body["coupon_claim_id"] = coupon
    return await buyer.client.post("/api/v1/checkout", json=body)


async def claim_state(app: FastAPI, claim_id: int) -> ClaimState:
    async with app.state.ctx.uow(write=False) as uow:
        found = await uow.session.get(CouponClaim, claim_id)
        assert found is not None
        return found.state


async def test_organisers_issue_room_coupons_and_suppliers_store_coupons(shop: LiveOrg) -> None:
    room = await live_session(shop)
    for who in ("owner", "organiser"):
        created = await issue(shop[who], shop.slug, batch_body(room))
        assert (created["left"], created["total"], created["scope"]) == (100, 100, "session")
    store = await issue(shop["supplier"], shop.slug, batch_body(None, scope="store", kind="fixed", min_spend_fen=0))
    assert store["session_id"] is None


async def test_a_coupon_title_with_a_forbidden_claim_needs_a_written_reason(shop: LiveOrg, app: FastAPI) -> None:
    room = await live_session(shop)
    url = f"/api/v1/organisations/{shop.slug}/coupons"
    r = await shop["organiser"].post(url, json=batch_body(room, title="全网最低价券"))
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "claims_need_override" and r.json()["errors"][0]["field"] == "title"
    assert "全网最低价" in r.json()["detail"]
    created = await issue(
        shop["organiser"],
        shop.slug,
        batch_body(room, title="全网最低价券", claims_override_reason="与平台比价截图为证"),
    )
    async with app.state.ctx.uow(write=False) as uow:
        entry = await uow.session.scalar(
            sa.select(AuditEntry).where(
                AuditEntry.action == "coupon.batch_create", AuditEntry.target_id == str(created["id"])
            )
        )
    assert entry is not None
    assert entry.details["claims_override_reason"] == "与平台比价截图为证"
    assert [(c["field"], c["term"], c["rule"]) for c in entry.details["claims"]] == [
        ("title", "全网最低价", "absolute_term")
    ]
    # A clean title needs no reason and logs no claims.
    clean = await issue(shop["organiser"], shop.slug, batch_body(room, title="直播间满50减10"))
    async with app.state.ctx.uow(write=False) as uow:
        entry = await uow.session.scalar(
            sa.select(AuditEntry).where(
                AuditEntry.action == "coupon.batch_create", AuditEntry.target_id == str(clean["id"])
            )
        )
    assert entry is not None and "claims" not in entry.details


@pytest.mark.parametrize("who", ["host", "official", "supplier", "supervisor", "outsider"])
async def test_who_may_not_issue_room_coupons(shop: LiveOrg, who: str) -> None:
    room = await live_session(shop)
    r = await shop[who].post(f"/api/v1/organisations/{shop.slug}/coupons", json=batch_body(room))
    assert r.status_code == 403, r.text


@pytest.mark.parametrize("who", ["host", "supervisor", "outsider"])
async def test_who_may_not_issue_store_coupons(shop: LiveOrg, who: str) -> None:
    r = await shop[who].post(
        f"/api/v1/organisations/{shop.slug}/coupons", json=batch_body(None, scope="store", kind="fixed")
    )
    assert r.status_code == 403, r.text


async def test_nobody_issues_for_another_organisation_or_signed_out(
    app: FastAPI, make_client: MakeClient, shop: LiveOrg
) -> None:
    other = await make_live_org(app, make_client, "other")
    room = await live_session(shop)
    r = await other["organiser"].post(f"/api/v1/organisations/{shop.slug}/coupons", json=batch_body(room))
    assert r.status_code == 403, r.text
    # nor hands out coupons in another organisation's room from its own
    r = await other["organiser"].post(f"/api/v1/organisations/{other.slug}/coupons", json=batch_body(room))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "session_id", r.text
    r = await make_client().post(f"/api/v1/organisations/{shop.slug}/coupons", json=batch_body(room))
    assert r.status_code == 401, r.text
    async with app.state.ctx.uow(write=False) as uow:
        assert await uow.session.scalar(sa.select(sa.func.count(CouponBatch.id))) == 0


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"kind": "percent", "percent_off": 10, "cap_fen": 0}, "cap_fen"),
        ({"kind": "percent", "percent_off": 0, "cap_fen": 500}, "percent_off"),
        ({"kind": "threshold", "amount_off_fen": 5000, "min_spend_fen": 5000}, "min_spend_fen"),
        ({"kind": "fixed", "amount_off_fen": 0}, "amount_off_fen"),
        ({"scope": "product", "product_id": None}, "product_id"),
        ({"claim_ends_at": "2020-01-01T00:00:00+00:00"}, "claim_ends_at"),
        ({"total": 0}, "total"),
    ],
)
async def test_bad_terms_are_refused_naming_the_field(shop: LiveOrg, overrides: dict[str, Any], field: str) -> None:
    room = await live_session(shop)
    r = await shop["organiser"].post(f"/api/v1/organisations/{shop.slug}/coupons", json=batch_body(room, **overrides))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in {e["field"] for e in r.json()["errors"]}, r.text


async def test_a_viewer_claims_one_coupon_and_only_one(app: FastAPI, shop: LiveOrg, buyer: Buyer) -> None:
    room = await live_session(shop)
    batch = await issue(shop["organiser"], shop.slug, batch_body(room, total=3))
    first = await claim(buyer.client, batch["id"], **{"Idempotency-Key": "claim-1"})
    assert first["state"] == "available" and first["batch"]["left"] == 2
    # a retry of the same request answers the first claim and writes nothing
    r = await buyer.client.post(f"/api/v1/coupons/{batch['id']}/claim", headers={"Idempotency-Key": "claim-1"})
    assert r.status_code == 201 and r.headers.get("idempotent-replayed") == "true" and r.json() == first
    again = await claim(buyer.client, batch["id"], 409)
    assert again["code"] == "coupon_already_claimed"
    coupons = (await buyer.client.get(f"/api/v1/sessions/{room}/coupons")).json()
    assert [(c["batch"]["left"], c["claim_state"]) for c in coupons] == [(2, "available")]
    async with app.state.ctx.uow(write=False) as uow:
        assert await uow.session.scalar(sa.select(sa.func.count(CouponClaim.id))) == 1
        actions = list(
            await uow.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.action.like("coupon.%")))
        )
        assert sorted(actions) == ["coupon.batch_create", "coupon.claim"]


async def test_signed_out_viewers_are_asked_to_sign_in(make_client: MakeClient, shop: LiveOrg) -> None:
    room = await live_session(shop)
    batch = await issue(shop["organiser"], shop.slug, batch_body(room))
    r = await make_client().post(f"/api/v1/coupons/{batch['id']}/claim")
    assert r.status_code == 401, r.text


async def test_coupons_are_claimed_only_within_their_window(app: FastAPI, shop: LiveOrg, buyer: Buyer) -> None:
    room = await live_session(shop)
    later = utcnow() + timedelta(minutes=30)
    early = await issue(shop["organiser"], shop.slug, batch_body(room, claim_starts_at=later.isoformat()))
    assert (await claim(buyer.client, early["id"], 409))["code"] == "coupon_claim_closed"
    batch = await issue(shop["organiser"], shop.slug, batch_body(room))
    async with app.state.ctx.uow() as uow:
        user = await uow.session.get(User, buyer.user_id)
        with pytest.raises(ce.ClaimClosed):
            await coupon_actions.claim(uow, user, batch["id"], now=utcnow() + timedelta(hours=2))
    await claim(buyer.client, batch["id"])


async def test_an_empty_batch_refuses_the_next_viewer(make_client: MakeClient, shop: LiveOrg, buyer: Buyer) -> None:
    room = await live_session(shop)
    batch = await issue(shop["organiser"], shop.slug, batch_body(room, total=1))
    await claim(buyer.client, batch["id"])
    late = make_client()
    await sign_up(late, "late@example.com", "迟到")
    assert (await claim(late, batch["id"], 409))["code"] == "coupons_all_claimed"


async def test_checkout_takes_the_best_coupon_off_and_the_payment_is_the_total_after_it(
    app: FastAPI, shop: LiveOrg, buyer: Buyer
) -> None:
    room = await live_session(shop)
    threshold = await issue(shop["organiser"], shop.slug, batch_body(room))  # 满50减10
    percent = await issue(
        shop["organiser"],
        shop.slug,
        batch_body(None, scope="store", kind="percent", percent_off=15, cap_fen=2000, min_spend_fen=0),
    )
    small = await claim(buyer.client, threshold["id"])
    big = await claim(buyer.client, percent["id"])
    line = {"sku_id": shop.inspected_sku, "quantity": 2, "session_id": room}
    r = await buyer.client.post("/api/v1/me/coupons/quote", json={"items": [line]})
    assert r.status_code == 200, r.text
    quote = r.json()
    # 15 % of ¥158.00 is ¥23.70, capped at ¥20.00; the threshold coupon takes ¥10.00
    assert quote["subtotal_fen"] == 2 * LIVE_PRICE_FEN
    assert (quote["best_claim_id"], quote["best_discount_fen"]) == (big["id"], 2000)
    assert [(o["claim_id"], o["discount_fen"]) for o in quote["options"]] == [(big["id"], 2000), (small["id"], 1000)]

    r = await checkout(buyer, room, shop.inspected_sku, big["id"], quantity=2)
    assert r.status_code == 201, r.text
    paying = r.json()
    (order,) = paying["orders"]
    assert (order["total_fen"], order["discount_fen"]) == (2 * LIVE_PRICE_FEN - 2000, 2000)
    assert paying["amount_fen"] == order["total_fen"]
    assert await claim_state(app, big["id"]) == ClaimState.USED
    detail = (await buyer.client.get(f"/api/v1/orders/{order['id']}")).json()
    assert (detail["discount_fen"], detail["coupon_claim_id"]) == (2000, big["id"])
    async with app.state.ctx.uow(write=False) as uow:
        placed = await uow.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "order.place"))
        assert placed is not None
        assert (placed.details["coupon_claim_id"], placed.details["discount_fen"]) == (big["id"], 2000)

    # used once: a second checkout with it is refused, and nothing of that checkout stays
    r = await checkout(buyer, room, shop.inspected_sku, big["id"])
    assert r.status_code == 409 and r.json()["code"] == "coupon_not_usable", r.text
    async with app.state.ctx.uow(write=False) as uow:
        assert await uow.session.scalar(sa.select(sa.func.count(Order.id))) == 1

    # the provider must notify exactly the discounted amount
    async with app.state.ctx.uow() as uow:
        payment = await uow.session.get(Payment, paying["id"])
        assert payment is not None
        wrong = _notification(payment.out_trade_no, 2 * LIVE_PRICE_FEN, "n-1")
        assert await payments.apply_notification(uow, app.state.ctx.gate, "test", wrong) == NotificationOutcome.REFUSED
        right = _notification(payment.out_trade_no, payment.amount_fen, "n-2")
        assert await payments.apply_notification(uow, app.state.ctx.gate, "test", right) == NotificationOutcome.APPLIED
    assert (await buyer.client.get(f"/api/v1/orders/{order['id']}")).json()["state"] == "paid"


def _notification(out_trade_no: str, amount_fen: int, notification_id: str) -> Notification:
    return Notification(
        notification_id, "TRANSACTION.SUCCESS", out_trade_no, "txn-" + notification_id, amount_fen, utcnow(), {}
    )


async def test_a_coupon_that_does_not_apply_is_refused(shop: LiveOrg, buyer: Buyer) -> None:
    room = await live_session(shop)
    batch = await issue(shop["organiser"], shop.slug, batch_body(room, min_spend_fen=20_000, amount_off_fen=1000))
    mine = await claim(buyer.client, batch["id"])
    r = await checkout(buyer, room, shop.inspected_sku, mine["id"])  # ¥79 < ¥200
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "coupon_claim_id", r.text
    # nor does another buyer's coupon
    r = await checkout(buyer, room, shop.inspected_sku, mine["id"] + 1000)
    assert r.status_code == 409, r.text


async def test_the_coupon_comes_back_when_the_checkout_is_cancelled(app: FastAPI, shop: LiveOrg, buyer: Buyer) -> None:
    room = await live_session(shop)
    batch = await issue(shop["organiser"], shop.slug, batch_body(room))
    mine = await claim(buyer.client, batch["id"])
    paying = (await checkout(buyer, room, shop.inspected_sku, mine["id"])).json()
    assert await claim_state(app, mine["id"]) == ClaimState.USED
    r = await buyer.client.post(f"/api/v1/payments/{paying['id']}/cancel")
    assert r.status_code == 200 and r.json()["orders"][0]["state"] == "cancelled", r.text
    assert await claim_state(app, mine["id"]) == ClaimState.AVAILABLE
    again = await checkout(buyer, room, shop.inspected_sku, mine["id"])
    assert again.status_code == 201 and again.json()["orders"][0]["discount_fen"] == 1000, again.text


async def test_the_coupon_comes_back_when_the_order_expires_unpaid(app: FastAPI, shop: LiveOrg, buyer: Buyer) -> None:
    room = await live_session(shop)
    batch = await issue(shop["organiser"], shop.slug, batch_body(room))
    mine = await claim(buyer.client, batch["id"])
    (order_id,) = await _buy(app, buyer, room, shop.inspected_sku, mine["id"])
    async with app.state.ctx.uow() as uow:
        assert await payments.close_expired(uow, app.state.ctx.gate, utcnow() + timedelta(hours=1)) == 1
    async with app.state.ctx.uow(write=False) as uow:
        order = await uow.session.get(Order, order_id)
        assert order is not None and order.state == OrderState.EXPIRED and order.coupon_claim_id == mine["id"]
        returned = await uow.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "coupon.return"))
        assert returned is not None and returned.details["order_id"] == order_id
    assert await claim_state(app, mine["id"]) == ClaimState.AVAILABLE


async def _buy(app: FastAPI, buyer: Buyer, room: int, sku: int, coupon: int) -> list[int]:
    ctx = app.state.ctx

    class Provider:
        name = "test"

    async with ctx.uow() as uow:
        user = await uow.session.get(User, buyer.user_id)
        done = await payments.checkout(
            uow,
            ctx.gate,
            Provider(),
            user,
            [Wanted(sku, 1, room)],
            buyer.address_id,  # type: ignore[arg-type]
            pay_minutes=15,
            coupon_claim_id=coupon,
        )
        ids = [o.id for o in done.placed.orders]
    async with ctx.uow(write=False) as uow:
        links = await uow.session.scalar(sa.select(sa.func.count(PaymentOrder.id)))
        assert links == len(ids)
    return ids


async def test_store_and_product_coupons_apply_to_their_own_goods(
    app: FastAPI, make_client: MakeClient, shop: LiveOrg
) -> None:
    room = await live_session(shop)
    buyer = await make_buyer(make_client, "scoped")
    product_coupon = await issue(
        shop["supplier"],
        shop.slug,
        batch_body(
            None,
            scope="product",
            product_id=await _product_of(app, shop.uninspected_sku),
            kind="fixed",
            amount_off_fen=300,
            min_spend_fen=0,
        ),
    )
    mine = await claim(buyer.client, product_coupon["id"])
    # the room's SKU is another product: the coupon does not apply
    r = await checkout(buyer, room, shop.inspected_sku, mine["id"])
    assert r.status_code == 409, r.text
    r = await buyer.client.post(
        "/api/v1/checkout",
        json={
            "items": [{"sku_id": shop.uninspected_sku, "quantity": 1}],
            "address_id": buyer.address_id,
            "coupon_claim_id": mine["id"],
        },
    )
    assert r.status_code == 201 and r.json()["orders"][0]["discount_fen"] == 300, r.text


async def _product_of(app: FastAPI, sku_id: int) -> int:
    from fieldcast.catalog.models import Sku

    async with app.state.ctx.uow(write=False) as uow:
        sku = await uow.session.get(Sku, sku_id)
        assert sku is not None
        return sku.product_id
