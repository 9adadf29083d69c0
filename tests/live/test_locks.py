"""State changes of a show take a row lock (db/locks.py): the ingest hook and the console
starting one show at the same moment make one change and notify each follower once, on SQLite
and on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.db.audit import AuditEntry
from fieldcast.db.outbox import OutboxMessage
from fieldcast.live.models import LiveSession, Notification, NotificationKind, SessionState
from tests.factories import make_live_org, session_body


async def test_twenty_concurrent_go_lives_change_state_once_and_notify_each_follower_once(
    app: FastAPI, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    org = await make_live_org(app, make_client, "locks")
    followers = [org["outsider"], org["supplier"], org["unverified"]]
    for client in followers[:2]:  # two follow the host, one the organisation, one both ways
        r = await client.post("/api/v1/me/follows", json={"host_id": org.ids["host"]})
        assert r.status_code == 201, r.text
    for client in followers[1:]:
        r = await client.post("/api/v1/me/follows", json={"organisation_id": org.org_id})
        assert r.status_code == 201, r.text
    r = await org["organiser"].post("/api/v1/sessions", json=session_body(org))
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    r = await org["host"].post(f"/api/v1/sessions/{sid}/stream-key")
    assert r.status_code == 201, r.text
    key = r.json()["stream_key"]

    nginx = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 40000)), base_url="http://x")
    async with app.state.ctx.uow(write=False) as uow:
        live = await uow.session.get(LiveSession, sid)
        assert live is not None
        name = live.stream_name
    form = {"app": "live", "call": "publish", "name": name, "addr": "198.51.100.7", "clientid": "1", "key": key}
    try:
        calls = [org["host"].post(f"/api/v1/sessions/{sid}/start") for _ in range(10)]
        calls += [nginx.post("/hooks/media/on_publish", data=form) for _ in range(10)]
        responses = await asyncio.gather(*calls)
    finally:
        await nginx.aclose()

    assert [r.status_code for r in responses] == [200] * 20, [r.text for r in responses]
    async with app.state.ctx.uow(write=False) as uow:
        live = await uow.session.get(LiveSession, sid)
        assert live is not None and live.state == SessionState.LIVE
        notified = (
            await uow.session.scalars(
                sa.select(Notification.user_id).where(
                    Notification.session_id == sid, Notification.kind == NotificationKind.SESSION_LIVE
                )
            )
        ).all()
        went_live = await uow.session.scalar(
            sa.select(sa.func.count(AuditEntry.id)).where(
                AuditEntry.action == "session.live", AuditEntry.target_id == str(sid)
            )
        )
        state_events = (
            await uow.session.scalars(
                sa.select(OutboxMessage.payload).where(
                    OutboxMessage.key == str(sid), OutboxMessage.event_type == "session.state"
                )
            )
        ).all()
    follower_ids = {org.ids[name] for name in ("outsider", "supplier", "unverified")}
    assert sorted(notified) == sorted(follower_ids)  # each follower once, whichever way they follow
    assert went_live == 1
    assert [e["state"] for e in state_events] == ["live"]
