"""A flash sale (秒杀) at its worst moment: 20,000 buyers tap Buy at once for 1,000 units.

Three checkouts, in one run, on the same machine, the same PostgreSQL and the same server stack
(uvicorn with uvloop and httptools, the same number of worker processes, FastAPI, SQLAlchemy on
asyncpg with its default pool):

(a) Fieldcast on Redis: `fieldcast serve` with FIELDCAST_REDIS_URL set, so the show's stock and
    per-buyer limits are decided by the Lua gate and only admitted buyers reach the database.
(b) Fieldcast on PostgreSQL alone: the same, without Redis; the guarded
    `UPDATE … WHERE available >= n` on the shelf pool and the SKU decides, inside the order's
    transaction.
(c) The naive checkout, the baseline: a minimal FastAPI endpoint written here (`naive_app`) that
    does `SELECT … FOR UPDATE` on the stock row, then `UPDATE`, then `INSERT` the order, in one
    transaction. No auth, no idempotency, no events: the least work a correct checkout can do.

Both Fieldcast runs go through the real HTTP API (`POST /api/v1/checkout`, with a bearer token,
an Idempotency-Key and the buyer's default address), with everything a production process does
around it (the outbox relay, the room log, the reconciler). Each run gets its own live show with a
flash-sale shelf item of UNITS (per-buyer limit 1) and the same BUYERS accounts.

Buyers arrive as a flash sale's do: CONNECTIONS keep-alive connections are opened first, then at
one instant every connection starts sending, BUYERS requests in all, each buyer once. The client is
a small raw HTTP/1.1 client (an HTTP library costs more CPU per request than the servers under
test, and the machine's cores are shared). Latency is per request, from sending it to its
response. A decision is a 201 (ordered), a 202 (claimed: in (a) the gate takes the unit and the
order is written just behind, payments/claims.py) or a 409 (sold out / over the limit); anything
else is an error and is reported. decisions/s = decisions / (last response - the start instant).
For (a) the run also waits until every claimed order is in the database and reports when that was,
and oversold is read after it.

Oversold is read from the database afterwards: units held by orders beyond the units on sale, plus
any counter gone negative; Fieldcast's invariant sold + reserved + available = stock is checked too.

Usage: .venv/bin/python bench/flashsale.py [--buyers 20000] [--units 1000] [--connections 500]
       [--workers 2] [--postgres-url URL] [--redis-url URL] [--only redis,db,naive]
A throwaway PostgreSQL database is created and dropped; Redis database 13 is flushed (bench only).
Prints a table and, as the last line, one JSON object. Target: oversold 0 everywhere, and (a) at
least 5 times (c) in decisions/s."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
from pydantic import BaseModel

TARGET_RATIO = 5.0
SECRET = "bench-secret-key-not-for-production"  # noqa: S105 (a throwaway server)
NAIVE_ENV = "FLASHSALE_NAIVE_DATABASE_URL"


# --------------------------------------------------------------------------- the naive baseline


class BuyIn(BaseModel):
    buyer_id: int
    item_id: int
    quantity: int


def naive_app() -> Any:
    """The baseline checkout: lock the stock row, check, take, insert the order, commit."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(os.environ[NAIVE_ENV])
    app = FastAPI()

    @app.post("/buy", status_code=201)
    async def buy(body: BuyIn) -> Any:
        async with engine.begin() as conn:
            available = (
                await conn.execute(
                    text("SELECT available FROM naive_stock WHERE id = :id FOR UPDATE"), {"id": body.item_id}
                )
            ).scalar_one()
            if available < body.quantity:
                return JSONResponse({"code": "sold_out"}, status_code=409)
            await conn.execute(
                text("UPDATE naive_stock SET available = available - :q WHERE id = :id"),
                {"q": body.quantity, "id": body.item_id},
            )
            order_id = (
                await conn.execute(
                    text(
                        "INSERT INTO naive_orders (buyer_id, item_id, quantity, created_at) "
                        "VALUES (:b, :i, :q, now()) RETURNING id"
                    ),
                    {"b": body.buyer_id, "i": body.item_id, "q": body.quantity},
                )
            ).scalar_one()
        return {"order_id": order_id}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def serve_naive(port: int, workers: int) -> None:
    import uvicorn

    sys.path.insert(0, str(Path(__file__).parent))
    uvicorn.run(
        "flashsale:naive_app",
        factory=True,
        host="127.0.0.1",
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


# --------------------------------------------------------------------------- the load


@dataclass
class Shot:
    status: int
    latency_s: float
    done_s: float = 0.0  # when the answer came, from the start instant


@dataclass
class Run:
    name: str
    shots: list[Shot] = field(default_factory=list)
    elapsed_s: float = 0.0
    oversold: int = 0
    sold_units: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def outcomes(self) -> Counter[int]:
        return Counter(s.status for s in self.shots)

    written_s: float = 0.0  # when the last claimed order was in the database (claims only)

    @property
    def decisions(self) -> int:
        return sum(1 for s in self.shots if s.status in (201, 202, 409))

    @property
    def errors(self) -> int:
        return len(self.shots) - self.decisions

    @property
    def per_s(self) -> float:
        return self.decisions / self.elapsed_s if self.elapsed_s else 0.0

    def quantile_ms(self, q: float) -> float:
        values = sorted(s.latency_s for s in self.shots)
        if not values:
            return 0.0
        return 1000 * values[min(len(values) - 1, int(q * len(values)))]


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def storm(port: int, requests: list[bytes], connections: int) -> tuple[list[Shot], float]:
    """Open `connections` keep-alive connections, then send every request at one instant, each
    connection taking the next request when its previous one is answered."""
    opened: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    dialing = asyncio.Semaphore(64)

    async def dial() -> None:
        async with dialing:
            opened.append(await asyncio.open_connection("127.0.0.1", port, limit=1 << 20))

    await asyncio.gather(*(dial() for _ in range(connections)))
    pending: Iterator[bytes] = iter(requests)
    shots: list[Shot] = []
    go = asyncio.Event()
    began = [0.0]

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await go.wait()
        for raw in pending:
            sent = time.perf_counter()
            try:
                writer.write(raw)
                status = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                status = 0  # the connection broke: an error; dial again for the next buyer
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            now = time.perf_counter()
            shots.append(Shot(status, now - sent, now - began[0]))
        writer.close()

    tasks = [asyncio.create_task(worker(r, w)) for r, w in opened]
    await asyncio.sleep(0.2)  # every worker is waiting on the start
    start = time.perf_counter()
    began[0] = start
    go.set()
    await asyncio.gather(*tasks)
    return shots, time.perf_counter() - start


def http_post(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def server(argv: list[str], env: dict[str, str], port: int) -> AsyncIterator[None]:
    proc = subprocess.Popen(argv, env={**os.environ, **env}, start_new_session=True)  # noqa: ASYNC220, S603
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"server exited at start: {' '.join(argv)}")
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                ok = await _read_response(reader) == 200
                writer.close()
                if ok:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("server did not become healthy in 90 s")
            await asyncio.sleep(0.3)
        await asyncio.sleep(2.0)  # every worker process is up, not just the first
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# --------------------------------------------------------------------------- data


@dataclass
class Show:
    session_id: int
    sku_id: int
    shelf_item_id: int


@dataclass
class Crowd:
    user_ids: list[int]
    address_ids: list[int]
    tokens: list[str]


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def seed_crowd(db: Any, size: int) -> Crowd:
    """`size` buyers, each with a default address and an API token (written in bulk)."""
    import sqlalchemy as sa

    from fieldcast.accounts.models import ApiToken, User
    from fieldcast.accounts.security import hash_token
    from fieldcast.commerce.models import Address
    from fieldcast.db.base import utcnow

    tokens = [secrets.token_urlsafe(24) for _ in range(size)]
    async with db.uow() as uow:
        s = uow.session
        await s.execute(
            sa.insert(User),
            [
                {"email": f"buyer{n}@bench.example", "display_name": f"观众{n}", "password_hash": "x"}
                for n in range(size)
            ],
        )
        ids = list(await s.scalars(sa.select(User.id).where(User.email.like("buyer%@bench.example")).order_by(User.id)))
        await s.execute(
            sa.insert(Address),
            [
                {
                    "user_id": uid,
                    "recipient": "买家",
                    "phone": "13812341234",
                    "region_code": "420527",
                    "street": "秭归县茅坪镇1号",
                    "is_default": True,
                }
                for uid in ids
            ],
        )
        now = utcnow()
        await s.execute(
            sa.insert(ApiToken),
            [
                {"user_id": uid, "name": "bench", "token_hash": hash_token(t), "prefix": t[:8], "last_used_at": now}
                for uid, t in zip(ids, tokens, strict=True)
            ],
        )
        address_of = dict(
            (await s.execute(sa.select(Address.user_id, Address.id).where(Address.user_id.in_(ids)))).tuples().all()
        )
    return Crowd(ids, [address_of[u] for u in ids], tokens)


async def seed_show(db: Any, n: int, units: int) -> Show:
    """A live show of an organisation whose shelf has a flash sale of `units`, limit 1 a buyer."""
    from fieldcast.accounts.models import Organisation, OrgKind
    from fieldcast.catalog.models import Category, Product, ProductStatus, Sku, Supplier, SupplierKind
    from fieldcast.db.base import utcnow
    from fieldcast.live.models import LiveSession, SessionState, ShelfItem

    async with db.uow() as uow:
        s = uow.session
        org = Organisation(slug=f"bench-{n}", name="秭归县脐橙合作社", kind=OrgKind.COOPERATIVE)
        s.add(org)
        await s.flush()
        supplier = Supplier(
            organisation_id=org.id,
            name="秭归脐橙合作社",
            kind=SupplierKind.COOPERATIVE,
            ship_from_region="420527",
            contact_name="向",
            contact_phone="0717-1234567",
        )
        s.add(supplier)
        await s.flush()
        product = Product(
            organisation_id=org.id,
            supplier_id=supplier.id,
            title="秭归脐橙",
            category=Category.FRESH_PRODUCE,
            origin_region="420527",
            status=ProductStatus.PUBLISHED,
            published_at=utcnow(),
        )
        s.add(product)
        await s.flush()
        sku = Sku(
            product_id=product.id,
            spec_label="5斤装",
            price_fen=4990,
            weight_g=2500,
            shelf_life_days=20,
            stock=units,
            available=units,
            reserved=0,
            sold=0,
        )
        s.add(sku)
        live = LiveSession(
            organisation_id=org.id,
            title="秭归脐橙秒杀专场",
            scheduled_at=utcnow(),
            stream_name=f"bench{n:010d}",
            state=SessionState.LIVE,
            started_at=utcnow(),
        )
        s.add(live)
        await s.flush()
        item = ShelfItem(
            session_id=live.id,
            sku_id=sku.id,
            live_price_fen=2990,
            session_stock=units,
            session_available=units,
            session_reserved=0,
            session_sold=0,
            flash_starts_at=utcnow() - timedelta(seconds=5),
            per_buyer_limit=1,
        )
        s.add(item)
        await s.flush()
        return Show(live.id, sku.id, item.id)


async def fieldcast_oversold(db: Any, show: Show, units: int) -> tuple[int, int, list[str]]:
    """(units oversold, units held by orders, notes) for a show, read from the database."""
    import sqlalchemy as sa

    from fieldcast.catalog.models import Sku
    from fieldcast.commerce.models import HOLDING_STATES, Order, OrderLine
    from fieldcast.live.models import ShelfItem

    async with db.uow(write=False) as uow:
        s = uow.session
        held = int(
            await s.scalar(
                sa.select(sa.func.coalesce(sa.func.sum(OrderLine.quantity), 0))
                .join(Order, Order.id == OrderLine.order_id)
                .where(OrderLine.shelf_item_id == show.shelf_item_id, Order.state.in_(HOLDING_STATES))
            )
            or 0
        )
        item = await s.get(ShelfItem, show.shelf_item_id)
        sku = await s.get(Sku, show.sku_id)
        assert item is not None and sku is not None
        negatives = sum(
            max(0, -v)
            for v in (
                item.session_available,
                item.session_reserved,
                item.session_sold,
                sku.available,
                sku.reserved,
                sku.sold,
            )
        )
        notes = []
        if item.session_sold + item.session_reserved + item.session_available != item.session_stock:
            notes.append("shelf pool invariant broken")
        if sku.sold + sku.reserved + sku.available != sku.stock:
            notes.append("SKU invariant broken")
        if item.session_reserved + item.session_sold != held:
            notes.append(f"pool counts {item.session_reserved + item.session_sold} units, orders hold {held}")
        return max(0, held - units) + negatives, held, notes


# --------------------------------------------------------------------------- the runs


def fieldcast_requests(show: Show, crowd: Crowd, tag: str) -> list[bytes]:
    out = []
    for n, (token, address_id) in enumerate(zip(crowd.tokens, crowd.address_ids, strict=True)):
        body = orjson.dumps(
            {"items": [{"sku_id": show.sku_id, "quantity": 1, "session_id": show.session_id}], "address_id": address_id}
        )
        out.append(
            http_post(
                "/api/v1/checkout",
                body,
                {"Authorization": f"Bearer {token}", "Idempotency-Key": f"flash-{tag}-{n}"},
            )
        )
    return out


async def run_fieldcast(
    name: str, db: Any, database_url: str, redis_url: str, show: Show, crowd: Crowd, args: argparse.Namespace
) -> Run:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="flashsale-") as data_dir:
        env = {
            "FIELDCAST_DATABASE_URL": database_url,
            "FIELDCAST_REDIS_URL": redis_url,
            "FIELDCAST_SECRET_KEY": SECRET,
            "FIELDCAST_DATA_DIR": data_dir,
            "FIELDCAST_PORT": str(port),
            "FIELDCAST_LOG_LEVEL": "warning",
            "FIELDCAST_PAYMENT_SANDBOX_DUPLICATE_RATE": "0",
            "FIELDCAST_PAYMENT_SANDBOX_LATE_RATE": "0",
        }
        argv = [sys.executable, "-m", "fieldcast", "serve", "--workers", str(args.workers)]
        async with server(argv, env, port):
            began = time.perf_counter()
            shots, elapsed = await storm(port, fieldcast_requests(show, crowd, name), args.connections)
            claimed = sum(1 for shot in shots if shot.status == 202)
            written_s = await orders_written(db, show, claimed + sum(1 for s in shots if s.status == 201), began)
    run = Run(name, shots, elapsed, written_s=written_s if claimed else 0.0)
    run.oversold, run.sold_units, run.notes = await fieldcast_oversold(db, show, args.units)
    return run


async def orders_written(db: Any, show: Show, expected: int, began: float, timeout_s: float = 600.0) -> float:
    """Wait until the show's orders number `expected` (claims are written just behind their
    202): seconds from the start until they did."""
    import sqlalchemy as sa

    from fieldcast.commerce.models import Order

    deadline = time.perf_counter() + timeout_s
    while True:
        async with db.uow(write=False) as uow:
            count = int(
                await uow.session.scalar(sa.select(sa.func.count()).where(Order.session_id == show.session_id)) or 0
            )
        if count >= expected or time.perf_counter() > deadline:
            return time.perf_counter() - began
        await asyncio.sleep(0.1)


async def run_naive(database_url: str, crowd: Crowd, args: argparse.Namespace) -> Run:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(database_url)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE naive_stock (id bigint PRIMARY KEY, available integer NOT NULL)"))
        await conn.execute(
            text(
                "CREATE TABLE naive_orders (id bigserial PRIMARY KEY, buyer_id bigint NOT NULL, "
                "item_id bigint NOT NULL REFERENCES naive_stock (id), quantity integer NOT NULL, "
                "created_at timestamptz NOT NULL)"
            )
        )
        await conn.execute(text("INSERT INTO naive_stock VALUES (1, :units)"), {"units": args.units})
    requests = [
        http_post("/buy", orjson.dumps({"buyer_id": uid, "item_id": 1, "quantity": 1}), {}) for uid in crowd.user_ids
    ]
    port = free_port()
    argv = [sys.executable, __file__, "serve-naive", "--port", str(port), "--workers", str(args.workers)]
    async with server(argv, {NAIVE_ENV: database_url}, port):
        shots, elapsed = await storm(port, requests, args.connections)
    run = Run("naive", shots, elapsed)
    async with engine.connect() as conn:
        held = int((await conn.execute(text("SELECT coalesce(sum(quantity), 0) FROM naive_orders"))).scalar_one())
        available = int((await conn.execute(text("SELECT available FROM naive_stock WHERE id = 1"))).scalar_one())
    await engine.dispose()
    run.sold_units = held
    run.oversold = max(0, held - args.units) + max(0, -available)
    if held + available != args.units:
        run.notes.append(f"orders hold {held}, stock row says {args.units - available}")
    return run


async def main(args: argparse.Namespace) -> None:
    import asyncpg
    import redis.asyncio as aioredis

    from fieldcast.db.engine import Database
    from fieldcast.db.migrate import upgrade_async

    wanted = set(args.only.split(","))
    admin_dsn = args.postgres_url.replace("postgresql+asyncpg://", "postgresql://")
    name = f"fieldcast_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    database_url = _with_database(args.postgres_url, name).replace("postgresql://", "postgresql+asyncpg://", 1)
    runs: list[Run] = []
    try:
        await upgrade_async(database_url)
        db = Database(database_url)
        print(f"seeding {args.buyers} buyers ...", file=sys.stderr)
        crowd = await seed_crowd(db, args.buyers)
        if "redis" in wanted:
            redis = aioredis.Redis.from_url(args.redis_url)
            await redis.flushdb()
            await redis.aclose()
            show = await seed_show(db, 1, args.units)
            print("(a) Fieldcast on Redis ...", file=sys.stderr)
            runs.append(await run_fieldcast("redis", db, database_url, args.redis_url, show, crowd, args))
        if "db" in wanted:
            show = await seed_show(db, 2, args.units)
            print("(b) Fieldcast on PostgreSQL alone ...", file=sys.stderr)
            runs.append(await run_fieldcast("db", db, database_url, "", show, crowd, args))
        await db.dispose()
        if "naive" in wanted:
            print("(c) naive SELECT … FOR UPDATE checkout ...", file=sys.stderr)
            runs.append(await run_naive(database_url, crowd, args))
    finally:
        admin = await asyncpg.connect(admin_dsn)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    report(runs, args)


def timeline(run: Run) -> str:
    """When the answers came (seconds from the start instant): where a run's length goes."""

    def at(shots: list[float], q: float) -> str:
        return f"{shots[min(len(shots) - 1, int(q * len(shots)))]:.1f}" if shots else "-"

    orders = sorted(s.done_s for s in run.shots if s.status in (201, 202))
    refusals = sorted(s.done_s for s in run.shots if s.status not in (201, 202))
    written = f"; claimed orders all written by {run.written_s:.1f}" if run.written_s else ""
    return (
        f"answered by (s): orders 50% {at(orders, 0.5)}, 90% {at(orders, 0.9)}, 99% {at(orders, 0.99)}, "
        f"last {at(orders, 1.0)}; the rest 50% {at(refusals, 0.5)}, 99% {at(refusals, 0.99)}, "
        f"last {at(refusals, 1.0)}{written}"
    )


def report(runs: list[Run], args: argparse.Namespace) -> None:
    labels = {"redis": "(a) Fieldcast, Redis", "db": "(b) Fieldcast, PostgreSQL", "naive": "(c) naive FOR UPDATE"}
    print(
        f"\nflash sale: {args.buyers} buyers, {args.units} units, {args.connections} connections, "
        f"{args.workers} worker processes each, cores: {os.cpu_count()}"
    )
    header = f"{'checkout':<28}{'decisions/s':>12}{'p50 ms':>9}{'p99 ms':>9}{'ordered':>9}{'refused':>9}"
    header += f"{'errors':>8}{'sold':>7}{'oversold':>9}"
    print(header)
    print("-" * len(header))
    by = {r.name: r for r in runs}
    for r in runs:
        o = r.outcomes
        print(
            f"{labels[r.name]:<28}{r.per_s:>12.0f}{r.quantile_ms(0.5):>9.1f}{r.quantile_ms(0.99):>9.1f}"
            f"{o[201] + o[202]:>9}{o[409]:>9}{r.errors:>8}{r.sold_units:>7}{r.oversold:>9}"
        )
        for note in r.notes:
            print(f"    ! {note}")
        print(f"    {timeline(r)}")
        if r.errors:
            print(f"    ! statuses: {dict(o)}")
    result: dict[str, Any] = {"buyers": args.buyers, "units": args.units, "connections": args.connections}
    result["workers"] = args.workers
    for r in runs:
        result[f"oversold_{r.name}"] = r.oversold
        result[f"decisions_per_s_{r.name}"] = round(r.per_s, 1)
        result[f"p50_ms_{r.name}"] = round(r.quantile_ms(0.5), 2)
        result[f"p99_ms_{r.name}"] = round(r.quantile_ms(0.99), 2)
        result[f"errors_{r.name}"] = r.errors
        result[f"sold_{r.name}"] = r.sold_units
        result[f"last_order_s_{r.name}"] = round(
            max((s.done_s for s in r.shots if s.status in (201, 202)), default=0.0), 2
        )
        result[f"claimed_{r.name}"] = r.outcomes[202]
        if r.written_s:
            result[f"orders_written_s_{r.name}"] = round(r.written_s, 2)
    naive = by.get("naive")
    for name in ("redis", "db"):
        if name in by and naive and naive.per_s:
            result[f"ratio_{name}_vs_naive"] = round(by[name].per_s / naive.per_s, 2)
    if "ratio_redis_vs_naive" in result:
        print(
            f"\n(a)/(c) = {result['ratio_redis_vs_naive']:.2f}x (target ≥ {TARGET_RATIO:.0f}x); "
            f"(b)/(c) = {result.get('ratio_db_vs_naive', 0):.2f}x"
        )
    result["target_ratio"] = TARGET_RATIO
    result["target_met"] = bool(
        all(r.oversold == 0 for r in runs) and result.get("ratio_redis_vs_naive", 0) >= TARGET_RATIO
    )
    print(orjson.dumps(result).decode())


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    sub = p.add_subparsers(dest="command")
    naive = sub.add_parser("serve-naive", help="(internal) serve the naive baseline")
    naive.add_argument("--port", type=int, required=True)
    naive.add_argument("--workers", type=int, default=2)
    p.add_argument("--buyers", type=int, default=20_000)
    p.add_argument("--units", type=int, default=1_000)
    p.add_argument("--connections", type=int, default=500)
    p.add_argument("--workers", type=int, default=2, help="uvicorn worker processes for every server")
    p.add_argument(
        "--postgres-url",
        default=os.environ.get("FIELDCAST_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    p.add_argument("--redis-url", default=os.environ.get("FIELDCAST_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"))
    p.add_argument("--only", default="redis,db,naive", help="which runs, comma-separated: redis,db,naive")
    return p.parse_args()


if __name__ == "__main__":
    arguments = parse()
    if arguments.command == "serve-naive":
        serve_naive(arguments.port, arguments.workers)
    else:
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
        asyncio.run(main(arguments))
