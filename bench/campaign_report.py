"""Time to build a campaign (and the country's region) report over thousands of shows.

A throwaway PostgreSQL database (or, with --sqlite, a file) is migrated and filled with ORGS
organisations in as many real counties, SHOWS shows each with one verified host, and ORDERS orders
per show (paid, a tenth refunded, half delivered), inserted in bulk. Then the campaign report of all
of them (by province, organisation, event and show) and the country's region report are built
ROUNDS times after one warm-up; the median and the worst are printed, with the work each stands
for. The baseline named by issue #19 for a report is 2 s on PostgreSQL (the post-show report's
target): a campaign's report should be under it at 160 shows, and stay near it at thousands.

Usage: .venv/bin/python bench/campaign_report.py [--orgs 100] [--shows 20] [--orders 50] [--rounds 5]
       [--postgres-url URL | --sqlite]
Prints a table and, as the last line, one JSON object."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa

CHUNK = 5000


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def fill(database_url: str, orgs: int, shows: int, orders: int) -> int:
    """Migrate and insert the rows; the campaign's id."""
    from fieldcast.accounts.models import HostKind, HostVerification, Organisation, OrgKind, User, VerificationStatus
    from fieldcast.analytics.campaign_models import Campaign, CampaignOrganisation
    from fieldcast.catalog import regions
    from fieldcast.catalog.models import Supplier, SupplierKind
    from fieldcast.commerce.models import Order, OrderState, RefundStatus
    from fieldcast.db.engine import Database
    from fieldcast.db.migrate import upgrade_async
    from fieldcast.live.models import LiveSession, SessionHost, SessionState

    await upgrade_async(database_url)
    counties = [r.code for r in regions.table().by_code.values() if r.level == "county"][::7][:orgs]
    start = datetime(2026, 10, 1, tzinfo=UTC)
    db = Database(database_url)
    async with db.engine.begin() as conn:
        now = datetime.now(UTC)
        stamp = {"created_at": now, "updated_at": now}
        await conn.execute(
            sa.insert(User),
            [
                {"email": f"u{i}@bench.example", "display_name": f"u{i}", "password_hash": "x", **stamp}
                for i in range(orgs + 1)
            ],
        )
        user_ids = list((await conn.scalars(sa.select(User.id).order_by(User.id))).all())
        buyer, hosts = user_ids[0], user_ids[1:]
        await conn.execute(
            sa.insert(HostVerification),
            [
                {
                    "user_id": h,
                    "legal_name": "张三",
                    "id_number_hash": secrets.token_hex(32),
                    "id_number_last4": "1234",
                    "host_kind": HostKind.OFFICIAL if n % 2 else HostKind.FARMER,
                    "position_title": "县长",
                    "jurisdiction": counties[n],
                    "evidence_note": "-",
                    "status": VerificationStatus.APPROVED,
                    "valid_until": now + timedelta(days=365),
                    **stamp,
                }
                for n, h in enumerate(hosts)
            ],
        )
        await conn.execute(
            sa.insert(Organisation),
            [
                {
                    "slug": f"org-{n}",
                    "name": f"县{n}",
                    "kind": OrgKind.COOPERATIVE,
                    "region": regions.full_name(code),
                    **stamp,
                }
                for n, code in enumerate(counties)
            ],
        )
        org_ids = list((await conn.scalars(sa.select(Organisation.id).order_by(Organisation.id))).all())
        await conn.execute(
            sa.insert(Supplier),
            [
                {
                    "organisation_id": o,
                    "name": f"s{o}-{k}",
                    "kind": SupplierKind.FARMER if k else SupplierKind.COOPERATIVE,
                    "ship_from_region": counties[0],
                    "contact_name": "王",
                    "contact_phone": "1",
                    **stamp,
                }
                for o in org_ids
                for k in range(3)
            ],
        )
        suppliers: dict[int, list[int]] = {}
        for sid, org in (await conn.execute(sa.select(Supplier.id, Supplier.organisation_id))).all():
            suppliers.setdefault(int(org), []).append(int(sid))
        await conn.execute(
            sa.insert(LiveSession),
            [
                {
                    "organisation_id": o,
                    "title": f"show {o}-{k}",
                    "scheduled_at": start + timedelta(hours=k * 6),
                    "stream_name": secrets.token_hex(8),
                    "state": SessionState.ENDED,
                    "is_public_welfare": True,
                    **stamp,
                }
                for o in org_ids
                for k in range(shows)
            ],
        )
        sessions = (await conn.execute(sa.select(LiveSession.id, LiveSession.organisation_id))).all()
        host_of = dict(zip(org_ids, hosts, strict=True))
        await conn.execute(
            sa.insert(SessionHost), [{"session_id": s, "user_id": host_of[o], **stamp} for s, o in sessions]
        )
        batch: list[dict[str, object]] = []
        for s, o in sessions:
            for k in range(orders):
                paid_at = start + timedelta(minutes=k)
                batch.append(
                    {
                        "checkout_ref": secrets.token_hex(8),
                        "buyer_id": buyer,
                        "organisation_id": o,
                        "supplier_id": suppliers[o][k % 3],
                        "session_id": s,
                        "state": OrderState.DELIVERED if k % 2 else OrderState.PAID,
                        "total_fen": 1000 + k,
                        "units": 1,
                        "pay_by": paid_at,
                        "paid_at": paid_at,
                        "delivered_at": paid_at + timedelta(hours=30) if k % 2 else None,
                        "recipient": "王",
                        "phone": "1",
                        "region_code": counties[0],
                        "street": "路",
                        "refunded_fen": 500 if k % 10 == 0 else 0,
                        "refund_status": RefundStatus.PARTIALLY_REFUNDED if k % 10 == 0 else RefundStatus.NONE,
                        **stamp,
                    }
                )
                if len(batch) >= CHUNK:
                    await conn.execute(sa.insert(Order), batch)
                    batch = []
        if batch:
            await conn.execute(sa.insert(Order), batch)
        campaign_id = (
            await conn.execute(
                sa.insert(Campaign)
                .values(
                    organisation_id=org_ids[0],
                    slug="bench",
                    name="bench",
                    description="",
                    starts_at=start - timedelta(days=1),
                    ends_at=start + timedelta(days=365),
                    is_demo=False,
                    **stamp,
                )
                .returning(Campaign.id)
            )
        ).scalar_one()
        await conn.execute(
            sa.insert(CampaignOrganisation),
            [{"campaign_id": campaign_id, "organisation_id": o, **stamp} for o in org_ids],
        )
    await db.dispose()
    return int(campaign_id)


async def measure(database_url: str, campaign_id: int, rounds: int) -> dict[str, list[float]]:
    from fieldcast.analytics import reports as r
    from fieldcast.analytics.campaign_models import Campaign, CampaignOrganisation
    from fieldcast.db.engine import Database

    db = Database(database_url)
    times: dict[str, list[float]] = {"campaign": [], "country": []}
    for n in range(rounds + 1):
        async with db.reader() as s:
            campaign = await s.get(Campaign, campaign_id)
            assert campaign is not None
            ids = list(
                (
                    await s.scalars(
                        sa.select(CampaignOrganisation.organisation_id).where(
                            CampaignOrganisation.campaign_id == campaign_id
                        )
                    )
                ).all()
            )
            t0 = time.perf_counter()
            await r.campaign_report(s, campaign, ids, r.ReportFilter())
            t1 = time.perf_counter()
            await r.region_report(s, None, r.ReportFilter())
            t2 = time.perf_counter()
        if n:  # the first round warms the caches (region names, the plan)
            times["campaign"].append(t1 - t0)
            times["country"].append(t2 - t1)
    await db.dispose()
    return times


async def create_database(admin_dsn: str, name: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()


async def drop_database(admin_dsn: str, name: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=100)
    parser.add_argument("--shows", type=int, default=20, help="per organisation")
    parser.add_argument("--orders", type=int, default=50, help="per show")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("FIELDCAST_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    args = parser.parse_args()
    admin_dsn = args.postgres_url.replace("postgresql+asyncpg://", "postgresql://")
    name = f"fieldcast_bench_{secrets.token_hex(4)}"
    if args.sqlite:
        database_url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    else:
        asyncio.run(create_database(admin_dsn, name))
        database_url = _with_database(admin_dsn, name).replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        print("migrating and filling ...", file=sys.stderr)
        campaign_id = asyncio.run(fill(database_url, args.orgs, args.shows, args.orders))
        times = asyncio.run(measure(database_url, campaign_id, args.rounds))
    finally:
        if not args.sqlite:
            asyncio.run(drop_database(admin_dsn, name))
    backend = "sqlite" if args.sqlite else "postgresql"
    shows, orders = args.orgs * args.shows, args.orgs * args.shows * args.orders
    print(f"roll-up reports on {backend}: {args.orgs} organisations, {shows} shows, {orders} orders")
    print(f"{'report':<10} {'median_s':>9} {'max_s':>7}")
    line: dict[str, object] = {"backend": backend, "shows": shows, "orders": orders, "baseline_s": 2.0}
    for name_, values in times.items():
        median, worst = statistics.median(values), max(values)
        print(f"{name_:<10} {median:>9.3f} {worst:>7.3f}")
        line[f"{name_}_median_s"] = round(median, 3)
        line[f"{name_}_max_s"] = round(worst, 3)
    print(json.dumps(line))


if __name__ == "__main__":
    main()
