"""Where the read path's CPU goes: the app in this process (no server, no client cost), on a
throwaway PostgreSQL database with the demo data, each path requested N times by a visitor with
no session, under cProfile with a CPU clock (time.process_time: waiting for PostgreSQL costs
nothing here). Prints, per path, the CPU per request and the share of the main layers; run with
the page cache off (what every request cost before #16, and what a miss or a signed-in request
still costs) and on.

Usage: .venv/bin/python bench/profile_pages.py [--requests 300] [--postgres-url URL]
Prints a table and, as the last line, one JSON object."""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pages import SECRET, _with_database, create_database, drop_database, prepare

# Own CPU (cProfile's tottime: reliable for coroutines too) summed by where the code lives.
PACKAGES = (
    ("SQLAlchemy", ("/sqlalchemy/",)),
    ("asyncpg", ("/asyncpg/", "<asyncpg")),
    ("Jinja2 + MarkupSafe", ("/jinja2/", "/markupsafe/", "<template>")),
    ("FastAPI + Starlette", ("/fastapi/", "/starlette/")),
    ("pydantic", ("/pydantic/", "/pydantic_core/")),
    ("Babel (dates, plurals)", ("/babel/",)),
    ("event loop (asyncio)", ("/asyncio/", "selectors.py")),
    ("Fieldcast's own code", ("/fieldcast/",)),
)
OTHER = "everything else (builtins, stdlib)"


def shares(stats: pstats.Stats) -> dict[str, float]:
    own: dict[str, float] = {label: 0.0 for label, _ in PACKAGES}
    own[OTHER] = 0.0
    for (file, _line, _name), row in stats.stats.items():  # type: ignore[attr-defined]
        label = next((lbl for lbl, parts in PACKAGES if any(p in file for p in parts)), OTHER)
        own[label] += row[2]
    total = sum(own.values()) or 1.0
    return {label: value / total for label, value in own.items()}


async def profile(database_url: str, paths: list[str], n: int, cache: bool) -> dict[str, Any]:
    import httpx

    from fieldcast.app import create_app
    from fieldcast.config import load_settings

    settings = load_settings(
        database_url=database_url,
        secret_key=SECRET,
        data_dir=Path(tempfile.mkdtemp(prefix="fieldcast-profile-")),
        upkeep=False,
        page_cache=cache,
        live_still_interval_s=0,
    )
    app = create_app(settings)
    results: dict[str, Any] = {}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            for path in paths:
                for _ in range(10):  # warm: templates compiled, pool filled, cache built
                    assert (await client.get(path)).status_code == 200, path
                    client.cookies.clear()
                started = time.process_time()
                for _ in range(n):
                    await app(*_request(path))
                cpu = (time.process_time() - started) / n
                profiler = cProfile.Profile(time.process_time)
                profiler.enable()
                for _ in range(n):
                    await app(*_request(path))
                profiler.disable()
                results[path] = {"cpu_ms": cpu * 1000, "shares": shares(pstats.Stats(profiler))}
    return results


def _request(path: str) -> tuple[dict[str, Any], Any, Any]:
    """One GET straight into the ASGI app (no client library in the profile)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path.split("?")[0],
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"accept-language", b"zh-CN")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    return scope, receive, send


async def first_ids(database_url: str) -> tuple[int, int]:
    import sqlalchemy as sa

    from fieldcast.catalog.models import Product
    from fieldcast.db.engine import Database
    from fieldcast.live.models import LiveSession, SessionState

    db = Database(database_url)
    async with db.reader() as session:
        room = (await session.scalars(sa.select(LiveSession.id).where(LiveSession.state == SessionState.LIVE))).first()
        product = (await session.scalars(sa.select(Product.id).order_by(Product.id))).first()
    await db.dispose()
    return int(room or 1), int(product or 1)


def main(args: argparse.Namespace) -> None:
    admin_dsn = args.postgres_url.replace("postgresql+asyncpg://", "postgresql://")
    name = f"fieldcast_profile_{secrets.token_hex(4)}"
    asyncio.run(create_database(admin_dsn, name))
    database_url = _with_database(admin_dsn, name).replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        asyncio.run(prepare(database_url))
        room, product = asyncio.run(first_ids(database_url))
        paths = ["/", f"/live/{room}", f"/p/{product}", "/api/v1/products", f"/api/v1/sessions/{room}"]
        off = asyncio.run(profile(database_url, paths, args.requests, cache=False))
        on = asyncio.run(profile(database_url, paths, args.requests, cache=True))
    finally:
        asyncio.run(drop_database(admin_dsn, name))
    labels = [label for label, _parts in PACKAGES] + [OTHER]
    print(f"\nCPU per request in the app ({args.requests} requests a path, no profiler), and the share of")
    print("its own CPU by where the code lives (cProfile on a CPU clock)\n")
    print("| path | page cache | CPU/request | " + " | ".join(labels) + " |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in labels) + " |")
    line: dict[str, Any] = {}
    for cache, results in (("off", off), ("on", on)):
        for path, r in results.items():
            cells = " | ".join(f"{r['shares'][label] * 100:.0f} %" for label in labels)
            print(f"| `{path}` | {cache} | {r['cpu_ms']:.2f} ms | {cells} |")
            line[f"{path}_cache_{cache}_cpu_ms"] = round(r["cpu_ms"], 3)
    print()
    print(json.dumps(line))


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument(
        "--postgres-url", default=os.environ.get("FIELDCAST_TEST_DATABASE_URL", "postgresql://127.0.0.1:5432/test")
    )
    return parser.parse_args()


if __name__ == "__main__":
    main(parse())
