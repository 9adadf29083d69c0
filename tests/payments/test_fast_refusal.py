"""The flash-sale fast path (payments/fast_refusal.py) on Redis: a buyer who comes too late is
refused before the database (sold out, over the limit, not started), with the very problem the
full checkout gives; everything else reaches the full checkout unchanged (other purchases, bad
tokens, malformed bodies, cookie sessions), a revoked token is refused as before (401), and a
replay of an order that succeeded returns that order, not a 409.

"Before the database" is checked by counting the request's queries: none with a token seen
within the cache's TTL, one (the token's lookup) otherwise; the full checkout costs many more."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy import exc as sa_exc

from fieldcast.accounts import actions as account_actions
from fieldcast.accounts.models import ApiToken, User
from fieldcast.accounts.security import hash_token
from fieldcast.commerce.checkout import load_pool
from fieldcast.commerce.reconcile import reconcile
from fieldcast.db.base import utcnow
from fieldcast.live.models import ShelfItem
from fieldcast.payments import actions as payment_actions
from fieldcast.payments.fast_refusal import FastRefusal, read_tap
from fieldcast.web.outer import OuterApp
from tests.commerce.shop import Crowd, Shop, crowd, open_shop
from tests.conftest import REDIS_URL, QueryCounter, redis_or_skip
from tests.media.conftest import fresh_app, media_settings

pytestmark = pytest.mark.redis
ON_BOTH_BACKENDS = True  # the token lookup has its own asyncpg pool on PostgreSQL


@pytest.fixture
async def redis_app(database_url: str, tmp_path: Path) -> AsyncIterator[FastAPI]:
    await redis_or_skip()
    # Claims off: every tap the gate does not refuse goes on to the full checkout (claims, which
    # decide a flash sale's taps in the gate, are tested in test_flash_claims.py).
    settings = media_settings(database_url, tmp_path, redis_url=REDIS_URL, upkeep=False, flash_claims=False)
    app = await fresh_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def http(redis_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=redis_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def sale(app: FastAPI, *, pool: int, limit: int | None, buyers: int = 3) -> tuple[Shop, Crowd]:
    async with app.state.ctx.uow() as uow:
        shop = await open_shop(uow, sku_stock=50, pool=pool, per_buyer_limit=limit, buyers=0)
        people = await crowd(uow, buyers, tokens=True)
    return shop, people


def body(shop: Shop, address_id: int, quantity: int = 1, **extra: Any) -> dict[str, Any]:
    line = {"sku_id": shop.skus[0], "quantity": quantity, "session_id": shop.session_id}
    return {"items": [line], "address_id": address_id, **extra}


async def buy(
    http: httpx.AsyncClient, people: Crowd, n: int, payload: dict[str, Any], key: str | None = None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {people.tokens[n]}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return await http.post("/api/v1/checkout", json=payload, headers=headers)


def lookup_cost(app: FastAPI) -> int:
    """Queries of the token's lookup through the app's engine: one, except on PostgreSQL, where
    it has an asyncpg pool of its own (not counted here)."""
    return 0 if app.state.ctx.db.dialect == "postgresql" else 1


async def counted(queries: QueryCounter, request: Any) -> tuple[httpx.Response, int]:
    async with queries.counting() as statements:
        response = await request
    return response, len(statements)


async def test_a_sold_out_sale_is_refused_before_the_database_and_a_replay_still_gets_its_order(
    redis_app: FastAPI, http: httpx.AsyncClient
) -> None:
    queries = QueryCounter(redis_app)
    shop, people = await sale(redis_app, pool=1, limit=1)
    first, cost = await counted(queries, buy(http, people, 0, body(shop, people.address_ids[0]), key="k0"))
    assert first.status_code == 201, first.text
    assert cost > 10  # the full checkout

    late, cost = await counted(queries, buy(http, people, 1, body(shop, people.address_ids[1]), key="k1"))
    assert late.status_code == 409 and late.json()["code"] == "sold_out", late.text
    assert late.headers["content-type"] == "application/problem+json"
    assert cost == lookup_cost(redis_app)  # the token's lookup, nothing else
    again, cost = await counted(queries, buy(http, people, 1, body(shop, people.address_ids[1]), key="k1b"))
    assert again.status_code == 409 and cost == 0  # the token came from the cache
    assert again.json() == late.json()

    # The same refusal from the full checkout (a cookie session never takes the fast path) says
    # the same thing: only the cost differs.
    in_full = await full_checkout_refusal(redis_app, shop, people.address_ids[2])
    assert in_full.status_code == 409 and in_full.json() == late.json()
    # It is answered in front of the language and security-header middlewares, and still carries
    # what they would add: the site's headers, and the buyer's language.
    for name in ("x-content-type-options", "referrer-policy", "x-frame-options", "content-security-policy"):
        assert late.headers[name] == in_full.headers[name], name
    english = await http.post(
        "/api/v1/checkout",
        json=body(shop, people.address_ids[1]),
        headers={"Authorization": f"Bearer {people.tokens[1]}", "Idempotency-Key": "k1-en", "Accept-Language": "en"},
    )
    assert english.status_code == 409 and english.json()["detail"] == "Sold out.", english.text
    assert late.json()["detail"] != "Sold out."  # zh-CN, the default

    # The buyer who got the last unit retries with the same key: the order, not "sold out".
    replay = await buy(http, people, 0, body(shop, people.address_ids[0]), key="k0")
    assert replay.status_code == 201, replay.text
    assert replay.headers.get("idempotent-replayed") == "true"
    assert replay.json()["id"] == first.json()["id"]

    # Even once that order is called off (its unit back on sale, then sold to someone else, so the
    # buyer holds nothing): the key was seen, so its replay still reaches the stored response.
    order_id = first.json()["orders"][0]["id"]
    headers = {"Authorization": f"Bearer {people.tokens[0]}", "Idempotency-Key": "cancel"}
    assert (await http.post(f"/api/v1/orders/{order_id}/cancel", headers=headers)).status_code == 200
    assert (await buy(http, people, 2, body(shop, people.address_ids[2]), key="k2")).status_code == 201
    assert (await buy(http, people, 1, body(shop, people.address_ids[1]), key="k1c")).status_code == 409
    replay = await buy(http, people, 0, body(shop, people.address_ids[0]), key="k0")
    assert replay.status_code == 201 and replay.json()["id"] == first.json()["id"], replay.text


async def full_checkout_refusal(app: FastAPI, shop: Shop, address_id: int) -> httpx.Response:
    """A signed-in browser's checkout: session cookie and CSRF token, through the full stack."""
    from tests.factories import sign_up

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as browser:
        user = await sign_up(browser, "browser@example.com", "浏览器买家")
        address = {"recipient": "王小明", "phone": "13812341234", "region_code": "420527", "street": "江边路1号"}
        made = await browser.post("/api/v1/me/addresses", json=address)
        assert made.status_code == 201, made.text
        assert user["id"]
        return await browser.post("/api/v1/checkout", json=body(shop, made.json()["id"]))


async def test_over_the_limit_and_not_started_are_refused_before_the_database(
    redis_app: FastAPI, http: httpx.AsyncClient
) -> None:
    queries = QueryCounter(redis_app)
    shop, people = await sale(redis_app, pool=5, limit=1)
    async with redis_app.state.ctx.uow() as uow:  # as the first checkout of the sale does
        await load_pool(uow, redis_app.state.ctx.gate, shop.session_id, shop.skus[0])
    over, cost = await counted(queries, buy(http, people, 0, body(shop, people.address_ids[0], quantity=2), key="a"))
    assert over.status_code == 409 and over.json()["code"] == "per_buyer_limit_reached", over.text
    assert over.json()["errors"][0]["field"] == "quantity"
    assert cost == lookup_cost(redis_app)

    # A buyer who already holds a unit asks again with a new key: the full checkout decides
    # (it might be a replay whose key the gate never saw) and refuses with the same problem.
    assert (await buy(http, people, 1, body(shop, people.address_ids[1]), key="b1")).status_code == 201
    second, cost = await counted(queries, buy(http, people, 1, body(shop, people.address_ids[1]), key="b2"))
    assert second.status_code == 409 and second.json()["code"] == "per_buyer_limit_reached", second.text
    assert cost > 2  # the full stack: the key, the token, the user ...

    async with redis_app.state.ctx.uow() as uow:
        item = await uow.session.get(ShelfItem, shop.shelf_item_id)
        assert item is not None
        item.flash_starts_at = utcnow() + timedelta(hours=1)
        await uow.session.flush()
        await load_pool(uow, redis_app.state.ctx.gate, shop.session_id, shop.skus[0])
    early, cost = await counted(queries, buy(http, people, 2, body(shop, people.address_ids[2]), key="c"))
    assert early.status_code == 409 and early.json()["code"] == "flash_sale_not_started", early.text
    assert cost == lookup_cost(redis_app)


async def test_everything_else_reaches_the_full_checkout(redis_app: FastAPI, http: httpx.AsyncClient) -> None:
    queries = QueryCounter(redis_app)
    shop, people = await sale(redis_app, pool=1, limit=1)
    assert (await buy(http, people, 0, body(shop, people.address_ids[0]))).status_code == 201  # sold out now

    # A bad token: the full stack's 401, whatever the stock.
    bad = await http.post(
        "/api/v1/checkout", json=body(shop, people.address_ids[1]), headers={"Authorization": "Bearer nope"}
    )
    assert bad.status_code == 401 and bad.json()["code"] == "not_authenticated", bad.text

    # Malformed bodies: the full stack's 422 with the field at fault.
    for payload, field in (
        (body(shop, people.address_ids[1], quantity=0), "items.0.quantity"),
        (body(shop, people.address_ids[1], colour="red"), "colour"),
        ({"items": [], "address_id": people.address_ids[1]}, "items"),
        ({**body(shop, people.address_ids[1]), "address_id": "x"}, "address_id"),
    ):
        r = await buy(http, people, 1, payload)
        assert r.status_code == 422 and r.json()["code"] == "invalid", r.text
        assert field in {e["field"] for e in r.json()["errors"]}, r.text
    broken = await http.post(
        "/api/v1/checkout",
        content=b"{not json",
        headers={"Authorization": f"Bearer {people.tokens[1]}", "Content-Type": "application/json"},
    )
    assert broken.status_code == 422, broken.text

    # The same SKU bought from the storefront (not in the room): not the sale's pool.
    storefront = {"items": [{"sku_id": shop.skus[0], "quantity": 1}], "address_id": people.address_ids[1]}
    r, cost = await counted(queries, buy(http, people, 1, storefront, key="shop"))
    assert r.status_code == 201 and cost > 10, r.text


def fast_path(app: FastAPI) -> FastRefusal:
    assert isinstance(app, OuterApp)
    layer = app.outer_layer(FastRefusal)
    assert isinstance(layer, FastRefusal)
    return layer


async def test_a_buyer_who_waited_for_a_place_is_looked_at_again_when_it_comes(
    redis_app: FastAPI, http: httpx.AsyncClient
) -> None:
    """The first look remembers the request's key (so that a replay gets through): the look when
    its place comes must not take that for a replay, or every buyer who waited would reach the
    full checkout after the sale sold out."""
    shop, people = await sale(redis_app, pool=2, limit=1)
    assert (await buy(http, people, 0, body(shop, people.address_ids[0]), key="w0")).status_code == 201
    fast = fast_path(redis_app)
    held = 0
    while not fast.admitting.locked():  # every place among the checkouts let through is taken
        await fast.admitting.acquire()
        held += 1
    try:
        waiting = asyncio.create_task(buy(http, people, 1, body(shop, people.address_ids[1]), key="w1"))
        replaying = asyncio.create_task(buy(http, people, 0, body(shop, people.address_ids[0]), key="w0"))
        await asyncio.sleep(0.3)
        assert not waiting.done() and not replaying.done()  # one unit is left: both wait for a place
        # Someone else (another process) takes the last unit meanwhile.
        taken = await redis_app.state.ctx.gate.take(shop.session_id, shop.skus[0], people.user_ids[2], 1)
        assert taken.name == "YES"
        refused_here = fast.refused
    finally:
        for _ in range(held):
            fast.admitting.release()
    refused = await waiting
    assert refused.status_code == 409 and refused.json()["code"] == "sold_out", refused.text
    assert fast.refused == refused_here + 1  # by the fast path, not by the full checkout
    replay = await replaying  # the replay of a success still gets its order
    assert replay.status_code == 201 and replay.headers.get("idempotent-replayed") == "true", replay.text


async def test_a_revoked_token_is_refused_as_before(redis_app: FastAPI, http: httpx.AsyncClient) -> None:
    shop, people = await sale(redis_app, pool=1, limit=1)
    assert (await buy(http, people, 0, body(shop, people.address_ids[0]))).status_code == 201
    late = await buy(http, people, 1, body(shop, people.address_ids[1]))
    assert late.status_code == 409  # the token is now in this process's cache
    ctx = redis_app.state.ctx
    async with ctx.uow() as uow:
        buyer = await uow.session.get(User, people.user_ids[1])
        token_id = await uow.session.scalar(
            sa.select(ApiToken.id).where(ApiToken.token_hash == hash_token(people.tokens[1]))
        )
        assert buyer is not None and token_id is not None
        await account_actions.revoke_api_token(uow, buyer, token_id)
    after = await buy(http, people, 1, body(shop, people.address_ids[1]))
    assert after.status_code == 401 and after.json()["code"] == "not_authenticated", after.text

    # So is a token whose owner signed out everywhere (every token of the account revoked).
    late = await buy(http, people, 2, body(shop, people.address_ids[2]))
    assert late.status_code == 409
    async with ctx.uow() as uow:
        buyer = await uow.session.get(User, people.user_ids[2])
        assert buyer is not None
        await account_actions.sign_out_everywhere(uow, buyer)
    after = await buy(http, people, 2, body(shop, people.address_ids[2]))
    assert after.status_code == 401, after.text


def test_only_a_plain_one_line_room_checkout_with_a_bearer_token_is_read() -> None:
    headers = [(b"authorization", b"Bearer tok"), (b"content-type", b"application/json")]
    line = b'{"items":[{"sku_id":3,"session_id":2}],"address_id":1}'
    tap = read_tap(headers, line)
    assert tap is not None and (tap.session_id, tap.sku_id, tap.quantity) == (2, 3, 1)
    assert tap.token_hash == hash_token("tok") and tap.idempotency_key is None
    assert read_tap([*headers, (b"idempotency-key", b"k")], line) is not None
    for other_headers in (
        [(b"content-type", b"application/json")],  # no token (a cookie session)
        [(b"authorization", b"Basic x"), (b"content-type", b"application/json")],
        [(b"authorization", b"Bearer tok"), (b"content-type", b"text/plain")],
        [*headers, (b"idempotency-key", b"")],
        [*headers, (b"idempotency-key", b"k" * 256)],
    ):
        assert read_tap(other_headers, line) is None, other_headers
    for other in (
        b'{"items":[{"sku_id":3}],"address_id":1}',  # bought outside a room
        b'{"items":[{"sku_id":3,"session_id":2},{"sku_id":4,"session_id":2}],"address_id":1}',
        b'{"items":[{"sku_id":3,"session_id":2,"quantity":1000}],"address_id":1}',
        b'{"items":[{"sku_id":3,"session_id":2,"quantity":true}],"address_id":1}',
        b'{"items":[{"sku_id":"3","session_id":2}],"address_id":1}',
        b'{"items":[{"sku_id":3,"session_id":2}],"address_id":0}',
        b'{"items":[{"sku_id":3,"session_id":2}],"address_id":1,"extra":1}',
        b'{"items":[{"sku_id":3,"session_id":2}],"address_id":1,"coupon_claim_id":-1}',
        b"[]",
        b"{",
    ):
        assert read_tap(headers, other) is None, other


async def test_the_gate_ends_where_the_database_does_after_orders_failures_and_busy_answers(
    redis_app: FastAPI, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = redis_app.state.ctx
    shop, people = await sale(redis_app, pool=2, limit=1, buyers=4)
    async with ctx.uow() as uow:
        await load_pool(uow, ctx.gate, shop.session_id, shop.skus[0])

    async def gate_holds() -> tuple[int | None, dict[int, int]]:
        state = await ctx.gate.state(shop.session_id, shop.skus[0])
        assert state is not None
        return state.available, {k: v for k, v in state.buyers.items() if v}

    # Let through by the fast path, taken once by the checkout.
    ordered = await buy(http, people, 0, body(shop, people.address_ids[0]), key="a")
    assert ordered.status_code == 201, ordered.text
    assert await gate_holds() == (1, {people.user_ids[0]: 1})

    # Taken, then the checkout fails (someone else's address): the unit goes back with the rollback.
    wrong = await buy(http, people, 1, body(shop, people.address_ids[2]), key="b")
    assert wrong.status_code == 422 and wrong.json()["code"] == "bad_address", wrong.text
    assert await gate_holds() == (1, {people.user_ids[0]: 1})

    # The request ends before the checkout (no connection came free): nothing is held.
    async def busy(*args: object, **kwargs: object) -> None:
        raise sa_exc.TimeoutError("pool exhausted")

    with monkeypatch.context() as patched:
        patched.setattr(payment_actions, "checkout", busy)
        r = await buy(http, people, 2, body(shop, people.address_ids[2]), key="c")
    assert r.status_code == 503 and r.json()["code"] == "busy", r.text
    assert await gate_holds() == (1, {people.user_ids[0]: 1})

    # The last unit sells, then the gate refuses; the database agrees with the gate.
    assert (await buy(http, people, 3, body(shop, people.address_ids[3]), key="d")).status_code == 201
    assert (await buy(http, people, 2, body(shop, people.address_ids[2]), key="c2")).status_code == 409
    assert await gate_holds() == (0, {people.user_ids[0]: 1, people.user_ids[3]: 1})
    assert await reconcile(ctx.uow, ctx.gate) == []
