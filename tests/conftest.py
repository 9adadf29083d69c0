"""Shared fixtures: a migrated database per backend and run, a clean slate per test, an app and
an HTTP client. PostgreSQL and Redis are real servers; with FIELDCAST_REQUIRE_SERVICES=1 a
missing one fails the test instead of skipping it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import argon2
import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi import routing as fastapi_routing
from sqlalchemy.ext.asyncio import AsyncEngine

from fieldcast.accounts import security
from fieldcast.app import create_app
from fieldcast.bootstrap import table_metadata
from fieldcast.config import Settings, async_database_url
from fieldcast.db.engine import make_engine
from fieldcast.db.migrate import upgrade

REQUIRE_SERVICES = os.environ.get("FIELDCAST_REQUIRE_SERVICES") == "1"
POSTGRES_URL = os.environ.get("FIELDCAST_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("FIELDCAST_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_DATABASES = 16  # Redis' default `databases`


def _worker_redis_url(url: str, worker: str) -> str:
    """Under pytest-xdist each worker (gw0, gw1, ...) keeps its keys in a database of its own, 8
    on from the configured one: tests wipe and reuse ids (room 1, pool of SKU 1) and would meet
    each other's keys. Pub/sub channels are per server, and the bus names them by database
    (realtime/bus.pubsub_namespace), so they part the same way."""
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    number = (base + 8 + int(worker.removeprefix("gw"))) % REDIS_DATABASES
    return urlunsplit(parts._replace(path=f"/{number}"))


if os.environ.get("PYTEST_XDIST_WORKER"):
    REDIS_URL = _worker_redis_url(REDIS_URL, os.environ["PYTEST_XDIST_WORKER"])
TEST_SECRET = "test-secret-key-not-for-production"

# Every test client is one address (127.0.0.1) and user ids restart with each test's clean slate,
# while a Redis-backed throttle outlives the test: the per-address and per-user limits would count
# the whole run as one visitor. Raised for every Settings a test or its servers build (through the
# environment); tests/accounts/test_abuse_limits.py asks for the production values explicitly.
RELAXED_LIMITS = {
    "sign_ups_per_address_per_hour": 10_000,
    "organisations_per_address_per_hour": 10_000,
    "sign_in_failures_per_address": 10_000,
    "uploads_per_user_per_10_min": 10_000,
}
for _name, _value in RELAXED_LIMITS.items():
    os.environ.setdefault(f"FIELDCAST_{_name.upper()}", str(_value))


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> None:
    """argon2's production cost (64 MiB, ~0.2 s a hash) is the point in production and pure waste in
    tests that sign up a dozen people each: the same algorithm at its minimum cost. Tests do not
    assert hash strength; servers started as subprocesses keep the real cost."""
    security._hasher = argon2.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(scope="session", autouse=True)
def _routes_built_once() -> Iterator[None]:
    """FastAPI builds each route's validators and handler lazily, once per app, the first time a
    request walks its router: ~8 ms a route, most of a second per test, since every test makes a
    fresh app of the same routes. A production process builds them once. Here the built route is
    kept for the next app with the same route at the same path. What it keeps points at the first
    app only through `dependency_overrides_provider`, and no test overrides a dependency (the
    check below refuses one)."""
    original = fastapi_routing._EffectiveRouteContext.from_api_route.__func__  # type: ignore[attr-defined]
    built: dict[tuple[int, str], tuple[object, object]] = {}

    def from_api_route(cls: type, *, original_route: Any, include_context: Any) -> Any:
        assert not getattr(include_context.dependency_overrides_provider, "dependency_overrides", None)
        key = (id(original_route), include_context.path_for(original_route))
        hit = built.get(key)
        if hit is None or hit[0] is not original_route:
            context = original(cls, original_route=original_route, include_context=include_context)
            hit = built[key] = (original_route, context)
        return hit[1]

    fastapi_routing._EffectiveRouteContext.from_api_route = classmethod(from_api_route)  # type: ignore[assignment]
    yield
    fastapi_routing._EffectiveRouteContext.from_api_route = classmethod(original)  # type: ignore[assignment]


# Files that must not share the machine with another test file: they open up to 90 PostgreSQL
# connections at once (the flash-sale and pool tests: two of them in two workers would pass the
# server's default 100), or run real servers against wall-clock deadlines (nginx-rtmp, the
# production ingest, the wheel installed and served, the event loop under 64 sign-ins, a browser's
# fake camera (or ffmpeg's test picture) encoded and transcoded to HLS while a page waits for it to
# play: two of them at once lose to the clock).
# `make test PYTEST_WORKERS=N` runs everything else in N processes, then these in one.
SERIAL_FILES = frozenset(
    {
        "tests/accounts/test_event_loop.py",
        "tests/commerce/test_coupon_concurrency.py",
        "tests/commerce/test_flash_concurrency.py",
        "tests/commerce/test_flash_kill.py",
        "tests/e2e/test_browser_buy.py",
        "tests/e2e/test_browser_live.py",
        "tests/e2e/test_browser_phone_room.py",
        "tests/media/test_nginx_rtmp.py",
        "tests/media/test_production_ingest.py",
        "tests/ops/test_wheel.py",
        "tests/payments/test_fast_refusal.py",
        "tests/web/test_busy.py",
    }
)


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(__file__).parent.parent
    for item in items:
        if item.path.relative_to(root).as_posix() in SERIAL_FILES:
            item.add_marker(pytest.mark.serial)


def unavailable(reason: str) -> None:
    """Skip where a service is missing, but fail under FIELDCAST_REQUIRE_SERVICES=1 (CI)."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (FIELDCAST_REQUIRE_SERVICES=1 turns this skip into a failure)")
    pytest.skip(reason)


async def redis_or_skip() -> None:
    """Skip (fail under FIELDCAST_REQUIRE_SERVICES=1) when the test Redis does not answer."""
    probe = aioredis.Redis.from_url(REDIS_URL)
    try:
        await probe.ping()
        # Show stock pools are keyed by session and SKU ids, which start from 1 again in every
        # test's wiped database: a pool an earlier test (or run) left behind would stand for this
        # test's show (sold out before it starts). Each test starts without them.
        stale = [key async for key in probe.scan_iter(match="fc:pool:*", count=1000)]
        # So would a flash-sale claim left unwritten (its writer would write it into this test's
        # database): the claims go too.
        stale += [key async for key in probe.scan_iter(match="fc:claim:*", count=1000)]
        stale.append(b"fc:flash-claims")
        await probe.delete(*stale)
    except (OSError, aioredis.ConnectionError) as exc:
        unavailable(f"Redis at {REDIS_URL} is not reachable: {exc!r}")
    finally:
        await probe.aclose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


@pytest.fixture(scope="session")
async def postgres_url() -> AsyncIterator[str]:
    """A throwaway database on the real PostgreSQL server, created for this run and dropped after."""
    admin_dsn = _asyncpg_dsn(POSTGRES_URL)
    try:
        conn = await asyncpg.connect(admin_dsn, timeout=5)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        unavailable(f"PostgreSQL at {POSTGRES_URL} is not reachable: {exc!r}")
    name = f"fieldcast_test_{os.getpid()}_{secrets.token_hex(4)}"
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    try:
        yield async_database_url(_with_database(POSTGRES_URL, name))
    finally:
        conn = await asyncpg.connect(admin_dsn, timeout=5)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


BACKENDS = ("sqlite", "postgres")
# The test packages whose every storage-touching test runs on both backends: the same test bodies,
# once on SQLite (the embedded deployment) and once on PostgreSQL. A package joins by its name here.
ON_BOTH_BACKENDS = frozenset({"accounts", "catalog", "chat", "commerce", "db", "draws", "live", "reviews"})


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run the tests of ON_BOTH_BACKENDS packages (or of a module that sets its own
    `ON_BOTH_BACKENDS = True`) that use the database (through `backend`) on each backend; the
    others get the default `backend` fixture below."""
    if "backend" not in metafunc.fixturenames:
        return
    package = metafunc.definition.path.relative_to(Path(__file__).parent).parts[0]
    only = getattr(metafunc.module, "ONLY_BACKEND", None)  # a module that needs one (PostgreSQL's locks)
    if only is not None:
        metafunc.parametrize("backend", [only], scope="session")
    elif package in ON_BOTH_BACKENDS or getattr(metafunc.module, "ON_BOTH_BACKENDS", False) is True:
        metafunc.parametrize("backend", BACKENDS, scope="session")


@pytest.fixture(scope="session")
def backend() -> str:
    """The backend of suites outside ON_BOTH_BACKENDS."""
    return "sqlite"


_migrated: dict[str, str] = {}


@pytest.fixture
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> str:
    """The migrated database of this backend for this run (migrated once, through Alembic)."""
    if backend not in _migrated:
        if backend == "postgres":
            url = str(request.getfixturevalue("postgres_url"))
        else:
            url = async_database_url(f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}")
        upgrade(url)
        _migrated[backend] = url
    return _migrated[backend]


async def wipe(engine: AsyncEngine) -> None:
    """Empty every table: each test starts from a clean slate on a migrated schema."""
    tables = [t.name for t in reversed(table_metadata().sorted_tables)]
    if engine.dialect.name != "postgresql":
        async with engine.begin() as conn:
            for table in tables:
                await conn.execute(sa.text(f'DELETE FROM "{table}"'))
        return
    try:
        await _delete_what_was_written(engine, tables)
    except sa.exc.IntegrityError:
        # Something still wrote while we deleted (a failed test's stray task): the slow sure way.
        async with engine.begin() as conn:
            await conn.execute(sa.text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))


async def _delete_what_was_written(engine: AsyncEngine, tables: list[str]) -> None:
    """TRUNCATE of all ~70 tables costs ~0.8 s however little a test wrote; DELETE of the few
    tables that hold rows (children first) and a restart of the sequences that moved leave the
    same clean slate (ids from 1 again) in a few milliseconds."""
    async with engine.begin() as conn:
        probe = " UNION ALL ".join(f"SELECT '{t}' WHERE EXISTS (SELECT 1 FROM \"{t}\")" for t in tables)
        dirty = set((await conn.execute(sa.text(probe))).scalars())
        for table in tables:
            if table in dirty:
                await conn.execute(sa.text(f'DELETE FROM "{table}"'))
        moved = (
            await conn.execute(
                sa.text(
                    "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename) FROM pg_sequences "
                    "WHERE schemaname = current_schema() AND last_value IS NOT NULL"
                )
            )
        ).scalars()
        for sequence in moved:
            await conn.execute(sa.text("SELECT setval(CAST(:s AS regclass), 1, false)"), {"s": sequence})


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path,
        secret_key=TEST_SECRET,
        redis_url="",
        # The periodic chores are tested by calling them; in the background of every test's app
        # they would only race the test (and cost its start a reconcile and five queries).
        upkeep=False,
        # A test's app answers a handful of requests: building every route up front would cost
        # each test a second.
        warm_routes=False,
        live_still_interval_s=0,
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    engine = make_engine(settings.sqlalchemy_url)
    await wipe(engine)
    await engine.dispose()
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


class QueryCounter:
    """The SQL statements the current task sends through the app's engine (background tasks of the
    app, such as the outbox relay, are not counted: they are not the request's cost)."""

    def __init__(self, app: FastAPI) -> None:
        self.engine = app.state.ctx.db.engine.sync_engine
        self.statements: list[str] = []

    @contextlib.asynccontextmanager
    async def counting(self) -> AsyncIterator[list[str]]:
        task = asyncio.current_task()
        self.statements = []

        def count(conn: object, cursor: object, statement: str, *args: object) -> None:
            # BEGIN is how SQLite's write transactions start (db/engine.py), not a query.
            if asyncio.current_task() is task and not statement.startswith("BEGIN"):
                self.statements.append(statement)

        sa.event.listen(self.engine, "before_cursor_execute", count)
        try:
            yield self.statements
        finally:
            sa.event.remove(self.engine, "before_cursor_execute", count)


@pytest.fixture
def queries(app: FastAPI) -> QueryCounter:
    """Count the queries of a block: `async with queries.counting() as statements: ...`."""
    return QueryCounter(app)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def make_client(app: FastAPI) -> AsyncIterator[Callable[[], httpx.AsyncClient]]:
    """More clients (separate cookie jars) for multi-user tests."""
    clients: list[httpx.AsyncClient] = []

    def factory() -> httpx.AsyncClient:
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        clients.append(c)
        return c

    yield factory
    for c in clients:
        await c.aclose()
