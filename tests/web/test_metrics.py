"""GET /metrics (pages/metrics.py, web/metrics.py): off by default, hidden from callers that may
not scrape, request durations by route template, and the process's numbers read at scrape time."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.exceptions
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from fieldcast.app import create_app
from fieldcast.config import Settings
from fieldcast.db.base import utcnow
from fieldcast.db.engine import make_engine
from fieldcast.db.outbox import TOPIC_ROOM
from tests.conftest import TEST_SECRET, free_port, wipe

LOOPBACK = ("127.0.0.1", 1234)
REMOTE = ("203.0.113.7", 1234)
TOKEN = "scrape-token-for-tests"


def metrics_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "data_dir": data_dir,
        "secret_key": TEST_SECRET,
        "redis_url": "",
        "metrics_enabled": True,
    }
    values.update(overrides)
    return Settings(**values)


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[FastAPI]:
    """An app over a clean database, its lifespan entered (as tests/conftest.py's `app`)."""
    engine = make_engine(settings.sqlalchemy_url)
    await wipe(engine)
    await engine.dispose()
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


def caller(app: FastAPI, client: tuple[str, int] = LOOPBACK) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=client), base_url="http://testserver")


async def scrape(app: FastAPI) -> list[Sample]:
    async with caller(app) as c:
        r = await c.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return [sample for family in text_string_to_metric_families(r.text) for sample in family.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (name, labels, [s for s in samples if s.name == name])
    return found[0]


@pytest.fixture
async def metrics_app(database_url: str, tmp_path: Path) -> AsyncIterator[FastAPI]:
    async with running(metrics_settings(database_url, tmp_path)) as app:
        yield app


async def test_metrics_are_off_by_default(client: httpx.AsyncClient) -> None:
    # The conftest client calls from loopback: only the setting is missing.
    assert (await client.get("/metrics")).status_code == 404


async def test_request_durations_are_labelled_by_route_template_never_the_raw_path(metrics_app: FastAPI) -> None:
    async with caller(metrics_app) as c:
        assert (await c.get("/api/v1/sessions/918273")).status_code == 404
        assert (await c.get("/api/v1/sessions/918274")).status_code == 404
        assert (await c.get("/healthz")).status_code == 200
        assert (await c.get("/no/such/page/5551212")).status_code == 404
        assert (await c.get("/static/app.css")).status_code == 200
        assert (await c.delete("/healthz")).status_code == 405
    samples = await scrape(metrics_app)
    count = "fieldcast_http_request_duration_seconds_count"
    assert value(samples, count, route="/api/v1/sessions/{session_id}", method="GET", status="4xx") == 2
    assert value(samples, count, route="/healthz", method="GET", status="2xx") == 1
    assert value(samples, count, route="/healthz", method="DELETE", status="4xx") == 1
    assert value(samples, count, route="unmatched", method="GET", status="4xx") == 1
    assert value(samples, count, route="/static/{path}", method="GET", status="2xx") == 1
    routes = {s.labels["route"] for s in samples if s.name == count}
    assert not any(digits in route for route in routes for digits in ("918273", "5551212", "app.css"))
    # A histogram: the buckets are there, and the scrape itself is not measured.
    assert any(s.name == "fieldcast_http_request_duration_seconds_bucket" for s in samples)
    assert "/metrics" not in routes
    # The process collectors of prometheus-client, in this app's own registry.
    assert any(s.name == "python_info" for s in samples)


async def test_without_a_token_only_loopback_callers_may_scrape(metrics_app: FastAPI) -> None:
    async with caller(metrics_app, REMOTE) as remote, caller(metrics_app) as local:
        refused = await remote.get("/metrics")
        unknown = await remote.get("/metrics-is-not-here")
        assert refused.status_code == 404
        # Exactly what an unknown path gets: nothing tells that metrics are on.
        assert refused.headers["content-type"] == unknown.headers["content-type"]
        assert (await remote.get("/metrics", headers={"authorization": "Bearer anything"})).status_code == 404
        assert (await local.get("/metrics")).status_code == 200
        # No other method or a slash redirect gives it away either.
        assert (await local.post("/metrics")).status_code == 404
        assert (await local.head("/metrics")).status_code == 404
        assert (await local.get("/metrics/")).status_code == 404
        spec = (await local.get("/openapi.json")).json()
    # (a show's figures, /api/v1/sessions/{session_id}/metrics, are part of the API, not this)
    assert not any(path == "/metrics" or path.startswith("/metrics/") for path in spec["paths"])


async def test_with_a_token_every_caller_must_present_it(database_url: str, tmp_path: Path) -> None:
    async with (
        running(metrics_settings(database_url, tmp_path, metrics_token=TOKEN)) as app,
        caller(app, REMOTE) as remote,
        caller(app) as local,
    ):
        assert (await remote.get("/metrics")).status_code == 404
        assert (await remote.get("/metrics", headers={"authorization": f"Bearer {TOKEN}x"})).status_code == 404
        assert (await remote.get("/metrics", headers={"authorization": f"Basic {TOKEN}"})).status_code == 404
        # A reverse proxy on the same host makes callers look local: the token is asked of them too.
        assert (await local.get("/metrics")).status_code == 404
        r = await remote.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200
        assert r.headers["cache-control"] == "no-store"
        assert any(f.name == "fieldcast_room_sockets" for f in text_string_to_metric_families(r.text))


async def test_the_outbox_backlog_shows_until_the_messages_go_out(
    metrics_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = metrics_app.state.ctx
    before = await scrape(metrics_app)
    assert value(before, "fieldcast_outbox_backlog_messages") == 0
    assert value(before, "fieldcast_outbox_oldest_age_seconds") == 0

    async def room_log_down(*args: object, **kwargs: object) -> int:
        raise ConnectionError("the room log is unreachable")

    monkeypatch.setattr(ctx.room_log, "append", room_log_down)
    async with ctx.uow() as uow:
        for n in range(3):
            message = uow.publish(TOPIC_ROOM, "1", "test.event", {"n": n})
            message.created_at = utcnow() - timedelta(seconds=30)
    await ctx.relay.relay_once()  # at least one failed delivery, whatever the relay task did meanwhile

    stuck = await scrape(metrics_app)
    assert value(stuck, "fieldcast_outbox_backlog_messages") == 3
    assert value(stuck, "fieldcast_outbox_oldest_age_seconds") >= 30
    assert value(stuck, "fieldcast_outbox_delivery_failures_total") >= 1
    assert value(stuck, "fieldcast_outbox_published_total") == 0

    monkeypatch.undo()
    await ctx.relay.drain()
    after = await scrape(metrics_app)
    assert value(after, "fieldcast_outbox_backlog_messages") == 0
    assert value(after, "fieldcast_outbox_oldest_age_seconds") == 0
    assert value(after, "fieldcast_outbox_published_total") == 3


async def test_room_sockets_are_counted_while_joined(metrics_app: FastAPI) -> None:
    hub = metrics_app.state.ctx.room_hub
    first, second = await hub.join(41), await hub.join(41)
    other = await hub.join(42)
    samples = await scrape(metrics_app)
    assert value(samples, "fieldcast_room_sockets") == 3
    assert value(samples, "fieldcast_rooms_followed") == 2
    assert value(samples, "fieldcast_ffmpeg_pipelines") == 0
    for room, listener in ((41, first), (41, second), (42, other)):
        hub.leave(room, listener)
    samples = await scrape(metrics_app)
    assert value(samples, "fieldcast_room_sockets") == 0
    assert value(samples, "fieldcast_rooms_followed") == 0


async def test_failed_redis_calls_are_counted_by_adapter(database_url: str, tmp_path: Path) -> None:
    # No upkeep: its chores (the integrity watch follows the bus) would add failures of their own.
    settings = metrics_settings(database_url, tmp_path, redis_url=f"redis://127.0.0.1:{free_port()}/0", upkeep=False)
    async with running(settings) as app, caller(app) as c:
        ctx = app.state.ctx
        assert (await c.get("/healthz")).status_code == 503  # the bus's status probe failed once
        # The chat limiter and the throttles count the failure and fall back to this
        # process's own counts, so chat and sign-in keep working while Redis is away.
        assert await ctx.chat_limiter.take("chat:1:1") == 0
        assert await ctx.throttles.sign_in_account.retry_after_s("someone@example.com") == 0
        with pytest.raises(redis.exceptions.ConnectionError):
            await ctx.room_log.last_id(1)
        with pytest.raises(redis.exceptions.ConnectionError):
            await ctx.room_hub.counters.totals(1)
        samples = await scrape(app)
    errors = "fieldcast_backend_errors_total"
    for adapter in ("bus", "chat_limiter", "throttles", "room_log", "room_counters"):
        assert value(samples, errors, adapter=adapter) == 1, adapter


async def test_in_process_backends_report_no_backend_errors(metrics_app: FastAPI) -> None:
    samples = await scrape(metrics_app)
    errors = [s for s in samples if s.name == "fieldcast_backend_errors_total"]
    assert {s.labels["adapter"] for s in errors} == {
        "bus",
        "room_log",
        "room_counters",
        "chat_limiter",
        "throttles",
    }
    assert all(s.value == 0 for s in errors)
