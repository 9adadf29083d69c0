"""After-sales over HTTP: the API (a retried POST with its Idempotency-Key asks for one refund,
bad input is problem+json naming the field, who may not is refused) and the pages (the form on
the order page, its errors shown again, the supplier's queue and the organiser's escalations)."""

from __future__ import annotations

import secrets

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.accounts.models import ApiToken
from fieldcast.accounts.security import hash_token
from fieldcast.aftersales.models import RefundRequest, RefundRequestState
from fieldcast.db.base import utcnow
from fieldcast.payments.models import Refund
from tests.aftersales.deals import Deal, order_of, paid_deal

API = "/api/v1"


async def token_for(app: FastAPI, user_id: int) -> dict[str, str]:
    secret = secrets.token_urlsafe(24)
    async with app.state.ctx.uow() as uow:
        uow.session.add(
            ApiToken(user_id=user_id, name="t", token_hash=hash_token(secret), prefix=secret[:8], last_used_at=utcnow())
        )
    return {"Authorization": f"Bearer {secret}"}


async def setup(app: FastAPI) -> tuple[Deal, dict[str, str], dict[str, str], dict[str, str]]:
    deal = await paid_deal(app)
    return (
        deal,
        await token_for(app, deal.buyer),
        await token_for(app, deal.supplier),
        await token_for(app, deal.organiser),
    )


async def test_a_retried_request_and_approval_ask_for_one_refund(app: FastAPI, client: httpx.AsyncClient) -> None:
    deal, buyer, supplier, _organiser = await setup(app)
    body = {"kind": "refund_only", "reason": "too_slow", "amount_fen": 500, "quantity": 1}
    first = await client.post(
        f"{API}/orders/{deal.order_id}/refund-requests", json=body, headers={**buyer, "Idempotency-Key": "ask-1"}
    )
    assert first.status_code == 201, first.text
    again = await client.post(
        f"{API}/orders/{deal.order_id}/refund-requests", json=body, headers={**buyer, "Idempotency-Key": "ask-1"}
    )
    assert (again.status_code, again.json()["id"]) == (201, first.json()["id"])
    request_id = first.json()["id"]
    for _ in range(2):
        approved = await client.post(
            f"{API}/refund-requests/{request_id}/approve", headers={**supplier, "Idempotency-Key": "approve-1"}
        )
        assert (approved.status_code, approved.json()["state"]) == (200, "refunding")
    await app.state.ctx.relay.drain()
    async with app.state.ctx.uow(write=False) as uow:
        assert await uow.session.scalar(sa.select(sa.func.count(RefundRequest.id))) == 1
        assert await uow.session.scalar(sa.select(sa.func.count(Refund.id))) == 1
    seen = await client.get(f"{API}/refund-requests/{request_id}", headers=buyer)
    assert (seen.json()["state"], seen.json()["units_back"]) == ("refunded", 1)
    assert (await order_of(app, deal.order_id)).refunded_fen == 500


async def test_bad_input_is_a_problem_naming_the_field(app: FastAPI, client: httpx.AsyncClient) -> None:
    deal, buyer, _supplier, _organiser = await setup(app)
    order = await order_of(app, deal.order_id)
    too_much = await client.post(
        f"{API}/orders/{deal.order_id}/refund-requests",
        json={"kind": "refund_only", "reason": "damaged", "amount_fen": order.total_fen + 1},
        headers={**buyer, "Idempotency-Key": "ask-2"},
    )
    assert too_much.status_code == 422
    assert too_much.headers["content-type"].startswith("application/problem+json")
    assert "amount_fen" in too_much.text
    bad_reason = await client.post(
        f"{API}/orders/{deal.order_id}/refund-requests",
        json={"kind": "refund_only", "reason": "because", "amount_fen": 100},
        headers={**buyer, "Idempotency-Key": "ask-3"},
    )
    assert bad_reason.status_code == 422 and "reason" in bad_reason.text


async def test_who_may_not_is_refused_over_the_api(app: FastAPI, client: httpx.AsyncClient) -> None:
    deal, buyer, supplier, organiser = await setup(app)
    outsider = await token_for(app, deal.outsider)
    body = {"kind": "refund_only", "reason": "damaged", "amount_fen": 100}
    refused = await client.post(
        f"{API}/orders/{deal.order_id}/refund-requests", json=body, headers={**supplier, "Idempotency-Key": "s-ask"}
    )
    assert refused.status_code == 403
    made = await client.post(
        f"{API}/orders/{deal.order_id}/refund-requests", json=body, headers={**buyer, "Idempotency-Key": "b-ask"}
    )
    request_id = made.json()["id"]
    for who, key in ((buyer, "b"), (organiser, "o"), (outsider, "x")):
        answer = await client.post(
            f"{API}/refund-requests/{request_id}/approve", headers={**who, "Idempotency-Key": f"approve-{key}"}
        )
        assert answer.status_code == 403, answer.text
    queue = await client.get(f"{API}/organisations/{await slug_of(app, deal)}/refund-requests", headers=outsider)
    assert queue.status_code == 403
    listed = await client.get(f"{API}/organisations/{await slug_of(app, deal)}/refund-requests", headers=supplier)
    assert [r["id"] for r in listed.json()] == [request_id]


async def slug_of(app: FastAPI, deal: Deal) -> str:
    from fieldcast.accounts.models import Organisation

    async with app.state.ctx.uow(write=False) as uow:
        org = await uow.session.get(Organisation, deal.shop.org_id)
        assert org is not None
        return org.slug


async def test_the_pages_ask_decide_escalate_and_arbitrate(app: FastAPI, client: httpx.AsyncClient) -> None:
    deal, buyer, supplier, organiser = await setup(app)
    page = await client.get(f"/orders/{deal.order_id}", headers=buyer)
    assert page.status_code == 200 and 'data-testid="refund-form"' in page.text
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    wrong = await client.post(
        f"/orders/{deal.order_id}/refund-requests",
        data={"csrf_token": csrf, "kind": "refund_only", "reason": "damaged", "amount": "abc", "quantity": "0"},
        headers=buyer,
    )
    assert wrong.status_code == 422 and 'data-testid="error-amount"' in wrong.text
    asked = await client.post(
        f"/orders/{deal.order_id}/refund-requests",
        data={"csrf_token": csrf, "kind": "refund_only", "reason": "damaged", "amount": "3.00", "quantity": "0"},
        headers=buyer,
    )
    assert asked.status_code == 303, asked.text
    async with app.state.ctx.uow(write=False) as uow:
        req = await uow.session.scalar(sa.select(RefundRequest))
        assert req is not None and req.amount_fen == 300
    slug = await slug_of(app, deal)
    queue = await client.get(f"/orgs/{slug}/after-sales", headers=supplier)
    assert queue.status_code == 200 and f'data-request-id="{req.id}"' in queue.text
    csrf_s = queue.text.split('name="csrf_token" value="')[1].split('"')[0]
    rejected = await client.post(
        f"/refund-requests/{req.id}/reject", data={"csrf_token": csrf_s, "reason": "已发货"}, headers=supplier
    )
    assert rejected.status_code == 303
    escalated = await client.post(
        f"/refund-requests/{req.id}/escalate", data={"csrf_token": csrf, "note": "没收到"}, headers=buyer
    )
    assert escalated.status_code == 303
    board = await client.get(f"/orgs/{slug}/after-sales", headers=organiser)
    assert 'data-testid="refund-escalations"' in board.text and f'data-request-id="{req.id}"' in board.text
    csrf_o = board.text.split('name="csrf_token" value="')[1].split('"')[0]
    granted = await client.post(
        f"/refund-requests/{req.id}/grant", data={"csrf_token": csrf_o, "reason": "同意"}, headers=organiser
    )
    assert granted.status_code == 303
    await app.state.ctx.relay.drain()
    async with app.state.ctx.uow(write=False) as uow:
        done = await uow.session.get(RefundRequest, req.id, populate_existing=True)
        assert done is not None and done.state == RefundRequestState.REFUNDED
    mine = await client.get(f"/orders/{deal.order_id}/after-sales", headers=buyer)
    assert mine.status_code == 200 and 'data-state="refunded"' in mine.text
