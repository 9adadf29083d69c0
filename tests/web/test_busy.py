"""When every database connection is taken (a flash sale's peak), a request waits for one up to
`database_pool_timeout_s` and is then answered 503 with Retry-After, as problem+json: nothing
was written, so the client retries. Never a 500, and the connection is not dropped."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from fieldcast.app import create_app
from fieldcast.config import Settings
from fieldcast.db.engine import make_engine
from tests.conftest import TEST_SECRET, wipe

ONLY_BACKEND = "postgres"  # a pool of real connections (SQLite's writer lock is its own queue)


@pytest.fixture
async def tight_app(database_url: str, tmp_path: Path) -> AsyncIterator[FastAPI]:
    engine = make_engine(database_url)
    await wipe(engine)
    await engine.dispose()
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path,
        secret_key=TEST_SECRET,
        database_pool_size=1,
        database_max_overflow=0,
        database_pool_timeout_s=0.3,
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


async def test_a_request_that_finds_no_free_connection_is_told_to_retry(tight_app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=tight_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        body = {"email": "busy@example.com", "display_name": "忙", "password": "correct horse battery"}
        async with tight_app.state.ctx.db.engine.connect():  # the only connection, held
            keyed = await client.post("/api/v1/auth/signup", json=body, headers={"Idempotency-Key": "k1"})
            plain = await client.post("/api/v1/auth/signin", json={"email": body["email"], "password": "x" * 12})
        for r in (keyed, plain):
            assert r.status_code == 503, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.headers["retry-after"] == "1" and r.json()["code"] == "busy"
        # nothing was written nor recorded: the same key, once a connection is free, signs up
        again = await client.post("/api/v1/auth/signup", json=body, headers={"Idempotency-Key": "k1"})
        assert again.status_code == 201, again.text
        assert "idempotent-replayed" not in again.headers
