"""Idempotency keys recorded in the write's own transaction (db/idempotency.py), on SQLite and on
PostgreSQL: a crash between the commit and the response, a failure before the commit, and two
requests with one key at once each leave exactly one write, and a retry gets the first response."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.accounts import actions as account_actions
from fieldcast.accounts.models import Organisation
from fieldcast.db.base import utcnow
from fieldcast.db.idempotency import IdempotentRequest
from fieldcast.web.idempotency import IdempotencyMiddleware
from tests.factories import sign_up

ORG = {"slug": "jingyu-coop", "name": "靖宇蓝莓合作社", "kind": "cooperative"}


ON_BOTH_BACKENDS = True  # tests/conftest.py runs this module on SQLite and on PostgreSQL


@pytest.fixture
async def member(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A signed-in client whose app errors come back as 500 responses, as a real client sees them."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        await sign_up(c, "retry@example.com")
        yield c


async def organisations(app: FastAPI) -> int:
    async with app.state.ctx.uow(write=False) as uow:
        return int(await uow.session.scalar(sa.select(sa.func.count(Organisation.id))) or 0)


async def test_a_crash_between_commit_and_response_is_answered_by_the_first_response_on_retry(
    app: FastAPI, member: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    crashes = 0
    deliver = IdempotencyMiddleware.deliver

    async def die_once(self: IdempotencyMiddleware, held: list[Any], send: Any) -> None:
        nonlocal crashes
        if crashes == 0:
            crashes += 1
            raise RuntimeError("the process died after the commit, before the response")
        await deliver(self, held, send)

    monkeypatch.setattr(IdempotencyMiddleware, "deliver", die_once)
    lost = await member.post("/api/v1/organisations", json=ORG, headers={"Idempotency-Key": "crash-1"})
    assert lost.status_code == 500 and crashes == 1
    assert await organisations(app) == 1  # the write committed with its key

    retry = await member.post("/api/v1/organisations", json=ORG, headers={"Idempotency-Key": "crash-1"})
    assert retry.status_code == 201
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json()["slug"] == ORG["slug"]
    assert await organisations(app) == 1  # and was not written twice


async def test_a_request_that_failed_before_commit_can_be_retried_at_once(
    app: FastAPI, member: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    create = account_actions.create_organisation
    failures = 0

    async def fail_once(*args: Any, **kwargs: Any) -> Organisation:
        nonlocal failures
        organisation = await create(*args, **kwargs)  # the row is written ... then the action fails
        if failures == 0:
            failures += 1
            raise RuntimeError("a bug after the write, before the commit")
        return organisation

    monkeypatch.setattr(account_actions, "create_organisation", fail_once)
    failed = await member.post("/api/v1/organisations", json=ORG, headers={"Idempotency-Key": "early-1"})
    assert failed.status_code == 500
    assert await organisations(app) == 0  # rolled back, and no key recorded

    retry = await member.post("/api/v1/organisations", json=ORG, headers={"Idempotency-Key": "early-1"})
    assert retry.status_code == 201  # no "still in progress" 409
    assert "idempotent-replayed" not in retry.headers
    assert await organisations(app) == 1


async def test_concurrent_requests_with_one_key_write_once_and_answer_alike(
    app: FastAPI, member: httpx.AsyncClient
) -> None:
    responses = await asyncio.gather(
        *(member.post("/api/v1/organisations", json=ORG, headers={"Idempotency-Key": "race-1"}) for _ in range(5))
    )
    assert [r.status_code for r in responses] == [201] * 5, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum("idempotent-replayed" not in r.headers for r in responses) == 1
    assert await organisations(app) == 1


async def test_a_refusal_is_not_recorded_and_its_retry_is_decided_afresh(
    app: FastAPI, member: httpx.AsyncClient
) -> None:
    """A refusal wrote nothing, so nothing is kept: the same key asks again (and in a flash sale
    no refusal costs a commit)."""
    first = await member.post("/api/v1/organisations", json=ORG, headers={"Idempotency-Key": "a"})
    clash = await member.post("/api/v1/organisations", json=ORG, headers={"Idempotency-Key": "b"})
    assert (first.status_code, clash.status_code) == (201, 409)
    again = await member.post("/api/v1/organisations", json=ORG, headers={"Idempotency-Key": "b"})
    assert again.status_code == 409 and "idempotent-replayed" not in again.headers
    # decided afresh: with the clash gone, the same key now succeeds
    other = {**ORG, "slug": ORG["slug"] + "-2"}
    reused = await member.post("/api/v1/organisations", json=other, headers={"Idempotency-Key": "b"})
    assert reused.status_code == 201, reused.text
    async with app.state.ctx.uow(write=False) as uow:
        stored = await uow.session.scalars(sa.select(IdempotentRequest.status_code).order_by(IdempotentRequest.id))
        assert list(stored) == [201, 201]


async def test_an_expired_key_is_forgotten_and_the_periodic_purge_removes_old_keys(
    app: FastAPI, member: httpx.AsyncClient
) -> None:
    from fieldcast.db import idempotency

    first = await member.post("/api/v1/organisations", json=ORG, headers={"Idempotency-Key": "old"})
    assert first.status_code == 201
    async with app.state.ctx.uow() as uow:
        await uow.session.execute(sa.update(IdempotentRequest).values(created_at=utcnow() - timedelta(days=2)))
    other = {**ORG, "slug": "second-coop"}
    reused = await member.post("/api/v1/organisations", json=other, headers={"Idempotency-Key": "old"})
    assert reused.status_code == 201 and reused.json()["slug"] == "second-coop"  # a new request, not a replay
    async with app.state.ctx.uow() as uow:
        await uow.session.execute(sa.update(IdempotentRequest).values(created_at=utcnow() - timedelta(days=2)))
        assert await idempotency.purge(uow.session) == 1
        assert await uow.session.scalar(sa.select(sa.func.count(IdempotentRequest.id))) == 0
