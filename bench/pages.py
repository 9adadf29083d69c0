"""The read path at show scale: what every viewer of a show loads first, against a bare endpoint.

One `fieldcast serve` process on PostgreSQL with the demo data (no demo streams, no simulated
audience) is loaded by wrk with CONNECTIONS connections, path by path. The baseline is a bare
FastAPI endpoint written here that returns 20 JSON items, served by the same uvicorn options
(uvloop, httptools) in one process. The server is pinned to one core and wrk to the other
(`taskset`), as a 2-core development machine allows; PostgreSQL shares the server's core.

Paths: `/healthz`, `/` (home), `/live/<id>` anonymous and signed in (a demo buyer's session
cookie), `/p/<id>`, `/api/v1/products` and `/api/v1/sessions/<id>`. For each: req/s, p50/p99
and the ratio to the baseline. Non-2xx answers are counted and reported (a fast error is no win).

Usage: .venv/bin/python bench/pages.py [--duration 10] [--connections 32] [--postgres-url URL]
       [--redis-url URL] [--only healthz,home,...]
A throwaway PostgreSQL database is created and dropped. With --redis-url the server runs on Redis
(bus, counters, cache invalidation), as several processes would.
Prints a table and, as the last line, one JSON object: `baseline_rps` and `<name>_rps`,
`<name>_ratio`, `<name>_p99_ms` for each path. Targets (issue #16): room, product page, products
API and session API at >= 0.40 of the baseline, the signed-in room >= 0.25, /healthz >= 0.80,
p99 under 50 ms."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from pydantic import BaseModel

SECRET = "bench-secret-key-not-for-production"  # noqa: S105 (a throwaway server)
TARGETS = {
    "healthz": 0.80,
    "room": 0.40,
    "room_signed_in": 0.25,
    "product_page": 0.40,
    "products_api": 0.40,
    "session_api": 0.40,
}
P99_TARGET_MS = 50.0
BARE_ITEMS = 20


class BareItem(BaseModel):
    id: int
    title: str
    price_fen: int
    region: str
    stock: int


class BarePage(BaseModel):
    items: list[BareItem]
    total: int


def bare_app() -> Any:
    """The baseline: a bare FastAPI endpoint returning 20 JSON items, about a product list's size,
    serialised as FastAPI does fastest (a response model: pydantic writes the JSON bytes)."""
    from fastapi import FastAPI

    app = FastAPI()
    page = BarePage(
        items=[
            BareItem(id=i, title=f"item {i}", price_fen=1990 + i, region="湖北省 恩施州", stock=100 + i)
            for i in range(BARE_ITEMS)
        ],
        total=BARE_ITEMS,
    )

    @app.get("/bare", response_model=BarePage)
    async def bare() -> BarePage:
        return page

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _cores() -> tuple[str, str]:
    """The server's core and wrk's: the first two the process may run on."""
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        return str(allowed[0]), str(allowed[0])
    return str(allowed[0]), str(allowed[1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(argv: list[str], env: dict[str, str], port: int, core: str) -> Iterator[None]:
    taskset = ["taskset", "-c", core] if shutil.which("taskset") else []
    proc = subprocess.Popen(  # noqa: S603
        [*taskset, *argv], env={**os.environ, **env}, start_new_session=True, stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"server exited at start: {' '.join(argv)}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("server did not become healthy in 90 s")
            time.sleep(0.3)
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@dataclass
class Result:
    name: str
    path: str
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    requests: int


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip()).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def wrk(name: str, url: str, *, duration: int, connections: int, core: str, headers: dict[str, str]) -> Result:
    taskset = ["taskset", "-c", core] if shutil.which("taskset") else []
    argv = [*taskset, "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    for key, value in headers.items():
        argv += ["-H", f"{key}: {value}"]
    out = subprocess.run([*argv, url], check=True, capture_output=True, text=True).stdout  # noqa: S603
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\n\s+50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\n\s+99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Result(name, urlsplit(url).path, rps, p50, p99, int(bad.group(1)) if bad else 0, total)


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def sign_in(port: int, email: str, password: str) -> str:
    """A demo buyer's session cookie, through the real sign-in form."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/signin")
    page = conn.getresponse()
    html = page.read().decode()
    cookie = page.getheader("set-cookie", "").split(";")[0]
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    body = urlencode({"email": email, "password": password, "csrf_token": csrf})
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie}
    conn.request("POST", "/signin", body=body, headers=headers)
    done = conn.getresponse()
    done.read()
    if done.status != 303:
        raise SystemExit(f"sign-in as {email} answered {done.status}")
    return done.getheader("set-cookie", "").split(";")[0]


def first_ids(port: int) -> tuple[int, int]:
    """A live demo room's id and a published product's id, from the API."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/api/v1/sessions?state=live")
    sessions = json.loads(conn.getresponse().read())
    conn.request("GET", "/api/v1/products")
    products = json.loads(conn.getresponse().read())
    return int(sessions["items"][0]["id"]), int(products["items"][0]["id"])


async def prepare(database_url: str) -> str:
    """Migrate and seed the demo data; the demo buyer's email."""
    import sqlalchemy as sa

    from fieldcast.accounts.models import User
    from fieldcast.config import load_settings
    from fieldcast.db.engine import Database
    from fieldcast.db.migrate import upgrade_async
    from fieldcast.demo.seed import seed

    await upgrade_async(database_url)
    data_dir = Path(tempfile.mkdtemp(prefix="fieldcast-bench-pages-"))
    settings = load_settings(database_url=database_url, data_dir=data_dir, secret_key=SECRET, demo=True)
    await seed(settings)
    db = Database(database_url)
    async with db.reader() as session:
        email = (await session.scalars(sa.select(User.email).where(User.email.like("viewer@%")))).one()
    await db.dispose()
    return str(email)


PATHS = ("healthz", "home", "room", "room_signed_in", "product_page", "products_api", "session_api")


def run(args: argparse.Namespace, database_url: str, buyer_email: str) -> tuple[Result, list[Result]]:
    from fieldcast.demo.seed import DEMO_PASSWORD

    server_core, load_core = _cores()
    wanted = [p for p in PATHS if not args.only or p in args.only.split(",")]

    def settle(url: str) -> None:
        """Wait until the server has worked off what the last load left queued (wrk stops sending,
        the server does not stop answering): /healthz answers within 20 ms, or 60 s went by."""
        base = urlsplit(url)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            started = time.monotonic()
            conn = http.client.HTTPConnection(base.hostname or "127.0.0.1", base.port or 80, timeout=30)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            conn.close()
            if time.monotonic() - started < 0.02:
                return
            time.sleep(0.2)

    def load(name: str, url: str, headers: dict[str, str] | None = None) -> Result:
        settle(url)
        # A short warm-up first: templates compiled, pools filled, caches built.
        wrk(name, url, duration=1, connections=args.connections, core=load_core, headers=headers or {})
        settle(url)
        result = wrk(
            name, url, duration=args.duration, connections=args.connections, core=load_core, headers=headers or {}
        )
        print(f"  {name}: {result.rps:,.0f} req/s", file=sys.stderr)
        return result

    port = free_port()
    bare = [sys.executable, "-m", "uvicorn", "bench.pages:bare_app", "--factory", "--port", str(port)]
    bare += ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]
    root = str(Path(__file__).resolve().parent.parent)
    print("baseline: bare FastAPI endpoint ...", file=sys.stderr)
    with server(bare, {"PYTHONPATH": root}, port, server_core):
        baseline = load("baseline", f"http://127.0.0.1:{port}/bare")

    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="fieldcast-bench-pages-serve-")
    env = {
        "FIELDCAST_DATABASE_URL": database_url,
        "FIELDCAST_REDIS_URL": args.redis_url,
        "FIELDCAST_SECRET_KEY": SECRET,
        "FIELDCAST_DATA_DIR": data_dir,
        "FIELDCAST_PORT": str(port),
        "FIELDCAST_LOG_LEVEL": "warning",
    }
    results: list[Result] = []
    print("fieldcast serve ...", file=sys.stderr)
    with server([sys.executable, "-m", "fieldcast", "serve"], env, port, server_core):
        room_id, product_id = first_ids(port)
        cookie = sign_in(port, buyer_email, DEMO_PASSWORD)
        base = f"http://127.0.0.1:{port}"
        urls = {
            "healthz": ("/healthz", None),
            "home": ("/", None),
            "room": (f"/live/{room_id}", None),
            "room_signed_in": (f"/live/{room_id}", {"Cookie": cookie}),
            "product_page": (f"/p/{product_id}", None),
            "products_api": ("/api/v1/products", None),
            "session_api": (f"/api/v1/sessions/{room_id}", None),
        }
        for name in wanted:
            path, headers = urls[name]
            results.append(load(name, base + path, headers))
    shutil.rmtree(data_dir, ignore_errors=True)
    return baseline, results


def report(baseline: Result, results: list[Result], args: argparse.Namespace) -> None:
    print()
    print(f"wrk, {args.connections} connections, {args.duration} s per path; server on one core, wrk on the other")
    print()
    print("| path | req/s | p50 | p99 | ratio to bare | target | non-2xx |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print(
        f"| bare FastAPI, {BARE_ITEMS} JSON items | {baseline.rps:,.0f} | {baseline.p50_ms:.1f} ms "
        f"| {baseline.p99_ms:.1f} ms | 1.00 | | {baseline.non_2xx} |"
    )
    line: dict[str, Any] = {
        "baseline_rps": round(baseline.rps, 1),
        "connections": args.connections,
        "redis": bool(args.redis_url),
    }
    for r in results:
        ratio = r.rps / baseline.rps if baseline.rps else 0.0
        target = TARGETS.get(r.name)
        print(
            f"| {r.name} `{r.path}` | {r.rps:,.0f} | {r.p50_ms:.1f} ms | {r.p99_ms:.1f} ms | {ratio:.2f} "
            f"| {'>= ' + format(target, '.2f') if target else ''} | {r.non_2xx} |"
        )
        line[f"{r.name}_rps"] = round(r.rps, 1)
        line[f"{r.name}_ratio"] = round(ratio, 3)
        line[f"{r.name}_p50_ms"] = round(r.p50_ms, 2)
        line[f"{r.name}_p99_ms"] = round(r.p99_ms, 2)
        line[f"{r.name}_non_2xx"] = r.non_2xx
    met = [r.name for r in results if r.name in TARGETS and r.rps / baseline.rps >= TARGETS[r.name]]
    line["targets_met"] = met
    line["p99_under_50ms"] = all(r.p99_ms < P99_TARGET_MS for r in results)
    print()
    print(json.dumps(line, ensure_ascii=False))


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


def main(args: argparse.Namespace) -> None:
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: make system-deps (Debian package wrk)")
    admin_dsn = args.postgres_url.replace("postgresql+asyncpg://", "postgresql://")
    name = f"fieldcast_bench_{secrets.token_hex(4)}"
    asyncio.run(create_database(admin_dsn, name))
    database_url = _with_database(admin_dsn, name).replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        print("migrating and seeding the demo data ...", file=sys.stderr)
        buyer_email = asyncio.run(prepare(database_url))
        baseline, results = run(args, database_url, buyer_email)
    finally:
        asyncio.run(drop_database(admin_dsn, name))
    report(baseline, results, args)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per path")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--postgres-url", default=os.environ.get("FIELDCAST_TEST_DATABASE_URL", "postgresql://127.0.0.1:5432/test")
    )
    parser.add_argument("--redis-url", default="", help="serve on Redis (e.g. redis://127.0.0.1:6379/12)")
    parser.add_argument("--only", default="", help="comma-separated path names")
    return parser.parse_args()


if __name__ == "__main__":
    main(parse())
