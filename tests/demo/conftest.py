"""The seeded demo shared by the demo tests that only read it: one database seeded once for the
whole package (seeding hashes ~30 passwords with argon2 and renders a replay: too slow to repeat
per module). It is its own SQLite file, so the per-test wipe of the shared test database never
touches it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.app import create_app
from fieldcast.config import Settings, async_database_url
from fieldcast.db.migrate import upgrade_async
from fieldcast.demo import seed as demo
from tests.conftest import TEST_SECRET

ClientFactory = Callable[[], httpx.AsyncClient]


@dataclass
class Seeded:
    app: FastAPI
    settings: Settings
    logins: list[demo.DemoLogin]


@pytest.fixture(scope="package")
async def seeded(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Seeded]:
    folder = tmp_path_factory.mktemp("demo")
    url = async_database_url(f"sqlite:///{folder / 'demo.sqlite3'}")
    await upgrade_async(url)
    settings = Settings(database_url=url, data_dir=folder, secret_key=TEST_SECRET, redis_url="")
    logins = await demo.seed(settings)
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield Seeded(application, settings, logins)


@pytest.fixture
async def seeded_clients(seeded: Seeded) -> AsyncIterator[ClientFactory]:
    """HTTP clients (separate cookie jars) on the seeded app."""
    clients: list[httpx.AsyncClient] = []

    def factory() -> httpx.AsyncClient:
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=seeded.app), base_url="http://testserver")
        clients.append(c)
        return c

    yield factory
    for c in clients:
        await c.aclose()


async def all_rows(app: FastAPI, model: type[Any]) -> list[Any]:
    async with app.state.ctx.uow() as uow:
        return list((await uow.session.scalars(sa.select(model))).all())


async def signed_in(make_client: ClientFactory, email: str, password: str) -> httpx.AsyncClient:
    client = make_client()
    r = await client.post("/api/v1/auth/signin", json={"email": email, "password": password})
    assert r.status_code == 200, (email, r.text)
    return client
