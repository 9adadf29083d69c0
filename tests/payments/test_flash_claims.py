"""Flash-sale claims (payments/claims.py) on Redis: a tap with an Idempotency-Key is decided in the
gate and answered 202 with a claim; the order and payment are written just behind through the
real checkout, and the claim says "ordered" with that payment (or "failed", its units back on
sale). A replay of the key gets the claim while it is written and the order once it is; a claim
handed out twice is written once; the reconciler leaves a pool with claims in flight alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.commerce.checkout import load_pool
from fieldcast.commerce.gate import Claim, Peeked, RedisGate
from fieldcast.commerce.models import Order
from fieldcast.commerce.reconcile import reconcile
from fieldcast.db.base import utcnow
from fieldcast.db.outbox import OutboxMessage
from fieldcast.live.models import ShelfItem
from fieldcast.payments import fast_refusal
from fieldcast.payments.claims import FAILED, ORDERED, ClaimWriter, new_claim_id, write_claim
from fieldcast.payments.models import Payment
from tests.commerce.shop import Crowd, Shop, crowd, open_shop
from tests.conftest import REDIS_URL, redis_or_skip
from tests.media.conftest import fresh_app, media_settings

pytestmark = pytest.mark.redis
ON_BOTH_BACKENDS = True


async def app_with(database_url: str, tmp_path: Path, **overrides: Any) -> FastAPI:
    await redis_or_skip()
    return await fresh_app(media_settings(database_url, tmp_path, redis_url=REDIS_URL, upkeep=False, **overrides))


@pytest.fixture
async def claims_app(database_url: str, tmp_path: Path) -> AsyncIterator[FastAPI]:
    app = await app_with(database_url, tmp_path)  # claims on, a writer in the app
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def quiet_app(database_url: str, tmp_path: Path) -> AsyncIterator[FastAPI]:
    app = await app_with(database_url, tmp_path, flash_claims=False)  # no writer: the test writes
    async with app.router.lifespan_context(app):
        yield app


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def flash_sale(app: FastAPI, *, pool: int, buyers: int = 4) -> tuple[Shop, Crowd]:
    """A flash sale that started a minute ago, per-buyer limit 1, loaded into the gate."""
    async with app.state.ctx.uow() as uow:
        shop = await open_shop(uow, sku_stock=50, pool=pool, per_buyer_limit=1, buyers=0)
        people = await crowd(uow, buyers, tokens=True)
    await flash_starts(app, shop, utcnow() - timedelta(minutes=1))
    return shop, people


async def flash_starts(app: FastAPI, shop: Shop, at: datetime | None) -> None:
    """Set the item's flash-sale start (None: not a flash sale) and load it into the gate."""
    async with app.state.ctx.uow() as uow:
        item = await uow.session.get(ShelfItem, shop.shelf_item_id)
        assert item is not None
        item.flash_starts_at = at
        await uow.session.flush()
        await load_pool(uow, app.state.ctx.gate, shop.session_id, shop.skus[0])


def tap(shop: Shop, address_id: int) -> dict[str, Any]:
    return {"items": [{"sku_id": shop.skus[0], "quantity": 1, "session_id": shop.session_id}], "address_id": address_id}


async def buy(http: httpx.AsyncClient, people: Crowd, n: int, payload: dict[str, Any], key: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {people.tokens[n]}", "Idempotency-Key": key}
    return await http.post("/api/v1/checkout", json=payload, headers=headers)


async def settled(http: httpx.AsyncClient, token: str, claim_id: str) -> dict[str, Any]:
    """Poll the claim until it is no longer pending."""
    for _ in range(200):
        r = await http.get(f"/api/v1/checkout/claims/{claim_id}", headers={"Authorization": f"Bearer {token}"})
        if r.status_code != 202:
            assert r.status_code == 200, r.text
            return dict(r.json())
        assert r.json()["state"] == "pending" and r.headers["retry-after"] == "1"
        await asyncio.sleep(0.05)
    raise AssertionError("the claim was never written")


async def orders_of(app: FastAPI, buyer_id: int) -> list[Order]:
    async with app.state.ctx.uow(write=False) as uow:
        return list(await uow.session.scalars(sa.select(Order).where(Order.buyer_id == buyer_id)))


async def stock_notices(app: FastAPI, session_id: int) -> list[dict[str, Any]]:
    async with app.state.ctx.uow(write=False) as uow:
        rows = await uow.session.scalars(
            sa.select(OutboxMessage)
            .where(OutboxMessage.key == str(session_id), OutboxMessage.event_type == "shelf.stock")
            .order_by(OutboxMessage.id)
        )
        return [dict(row.payload) for row in rows]


async def test_a_tap_is_claimed_at_once_and_its_order_written_just_behind(claims_app: FastAPI) -> None:
    shop, people = await flash_sale(claims_app, pool=2)
    gate: RedisGate = claims_app.state.ctx.gate
    async with client(claims_app) as http:
        first = await buy(http, people, 0, tap(shop, people.address_ids[0]), "c0")
        assert first.status_code == 202, first.text
        claim_id = first.json()["claim_id"]
        assert first.json()["state"] == "pending"
        assert first.headers["location"] == f"/api/v1/checkout/claims/{claim_id}"
        assert first.headers["x-content-type-options"] == "nosniff"

        done = await settled(http, people.tokens[0], claim_id)
        assert done["state"] == ORDERED and done["problem"] is None, done
        payment = done["payment"]
        [order] = await orders_of(claims_app, people.user_ids[0])
        assert [o["id"] for o in payment["orders"]] == [order.id]
        assert order.session_id == shop.session_id and order.units == 1 and order.total_fen == payment["amount_fen"]
        async with claims_app.state.ctx.uow(write=False) as uow:
            stored = await uow.session.get(Payment, payment["id"])
            assert stored is not None and stored.buyer_id == people.user_ids[0]

        # The buyer's retry of the same request: the order, as POST /checkout answers it.
        replay = await buy(http, people, 0, tap(shop, people.address_ids[0]), "c0")
        assert replay.status_code == 201 and replay.headers.get("idempotent-replayed") == "true", replay.text
        assert replay.json()["id"] == payment["id"]

        # One unit left: the next buyer claims it, the one after is refused at once.
        second = await buy(http, people, 1, tap(shop, people.address_ids[1]), "c1")
        assert second.status_code == 202, second.text
        late = await buy(http, people, 2, tap(shop, people.address_ids[2]), "c2")
        assert late.status_code == 409 and late.json()["code"] == "sold_out", late.text
        assert (await settled(http, people.tokens[1], second.json()["claim_id"]))["state"] == ORDERED

        # A claim is its buyer's alone; a malformed id is refused with the field at fault.
        other = await http.get(
            f"/api/v1/checkout/claims/{claim_id}", headers={"Authorization": f"Bearer {people.tokens[3]}"}
        )
        assert other.status_code == 404, other.text
        bad = await http.get("/api/v1/checkout/claims/nope", headers={"Authorization": f"Bearer {people.tokens[0]}"})
        assert bad.status_code == 422 and "claim_id" in bad.text
        anonymous = await http.get(f"/api/v1/checkout/claims/{claim_id}")
        assert anonymous.status_code == 401

    state = await gate.state(shop.session_id, shop.skus[0])
    assert state is not None and (state.available, state.pending) == (0, 0)
    assert state.buyers == {people.user_ids[0]: 1, people.user_ids[1]: 1}
    assert await reconcile(claims_app.state.ctx.uow, gate) == []  # the gate and the database agree


async def test_a_retry_while_the_order_is_written_gets_the_same_claim(
    claims_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop, people = await flash_sale(claims_app, pool=1)
    writer: ClaimWriter = claims_app.state.claim_writer
    release = asyncio.Event()
    write = writer.write

    async def slow_write(claim: Claim) -> Any:
        await release.wait()
        return await write(claim)

    monkeypatch.setattr(writer, "write", slow_write)
    monkeypatch.setattr(fast_refusal, "SOLD_OUT_HINT_S", 60.0)  # the replay below takes the light peek
    async with client(claims_app) as http:
        first = await buy(http, people, 0, tap(shop, people.address_ids[0]), "r0")
        assert first.status_code == 202, first.text
        # Sold out now: the process looks at the sale with the light peek for a moment, and a
        # retry still finds its claim there.
        late = await buy(http, people, 1, tap(shop, people.address_ids[1]), "r1")
        assert late.status_code == 409 and late.json()["code"] == "sold_out", late.text
        again = await buy(http, people, 0, tap(shop, people.address_ids[0]), "r0")
        assert again.status_code == 202, again.text
        assert again.json()["claim_id"] == first.json()["claim_id"]  # the same claim, nothing taken twice
        state = await claims_app.state.ctx.gate.state(shop.session_id, shop.skus[0])
        assert state is not None and (state.available, state.pending) == (0, 1)
        # The room hears that the sale sold out while the order is still to be written.
        for _ in range(40):
            notices = await stock_notices(claims_app, shop.session_id)
            if notices:
                break
            await asyncio.sleep(0.05)
        assert notices and notices[-1] == {"sku_id": shop.skus[0], "available": 0, "sold_out": True}, notices
        assert await orders_of(claims_app, people.user_ids[0]) == []
        release.set()
        done = await settled(http, people.tokens[0], first.json()["claim_id"])
        assert done["state"] == ORDERED
        replay = await buy(http, people, 0, tap(shop, people.address_ids[0]), "r0")
        assert replay.status_code == 201 and replay.json()["id"] == done["payment"]["id"], replay.text
    assert len(await orders_of(claims_app, people.user_ids[0])) == 1


async def test_a_claim_the_database_refuses_fails_and_its_units_go_back(claims_app: FastAPI) -> None:
    shop, people = await flash_sale(claims_app, pool=1)
    gate: RedisGate = claims_app.state.ctx.gate
    async with client(claims_app) as http:
        # Someone else's address: the gate cannot know, the checkout refuses it.
        claimed = await buy(http, people, 0, tap(shop, people.address_ids[1]), "f0")
        assert claimed.status_code == 202, claimed.text
        failed = await settled(http, people.tokens[0], claimed.json()["claim_id"])
        assert failed["state"] == FAILED and failed["payment"] is None
        assert failed["problem"]["code"] == "bad_address" and failed["problem"]["errors"][0]["field"] == "address_id"
        assert await orders_of(claims_app, people.user_ids[0]) == []
        state = await gate.state(shop.session_id, shop.skus[0])
        assert state is not None and (state.available, state.pending, state.buyers) == (1, 0, {})

        # The unit is on sale again: the next buyer gets it.
        again = await buy(http, people, 1, tap(shop, people.address_ids[1]), "f1")
        assert again.status_code == 202, again.text
        assert (await settled(http, people.tokens[1], again.json()["claim_id"]))["state"] == ORDERED


async def test_without_a_key_or_off_a_flash_sale_the_tap_waits_for_its_order(claims_app: FastAPI) -> None:
    shop, people = await flash_sale(claims_app, pool=3)
    async with client(claims_app) as http:
        no_key = await http.post(
            "/api/v1/checkout",
            json=tap(shop, people.address_ids[0]),
            headers={"Authorization": f"Bearer {people.tokens[0]}"},
        )
        assert no_key.status_code == 201, no_key.text
        await flash_starts(claims_app, shop, None)  # the same item, no longer a flash sale
        plain = await buy(http, people, 1, tap(shop, people.address_ids[1]), "p1")
        assert plain.status_code == 201, plain.text


async def test_a_claim_handed_out_twice_is_written_once(quiet_app: FastAPI) -> None:
    shop, people = await flash_sale(quiet_app, pool=3)
    ctx = quiet_app.state.ctx
    gate: RedisGate = ctx.gate
    async with client(quiet_app) as http:  # claims off: the API makes none, the test makes them below
        assert (await buy(http, people, 3, tap(shop, people.address_ids[3]), "x")).status_code == 201
    version = str(await ctx.auth_version.current())
    made = []
    for n in (0, 1):  # as the fast path makes them
        claim = Claim(
            new_claim_id(),
            people.user_ids[n],
            shop.session_id,
            shop.skus[0],
            1,
            people.address_ids[n],
            f"{n}" * 64,
            "7" * 64,
        )
        peek = await gate.claim(claim, seen_key=f"fc:flash-seen:test-{claim.claim_id}", auth_version=version)
        assert peek.verdict is Peeked.CLAIMED and peek.claim_id == claim.claim_id
        made.append(claim.claim_id)
    # The reconciler leaves the pool alone while claims are not written: the database still has
    # the units the gate has sold.
    held = await gate.state(shop.session_id, shop.skus[0])
    assert held is not None and (held.available, held.pending) == (0, 2)
    assert await reconcile(ctx.uow, gate) == []
    assert (await gate.state(shop.session_id, shop.skus[0])) == held

    dead = ClaimWriter(gate, ctx.uow, ctx.payment_provider, 15, idle_s=0.2)
    handed = [c for c in await gate.next_claims(dead.consumer, count=50, block_ms=None) if c.claim_id in made]
    assert [c.claim_id for c in handed] == made  # ... and its process dies before writing them
    await asyncio.sleep(0.3)
    heir = ClaimWriter(gate, ctx.uow, ctx.payment_provider, 15, idle_s=0.2)
    taken_over = [c for c in await gate.stalled_claims(heir.consumer, idle_ms=200, count=50) if c.claim_id in made]
    assert [c.claim_id for c in taken_over] == made
    first = await heir.write(taken_over[0])
    # The room hears the gate's figure last: sold out, though the database has a unit left until
    # the second claim is written.
    async with ctx.uow(write=False) as uow:
        item = await uow.session.get(ShelfItem, shop.shelf_item_id)
        assert item is not None and item.session_available == 1
        last = await uow.session.scalar(
            sa.select(OutboxMessage)
            .where(OutboxMessage.key == str(shop.session_id), OutboxMessage.event_type == "shelf.stock")
            .order_by(OutboxMessage.id.desc())
            .limit(1)
        )
        assert last is not None and last.payload["available"] == 0 and last.payload["sold_out"] is True
    # The first writer comes back to life and writes it too: it finds the order, writes nothing.
    second = await write_claim(ctx.uow, gate, ctx.payment_provider, handed[0], 15)
    assert first.state == second.state == ORDERED and first.result == second.result
    assert len(await orders_of(quiet_app, people.user_ids[0])) == 1
    record = await gate.claim_record(made[0])
    assert record is not None and record["state"] == ORDERED
    assert (await heir.write(taken_over[1])).state == ORDERED
    state = await gate.state(shop.session_id, shop.skus[0])
    assert state is not None and (state.available, state.pending) == (0, 0)
    assert await reconcile(ctx.uow, gate) == []
