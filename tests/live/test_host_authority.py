"""Authority follows roles (issue #14 item 2): every host-side action checks the role the actor
holds when it runs. After the owner removed a host's role, the former host could still rotate the
stream key, start a show, open a draw and mute viewers, while the owner could not even retitle
the show (422 host_not_eligible). Now each of those is refused with 403, the former host's key is
refused by the publish hook at once and revoked, the organisers are asked for a new host, and the
owner edits and reassigns the show. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.db.audit import AuditEntry
from fieldcast.live import keys
from fieldcast.live.host_authority import host_role_lost
from fieldcast.live.models import LiveSession, Notification, NotificationKind, StreamKey
from tests.factories import LiveOrg, create_draw, draw_body, live_session, make_live_org, schedule_session

LOOPBACK = ("127.0.0.1", 40000)


@pytest.fixture
async def org(app: FastAPI, make_client: Callable[[], httpx.AsyncClient]) -> LiveOrg:
    return await make_live_org(app, make_client, "authority")


async def remove_host_role(org: LiveOrg, by: str = "owner") -> None:
    r = await org[by].delete(f"/api/v1/organisations/{org.slug}/members/{org.ids['host']}/roles/host")
    assert r.status_code == 204, r.text


def assert_forbidden(r: httpx.Response, what: str) -> None:
    assert r.status_code == 403, f"{what}: {r.status_code} {r.text}"
    assert r.headers["content-type"].startswith("application/problem+json"), what
    assert r.json()["status"] == 403, what


async def publish(app: FastAPI, key: str) -> int:
    """What nginx-rtmp's on_publish hook is answered when OBS publishes the key's session (its
    stream name, revoked keys included) with `?key=<key>`."""
    async with app.state.ctx.uow(write=False) as uow:
        session_id = await uow.session.scalar(
            sa.select(StreamKey.session_id).where(StreamKey.key_hash == keys.hash_key(key))
        )
        live = await uow.session.get(LiveSession, session_id)
        assert live is not None
        name = live.stream_name
    form = {"app": "live", "call": "publish", "name": name, "type": "live", "addr": "198.51.100.7", "key": key}
    transport = httpx.ASGITransport(app=app, client=LOOPBACK)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as nginx:
        return (await nginx.post("/hooks/media/on_publish", data=form)).status_code


async def test_a_removed_host_is_refused_every_host_action(org: LiveOrg) -> None:
    scheduled = int((await schedule_session(org))["id"])
    live = await live_session(org)  # started by the host while still a host
    draw = await create_draw(org, live)
    opened = await create_draw(org, live, prize_title="长白山木耳")
    r = await org["host"].post(f"/api/v1/draws/{opened['id']}/open", json={})
    assert r.status_code == 200, r.text
    comment = await org["outsider"].post(f"/api/v1/sessions/{live}/chat", json={"body": "蓝莓甜吗"})
    assert comment.status_code == 201, comment.text
    # Before the removal, the host may do these (the refusals below are about the role alone).
    assert (await org["host"].get(f"/api/v1/sessions/{scheduled}/stream-key")).status_code == 200

    await remove_host_role(org)
    host = org["host"]
    outsider_id = org.ids["outsider"]
    attempts = {
        "show the stream key": await host.get(f"/api/v1/sessions/{scheduled}/stream-key"),
        "rotate the stream key": await host.post(f"/api/v1/sessions/{scheduled}/stream-key"),
        "start": await host.post(f"/api/v1/sessions/{scheduled}/start"),
        "end": await host.post(f"/api/v1/sessions/{live}/end"),
        "pin": await host.post(f"/api/v1/sessions/{live}/pin", json={"sku_id": org.inspected_sku}),
        "unpin": await host.delete(f"/api/v1/sessions/{live}/pin"),
        "announce a draw": await host.post(f"/api/v1/sessions/{live}/draws", json=draw_body()),
        "open a draw": await host.post(f"/api/v1/draws/{draw['id']}/open", json={}),
        "draw winners": await host.post(f"/api/v1/draws/{opened['id']}/draw", json={}),
        "cancel a draw": await host.post(
            f"/api/v1/draws/{draw['id']}/cancel", json={"reason": "主播临时有事，本场抽奖取消"}
        ),
        "mute a viewer": await host.post(
            f"/api/v1/sessions/{live}/mutes", json={"user_id": outsider_id, "reason": "刷屏"}
        ),
        "unmute a viewer": await host.delete(f"/api/v1/sessions/{live}/mutes/{outsider_id}"),
        "remove a comment": await host.post(f"/api/v1/chat/{comment.json()['id']}/remove", json={"reason": "刷屏"}),
        "invite a co-stream": await host.post(
            f"/api/v1/sessions/{live}/co-streams", json={"invitee_session_id": scheduled}
        ),
    }
    for what, r in attempts.items():
        assert_forbidden(r, what)
    # Nothing of it happened.
    detail = (await org["owner"].get(f"/api/v1/sessions/{live}")).json()
    assert detail["state"] == "live"
    assert (await org["owner"].get(f"/api/v1/sessions/{scheduled}")).json()["state"] == "scheduled"
    # The organisation's own people still run the show.
    r = await org["organiser"].post(f"/api/v1/sessions/{live}/pin", json={"sku_id": org.inspected_sku})
    assert r.status_code == 201, r.text


async def test_the_owner_still_edits_and_reassigns_a_show_whose_host_lost_the_role(org: LiveOrg) -> None:
    sid = int((await schedule_session(org))["id"])
    await remove_host_role(org)
    owner = org["owner"]
    r = await owner.patch(f"/api/v1/sessions/{sid}", json={"title": "靖宇蓝莓助农直播（新主播）"})
    assert r.status_code == 200, r.text
    assert r.json()["title"] == "靖宇蓝莓助农直播（新主播）"
    r = await org["organiser"].patch(f"/api/v1/sessions/{sid}", json={"description": "主播调整，敬请期待。"})
    assert r.status_code == 200, r.text
    # Assigning an ineligible host is still refused: the former host cannot be put back.
    r = await owner.patch(f"/api/v1/sessions/{sid}", json={"host_ids": [org.ids["host"]]})
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "host_not_eligible" and r.json()["errors"][0]["field"] == "host_ids"
    r = await owner.patch(f"/api/v1/sessions/{sid}", json={"host_ids": [org.ids["official"]]})
    assert r.status_code == 200, r.text
    assert [h["id"] for h in r.json()["hosts"]] == [org.ids["official"]]
    # The new host runs it; the former one still does not.
    assert (await org["official"].post(f"/api/v1/sessions/{sid}/start")).status_code == 200
    assert_forbidden(await org["host"].post(f"/api/v1/sessions/{sid}/end"), "end")


async def test_removing_the_role_revokes_the_key_and_asks_the_organisers_for_a_new_host(
    app: FastAPI, org: LiveOrg
) -> None:
    sid = int((await schedule_session(org))["id"])
    made = await org["host"].post(f"/api/v1/sessions/{sid}/stream-key")
    assert made.status_code == 201, made.text
    key = made.json()["stream_key"]
    other = int((await schedule_session(org, title="长白山木耳直播", host_ids=[org.ids["official"]]))["id"])
    other_key = (await org["official"].post(f"/api/v1/sessions/{other}/stream-key")).json()["stream_key"]

    await remove_host_role(org)
    # At once, before the event is even delivered: the key's maker no longer runs the show.
    assert await publish(app, key) == 403
    await app.state.ctx.relay.drain()
    async with app.state.ctx.uow() as uow:
        assert await keys.active_key(uow.session, sid) is None  # revoked
        assert await keys.active_key(uow.session, other) is not None  # another host's show: untouched
        audit = await uow.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "session.host_removed"))
        assert audit is not None and audit.target_id == str(sid)

    for who in ("owner", "organiser"):
        items = (await org[who].get("/api/v1/me/notifications")).json()["items"]
        needed = [n for n in items if n["kind"] == NotificationKind.HOST_NEEDED.value]
        assert [n["session_id"] for n in needed] == [sid], who
        assert "needs a new host" in needed[0]["text"] or "新主播" in needed[0]["text"]
    for who in ("host", "official", "supplier"):
        items = (await org[who].get("/api/v1/me/notifications")).json()["items"]
        assert all(n["kind"] != NotificationKind.HOST_NEEDED.value for n in items), who

    # Delivered again (at least once): nothing doubles.
    async with app.state.ctx.uow() as uow:
        assert await host_role_lost(uow, org.org_id, org.ids["host"]) == []
    async with app.state.ctx.uow() as uow:
        count = await uow.session.scalar(
            sa.select(sa.func.count(Notification.id)).where(Notification.kind == NotificationKind.HOST_NEEDED)
        )
        assert count == 2  # the owner and the organiser, once each

    # The organiser makes a new key; it publishes. The other host's key was never affected.
    fresh = await org["organiser"].post(f"/api/v1/sessions/{sid}/stream-key")
    assert fresh.status_code == 201, fresh.text
    assert await publish(app, fresh.json()["stream_key"]) == 200
    assert await publish(app, key) == 403
    assert await publish(app, other_key) == 200


async def test_a_host_who_keeps_another_hosting_role_keeps_the_show(
    app: FastAPI, org: LiveOrg, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    """Authority follows the roles held now: losing the host role while still an organiser of the
    organisation takes nothing away."""
    sid = int((await schedule_session(org))["id"])
    r = await org["owner"].post(
        f"/api/v1/organisations/{org.slug}/invitations",
        json={"email": f"host@{org.slug}.example.com", "role": "organiser"},
    )
    assert r.status_code == 201, r.text
    accepted = await org["host"].post("/api/v1/invitations/accept", json={"token": r.json()["token"]})
    assert accepted.status_code in (200, 201), accepted.text
    key = (await org["host"].post(f"/api/v1/sessions/{sid}/stream-key")).json()["stream_key"]
    await remove_host_role(org)
    await app.state.ctx.relay.drain()
    assert (await org["host"].post(f"/api/v1/sessions/{sid}/start")).status_code == 200
    assert await publish(app, key) == 200
