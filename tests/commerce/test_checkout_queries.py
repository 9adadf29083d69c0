"""Checkout is the hot path of a flash sale: its query count is pinned, so a later change cannot
quietly add a query per buyer."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import FastAPI

from fieldcast.db.base import utcnow
from tests.conftest import QueryCounter
from tests.factories import MakeClient, live_session, make_live_org, viewers

# Sealing the transaction's audit entries into the hash chain at commit (db/audit_chain.py): read
# the chain's head, chain the entries, move the head; PostgreSQL first takes the chain's lock.
AUDIT_SEAL = {"sqlite": 3, "postgres": 4}


async def test_a_checkout_in_a_live_room_costs_a_fixed_number_of_queries(
    app: FastAPI, make_client: MakeClient, queries: QueryCounter, backend: str
) -> None:
    org = await make_live_org(app, make_client, "hotpath")
    room = await live_session(org)
    (buyer,) = await viewers(make_client, 1)
    body = {"recipient": "王小明", "phone": "13812341234", "region_code": "420527", "street": "江边路1号"}
    r = await buyer.post("/api/v1/me/addresses", json=body)
    assert r.status_code == 201, r.text
    address_id = r.json()["id"]

    async def checkout(quantity: int) -> list[str]:
        line: dict[str, Any] = {"sku_id": org.inspected_sku, "quantity": quantity, "session_id": room}
        async with queries.counting() as statements:
            r = await buyer.post("/api/v1/checkout", json={"items": [line], "address_id": address_id})
        assert r.status_code == 201, r.text
        return list(statements)

    first, second = await checkout(1), await checkout(2)
    assert len(first) == len(second), (first, second)  # the buyer's history does not add queries
    # the buyer; the address; the SKU with its product, the shelf item with its show; the host
    # explaining now; the supplier; the order and its line; the audit entries and the order event;
    # the payment and its order link; then, last, reserve the SKU and the show pool (the shelf's
    # live stock comes back from those UPDATEs); the audit chain's seal at commit. The response is
    # made from the orders just written, not read back.
    assert len(first) == 16 + AUDIT_SEAL[backend], "\n".join(first)


async def test_a_coupon_adds_a_fixed_number_of_queries_to_checkout(
    app: FastAPI, make_client: MakeClient, queries: QueryCounter, backend: str
) -> None:
    org = await make_live_org(app, make_client, "hotcoupon")
    room = await live_session(org)
    (buyer,) = await viewers(make_client, 1)
    body = {"recipient": "王小明", "phone": "13812341234", "region_code": "420527", "street": "江边路1号"}
    address_id = (await buyer.post("/api/v1/me/addresses", json=body)).json()["id"]
    ends = (utcnow() + timedelta(hours=1)).isoformat()
    claims = []
    for n in range(2):
        batch = {"title": f"券{n}", "kind": "fixed", "amount_off_fen": 100, "scope": "session", "session_id": room}
        batch |= {"total": 10, "claim_ends_at": ends}
        made = await org["organiser"].post(f"/api/v1/organisations/{org.slug}/coupons", json=batch)
        assert made.status_code == 201, made.text
        claims.append((await buyer.post(f"/api/v1/coupons/{made.json()['id']}/claim")).json()["id"])
    line = {"sku_id": org.inspected_sku, "quantity": 1, "session_id": room}
    counts = []
    for claim_id in claims:
        async with queries.counting() as statements:
            r = await buyer.post(
                "/api/v1/checkout", json={"items": [line], "address_id": address_id, "coupon_claim_id": claim_id}
            )
        assert r.status_code == 201 and r.json()["orders"][0]["discount_fen"] == 100, r.text
        counts.append(len(statements))
    # the 16 + AUDIT_SEAL of a checkout without one, plus: the claim with its batch, and marking it
    # used (the order's audit entry names the coupon)
    assert counts == [18 + AUDIT_SEAL[backend]] * 2, counts
