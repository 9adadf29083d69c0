"""Where an admitted flash-sale checkout's CPU goes, and what a refused one costs: the app in this
process (no server, no client), on a throwaway PostgreSQL database and Redis (database 13, as
bench/flashsale.py), BUYERS buyers each checking out once (`POST /api/v1/checkout` with a bearer
token and an Idempotency-Key) for a flash sale of UNITS, under cProfile with a CPU clock
(time.process_time: waiting for PostgreSQL or Redis costs nothing here). The first UNITS are
admitted (the full checkout), the rest refused (the fast path, payments/fast_refusal.py).

Usage: .venv/bin/python bench/profile_checkout.py [--buyers 600] [--units 300] [--top 25]
Prints the CPU per admitted and per refused checkout, the top functions of the admitted ones, and
as the last line one JSON object."""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import secrets
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from flashsale import SECRET, Show, _with_database, seed_crowd, seed_show


async def main(args: argparse.Namespace) -> None:
    import asyncpg
    import httpx
    import redis.asyncio as aioredis

    from fieldcast.app import create_app
    from fieldcast.config import load_settings
    from fieldcast.db.engine import Database
    from fieldcast.db.migrate import upgrade_async

    admin_dsn = args.postgres_url.replace("postgresql+asyncpg://", "postgresql://")
    name = f"fieldcast_profile_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    database_url = _with_database(args.postgres_url, name).replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        await upgrade_async(database_url)
        db = Database(database_url)
        crowd = await seed_crowd(db, args.buyers)
        redis = aioredis.Redis.from_url(args.redis_url)
        await redis.flushdb()
        await redis.aclose()
        show: Show = await seed_show(db, 1, args.units)
        await db.dispose()
        with tempfile.TemporaryDirectory() as data_dir:
            os.environ.update(
                FIELDCAST_DATABASE_URL=database_url,
                FIELDCAST_REDIS_URL=args.redis_url,
                FIELDCAST_SECRET_KEY=SECRET,
                FIELDCAST_DATA_DIR=data_dir,
                FIELDCAST_LOG_LEVEL="warning",
                FIELDCAST_UPKEEP="false",
            )
            app = create_app(load_settings())
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

                    async def one(n: int) -> int:
                        body = orjson.dumps(
                            {
                                "items": [{"sku_id": show.sku_id, "quantity": 1, "session_id": show.session_id}],
                                "address_id": crowd.address_ids[n],
                            }
                        )
                        headers = {
                            "Authorization": f"Bearer {crowd.tokens[n]}",
                            "Idempotency-Key": f"p-{n}",
                            "Content-Type": "application/json",
                        }
                        r = await client.post("/api/v1/checkout", content=body, headers=headers)
                        return r.status_code

                    assert await one(0) == 201  # warm up (routes, the pool loaded into the gate)
                    admitted = cProfile.Profile(time.process_time)
                    cpu = time.process_time()
                    if not args.no_profile:
                        admitted.enable()
                    statuses = [await one(n) for n in range(1, args.units)]
                    admitted.disable()
                    admitted_cpu = (time.process_time() - cpu) / (args.units - 1)
                    assert set(statuses) == {201}, statuses
                    cpu = time.process_time()
                    statuses = [await one(n) for n in range(args.units, args.buyers)]
                    refused_cpu = (time.process_time() - cpu) / (args.buyers - args.units)
                    assert set(statuses) == {409}, set(statuses)
                await asyncio.sleep(1.0)  # the relay delivers what the orders told the rooms
    finally:
        admin = await asyncpg.connect(admin_dsn)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    if not args.no_profile:
        out = io.StringIO()
        stats = pstats.Stats(admitted, stream=out)
        stats.sort_stats(args.sort).print_stats(args.top)
        print(out.getvalue())
    print(f"admitted: {admitted_cpu * 1000:.2f} ms CPU each; refused: {refused_cpu * 1000:.3f} ms CPU each")
    result = {"admitted_cpu_ms": round(admitted_cpu * 1000, 3), "refused_cpu_ms": round(refused_cpu * 1000, 3)}
    print(orjson.dumps(result).decode())


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    p.add_argument("--buyers", type=int, default=600)
    p.add_argument("--units", type=int, default=300)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--no-profile", action="store_true", help="only measure the CPU (cProfile costs its own)")
    p.add_argument("--sort", default="tottime", help="cProfile sort key: tottime, cumulative, ...")
    p.add_argument(
        "--postgres-url",
        default=os.environ.get("FIELDCAST_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    p.add_argument("--redis-url", default=os.environ.get("FIELDCAST_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"))
    return p.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse()))
