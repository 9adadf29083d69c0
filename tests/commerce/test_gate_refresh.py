"""The stock gate follows the shelf: when an organiser changes a flash sale (its start, its stock,
its limit) or takes an item off and puts it back, the gate in Redis takes the database's numbers
as soon as the change leaves the outbox, not at the next reconciliation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from fieldcast.commerce.gate import Taken
from tests.conftest import REDIS_URL, redis_or_skip
from tests.factories import MakeClient, live_session, make_live_org
from tests.media.conftest import fresh_app, media_settings

pytestmark = pytest.mark.redis


@pytest.fixture
async def redis_app(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[FastAPI, MakeClient]]:
    """An app on Redis (so its gate is the Redis one), and a factory of clients of it."""
    await redis_or_skip()
    app = await fresh_app(media_settings(database_url, tmp_path, redis_url=REDIS_URL))
    clients: list[httpx.AsyncClient] = []

    def make_client() -> httpx.AsyncClient:
        clients.append(httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver"))
        return clients[-1]

    async with app.router.lifespan_context(app):
        yield app, make_client
        for client in clients:
            await client.aclose()


async def test_the_gate_takes_a_changed_flash_sale_at_once(redis_app: tuple[FastAPI, MakeClient]) -> None:
    app, make_client = redis_app
    gate = app.state.ctx.gate
    org = await make_live_org(app, make_client, "gate")
    room = await live_session(org)
    sku = org.inspected_sku
    await gate.drop(room, sku)
    item = (await org["organiser"].get(f"/api/v1/sessions/{room}/shelf")).json()[0]
    later = datetime.now(UTC) + timedelta(hours=1)
    change = {"flash_starts_at": later.isoformat(), "per_buyer_limit": 2, "session_stock": 40}
    r = await org["organiser"].patch(f"/api/v1/sessions/{room}/shelf/{item['id']}", json=change)
    assert r.status_code == 200, r.text
    await app.state.ctx.relay.drain()
    held = await gate.state(room, sku)
    assert held is not None and (held.available, held.per_buyer_limit) == (40, 2)
    assert held.starts_at is not None and abs((held.starts_at - later).total_seconds()) < 0.01
    assert await gate.take(room, sku, 1, 1) == Taken.NOT_STARTED

    sooner = {"flash_starts_at": (datetime.now(UTC) - timedelta(seconds=1)).isoformat()}
    assert (await org["organiser"].patch(f"/api/v1/sessions/{room}/shelf/{item['id']}", json=sooner)).is_success
    await app.state.ctx.relay.drain()
    assert await gate.take(room, sku, 1, 2) == Taken.YES  # open now, by the new start
    assert await gate.take(room, sku, 1, 1) == Taken.OVER_LIMIT

    assert (await org["organiser"].delete(f"/api/v1/sessions/{room}/shelf/{item['id']}")).is_success
    await app.state.ctx.relay.drain()
    assert await gate.state(room, sku) is None  # gone with the item
    await gate.drop(room, sku)
