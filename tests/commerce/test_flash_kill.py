"""A flash sale through two app processes on PostgreSQL and Redis, one of them killed (SIGKILL)
in the middle: 2,000 buyers for 100 units over HTTP, retrying on the other process with the same
Idempotency-Key when theirs dies, and paying through the provider's signed notifications as they
go. Nothing is oversold, no paid order is lost, and the reconciler restores the counts the killed
process left taken in Redis (the units then sell to the next buyers). Taps are claimed in Redis
(202) and their orders written just behind: the claims the killed process was handed and never
wrote are taken over and written by the other one (payments/claims.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa

from fieldcast.bootstrap import table_metadata
from fieldcast.commerce.gate import RedisGate
from fieldcast.commerce.models import Order, OrderState
from fieldcast.commerce.reconcile import reconcile
from fieldcast.config import Settings
from fieldcast.db.base import utcnow
from fieldcast.db.engine import Database
from fieldcast.live.models import ShelfItem
from fieldcast.payments.models import Payment, PaymentState
from fieldcast.payments.sandbox import sandbox_secret, signed_headers
from tests.commerce.shop import Shop, check_invariants, crowd, open_shop
from tests.conftest import REDIS_URL, TEST_SECRET, free_port, redis_or_skip, wipe

ATTEMPTS = 2000
UNITS = 100
KILL_AFTER = 60  # attempts sent before the first process is killed (units still on sale)
AT_ONCE = 48
PAYING = 0.5  # the share of successful buyers who pay at once

pytestmark = [pytest.mark.timeout(300), pytest.mark.redis]


ONLY_BACKEND = "postgres"  # two app processes on one database, as production runs


@contextlib.asynccontextmanager
async def app_process(database_url: str, data_dir: Path) -> AsyncIterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    env = {
        **os.environ,
        "FIELDCAST_DATABASE_URL": database_url,
        "FIELDCAST_REDIS_URL": REDIS_URL,
        "FIELDCAST_SECRET_KEY": TEST_SECRET,
        "FIELDCAST_DATA_DIR": str(data_dir),
        "FIELDCAST_PORT": str(port),
        "FIELDCAST_LOG_LEVEL": "warning",
        "FIELDCAST_PAYMENT_SANDBOX_DUPLICATE_RATE": "0",
        "FIELDCAST_PAYMENT_SANDBOX_LATE_RATE": "0",
        # Claims the killed process was handed are taken over this soon by the other one.
        "FIELDCAST_FLASH_CLAIM_IDLE_S": "2",
    }
    proc = subprocess.Popen([sys.executable, "-m", "fieldcast", "serve"], env=env)  # noqa: ASYNC220
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as probe, asyncio.timeout(60):
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await probe.get("/healthz")).status_code == 200:
                        break
                assert proc.poll() is None, "the app process exited"
                await asyncio.sleep(0.2)
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(20)
        if proc.poll() is None:
            proc.kill()


async def seed(db: Database) -> tuple[Shop, list[tuple[str, int]]]:
    """The show and its flash sale; ATTEMPTS buyers, each with an API token and an address."""
    async with db.uow() as uow:
        shop = await open_shop(uow, sku_stock=10 * UNITS, pool=UNITS, per_buyer_limit=1, buyers=1)
        buyers = await crowd(uow, ATTEMPTS, tokens=True)
        return shop, list(zip(buyers.tokens, buyers.address_ids, strict=True))


async def test_a_process_killed_mid_sale_oversells_nothing_and_loses_no_paid_order(
    database_url: str, tmp_path: Path
) -> None:
    await redis_or_skip()
    table_metadata()
    db = Database(database_url)
    await wipe(db.engine)
    gate = RedisGate(REDIS_URL)
    shop, buyers = await seed(db)
    await gate.drop(shop.session_id, shop.skus[0])
    secret = sandbox_secret(Settings(secret_key=TEST_SECRET, data_dir=tmp_path))
    paid: list[int] = []  # payments whose notification the app acknowledged as applied
    outcomes: dict[str, int] = {"ordered": 0, "sold_out": 0, "retried": 0, "claimed": 0}

    async with (
        app_process(database_url, tmp_path / "a") as (base_a, proc_a),
        app_process(database_url, tmp_path / "b") as (base_b, _proc_b),
    ):
        clients = {base: httpx.AsyncClient(base_url=base, timeout=30) for base in (base_a, base_b)}
        slots = asyncio.Semaphore(AT_ONCE)
        sent = 0
        killed = asyncio.Event()

        async def call(base: str, method: str, path: str, token: str, **kw: Any) -> tuple[str, httpx.Response]:
            """To `base`; if its process is gone, the same request (same key) to the other."""
            headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
            try:
                return base, await clients[base].request(method, path, headers=headers, **kw)
            except httpx.TransportError:
                other = base_b if base == base_a else base_a
                outcomes["retried"] += 1
                return other, await clients[other].request(method, path, headers=headers, **kw)

        async def buy(n: int, token: str, address_id: int) -> None:
            nonlocal sent
            async with slots:
                sent += 1
                if sent == KILL_AFTER:
                    proc_a.send_signal(signal.SIGKILL)  # mid-sale, requests in flight on it
                    killed.set()
                base = base_a if n % 2 else base_b
                line = {"sku_id": shop.skus[0], "quantity": 1, "session_id": shop.session_id}
                base, r = await call(
                    base, "POST", "/api/v1/checkout", token,
                    json={"items": [line], "address_id": address_id},
                    headers={"Idempotency-Key": f"buy-{n}"},
                )  # fmt: skip
                if r.status_code == 409:
                    outcomes["sold_out"] += 1
                    return
                if r.status_code == 202:  # claimed in Redis: wait for the order (payments/claims.py)
                    outcomes["claimed"] += 1
                    claim_path = r.headers["location"]
                    while r.status_code == 202:
                        await asyncio.sleep(0.2)
                        base, r = await call(base, "GET", claim_path, token)
                    assert r.status_code == 200 and r.json()["state"] == "ordered", r.text
                    payment = r.json()["payment"]
                else:
                    assert r.status_code == 201, r.text
                    payment = r.json()
                outcomes["ordered"] += 1
                if n % int(1 / PAYING):
                    return
                base, opened = await call(base, "POST", f"/api/v1/payments/{payment['id']}/open", token)
                assert opened.status_code == 200, opened.text
                body = orjson.dumps(
                    {
                        "id": f"kill-{payment['id']}",
                        "event_type": "TRANSACTION.SUCCESS",
                        "out_trade_no": opened.json()["pay_url"].rsplit("/", 1)[1],
                        "transaction_id": f"42000{payment['id']:023d}",
                        "amount_fen": payment["amount_fen"],
                        "paid_at": utcnow().isoformat(),
                    }
                )
                _, ack = await call(
                    base,
                    "POST",
                    "/api/v1/payments/notify/sandbox",
                    token,
                    content=body,
                    headers=signed_headers(secret, body),
                )
                assert ack.status_code == 200, ack.text
                if ack.json()["outcome"] == "applied":
                    paid.append(payment["id"])

        try:
            await asyncio.gather(*(buy(n, t, a) for n, (t, a) in enumerate(buyers)))
            assert killed.is_set()
            assert outcomes["ordered"] + outcomes["sold_out"] == ATTEMPTS, outcomes
            assert outcomes["retried"] > 0, outcomes  # requests were in flight on the killed process
            assert outcomes["claimed"] > 0, outcomes  # a flash sale's taps are decided in Redis
            left = await settled(db, shop, paid)

            # What the killed process took in Redis and never committed: the gate says sold out
            # while the database still has those units. The reconciler gives them back...
            repairs = await reconcile(db.uow, gate)
            held = await gate.state(shop.session_id, shop.skus[0])
            assert held is not None and held.available == left, (repairs, held, left)
            assert (repairs != []) == (left > 0)
            assert await reconcile(db.uow, gate) == []
            # ... and the next buyers get them: in the end exactly the units are sold.
            base_a = base_b  # only one process is left
            late = [(ATTEMPTS + n, token, address) for n, (token, address) in enumerate(buyers[-200:])]
            await asyncio.gather(*(buy(n, t, a) for n, t, a in late))
            assert await settled(db, shop, paid) == 0
        finally:
            for client in clients.values():
                await client.aclose()
            await gate.close()
            await db.dispose()


async def settled(db: Database, shop: Shop, paid: list[int]) -> int:
    """Check what the sale left: nothing oversold, every acknowledged payment paid, the units
    adding up. Returns the units still available in the database."""
    async with db.uow(write=False) as uow:
        holding = await uow.session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(Order.units), 0)).where(
                Order.state.in_([OrderState.PENDING_PAYMENT, OrderState.PAID])
            )
        )
        assert holding <= UNITS  # nothing oversold
        rows = await uow.session.execute(sa.select(Payment.id, Payment.state).where(Payment.id.in_(paid)))
        states = {payment_id: state for payment_id, state in rows}
        assert set(states) == set(paid) and set(states.values()) <= {PaymentState.PAID}  # no paid order lost
        await check_invariants(uow, shop)
        item = await uow.session.get(ShelfItem, shop.shelf_item_id)
        assert item is not None
        assert holding + item.session_available == UNITS
        return item.session_available
