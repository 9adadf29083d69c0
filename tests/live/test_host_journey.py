"""The host's journey (issue #15): signing in lands a host on their shows, with each show's
console; a verified host's account shows the verification, not "apply"; a host hears in-app when
put on a show, once, and an applicant when their verification is decided. Runs on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.accounts.events import TOPIC_VERIFICATION
from fieldcast.db.outbox import Envelope, OutboxMessage
from fieldcast.live.models import Notification, NotificationKind
from fieldcast.live.verification_notices import verification_decisions
from tests.factories import (
    PASSWORD,
    LiveOrg,
    apply_for_verification,
    live_session,
    make_live_org,
    schedule_session,
    session_body,
    sign_up,
    verify_host,
)

MakeClient = Callable[[], httpx.AsyncClient]


@pytest.fixture
async def org(app: FastAPI, make_client: MakeClient) -> LiveOrg:
    return await make_live_org(app, make_client, "journey")


async def sign_in_page(client: httpx.AsyncClient, email: str, next_path: str | None = None) -> httpx.Response:
    """Sign in through the HTML form, as a browser does."""
    token = (await client.get("/api/v1/auth/csrf")).json()["csrf_token"]
    data = {"email": email, "password": PASSWORD, "csrf_token": token}
    if next_path is not None:
        data["next"] = next_path
    return await client.post("/signin", data=data)


async def notifications(client: httpx.AsyncClient, kind: NotificationKind) -> list[dict[str, Any]]:
    items = (await client.get("/api/v1/me/notifications")).json()["items"]
    return [n for n in items if n["kind"] == kind.value]


# -- landing ---------------------------------------------------------------------------------------


async def test_a_host_lands_on_their_shows_after_signing_in(org: LiveOrg, make_client: MakeClient) -> None:
    upcoming = int((await schedule_session(org, title="靖宇蓝莓预告"))["id"])
    live = await live_session(org, title="靖宇蓝莓正在直播")
    elsewhere = int((await schedule_session(org, title="别人的直播", host_ids=[org.ids["official"]]))["id"])

    host = make_client()
    r = await sign_in_page(host, f"host@{org.slug}.example.com")
    assert r.status_code == 303 and r.headers["location"] == "/me/shows"
    page = await host.get("/me/shows")
    assert page.status_code == 200
    assert f'href="/live/{live}/console"' in page.text and f'href="/live/{upcoming}/console"' in page.text
    assert f"/live/{elsewhere}/console" not in page.text
    assert 'data-testid="my-show-live"' in page.text and 'data-testid="my-show-upcoming"' in page.text
    assert page.text.index(f"/live/{live}/console") < page.text.index(f"/live/{upcoming}/console")
    assert 'href="/me/shows" data-testid="nav-my-shows"' in page.text

    # An explicit next still wins; a viewer without a host role lands on the account.
    again = make_client()
    r = await sign_in_page(again, f"host@{org.slug}.example.com", "/cart")
    assert r.status_code == 303 and r.headers["location"] == "/cart"
    viewer = make_client()
    r = await sign_in_page(viewer, f"outsider@{org.slug}.example.com")
    assert r.status_code == 303 and r.headers["location"] == "/account"
    assert 'data-testid="my-shows-empty"' in (await viewer.get("/me/shows")).text
    # A refused sign-in keeps no made-up next: the form carries one only when it was asked for.
    assert 'name="next"' not in (await make_client().get("/signin")).text
    assert 'name="next" value="/cart"' in (await make_client().get("/signin?next=/cart")).text
    assert (await make_client().get("/me/shows")).headers["location"] == "/signin?next=/me/shows"


async def test_a_verified_host_without_a_host_role_lands_on_their_shows(org: LiveOrg, make_client: MakeClient) -> None:
    person = make_client()
    await sign_up(person, "solo@example.com", "独立主播")
    await verify_host(org["admin"], person, "farmer")
    r = await sign_in_page(make_client(), "solo@example.com")
    assert r.status_code == 303 and r.headers["location"] == "/me/shows"


async def test_a_verified_host_sees_the_verification_not_apply(org: LiveOrg) -> None:
    verified = (await org["host"].get("/account")).text
    assert 'data-testid="verified-until"' in verified
    assert 'data-testid="apply-link"' not in verified
    assert 'data-testid="my-shows-link"' in verified
    unverified = (await org["unverified"].get("/account")).text
    assert 'data-testid="apply-link"' in unverified and 'data-testid="verified-until"' not in unverified
    outsider = (await org["outsider"].get("/account")).text
    assert 'data-testid="apply-link"' in outsider and 'data-testid="my-shows-link"' not in outsider


# -- notifications ---------------------------------------------------------------------------------


async def test_a_host_is_told_once_when_put_on_a_show(app: FastAPI, org: LiveOrg) -> None:
    headers = {"Idempotency-Key": "schedule-journey-1"}
    body = session_body(org)
    first = await org["organiser"].post("/api/v1/sessions", json=body, headers=headers)
    retry = await org["organiser"].post("/api/v1/sessions", json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert retry.status_code == 201 and retry.json()["id"] == first.json()["id"], (retry.status_code, retry.text)
    sid = int(first.json()["id"])
    told = await notifications(org["host"], NotificationKind.HOST_ASSIGNED)
    assert [(n["session_id"], n["url"]) for n in told] == [(sid, f"/live/{sid}/console")]
    assert "靖宇蓝莓助农直播" in told[0]["text"]
    for who in ("official", "organiser", "owner", "outsider"):
        assert await notifications(org[who], NotificationKind.HOST_ASSIGNED) == [], who

    # Adding a host tells the one added, not the one already on the show; a repeat tells nobody.
    patch = {"host_ids": [org.ids["host"], org.ids["official"]]}
    for key in ("patch-journey-1", "patch-journey-1", "patch-journey-2"):
        r = await org["organiser"].patch(f"/api/v1/sessions/{sid}", json=patch, headers={"Idempotency-Key": key})
        assert r.status_code == 200, r.text
    assert len(await notifications(org["host"], NotificationKind.HOST_ASSIGNED)) == 1
    assert [n["session_id"] for n in await notifications(org["official"], NotificationKind.HOST_ASSIGNED)] == [sid]
    async with app.state.ctx.uow() as uow:
        count = await uow.session.scalar(
            sa.select(sa.func.count(Notification.id)).where(Notification.kind == NotificationKind.HOST_ASSIGNED)
        )
    assert count == 2

    # Refused changes tell nobody: a host may not reassign the show.
    r = await org["host"].patch(f"/api/v1/sessions/{sid}", json={"host_ids": [org.ids["unverified"]]})
    assert r.status_code == 403
    assert await notifications(org["unverified"], NotificationKind.HOST_ASSIGNED) == []


async def test_an_applicant_is_told_the_verification_decision_once(
    app: FastAPI, org: LiveOrg, make_client: MakeClient
) -> None:
    approved, rejected = make_client(), make_client()
    await sign_up(approved, "yes@example.com", "通过")
    await sign_up(rejected, "no@example.com", "未通过")
    ok = await apply_for_verification(approved, 901)
    no = await apply_for_verification(rejected, 902)
    r = await org["admin"].post(f"/api/v1/verifications/{ok['id']}/approve", json={"reason": "核验无误"})
    assert r.status_code == 200, r.text
    r = await org["admin"].post(f"/api/v1/verifications/{no['id']}/reject", json={"reason": "证件照片模糊"})
    assert r.status_code == 200, r.text
    await app.state.ctx.relay.drain()

    yes = await notifications(approved, NotificationKind.HOST_VERIFIED)
    assert [n["url"] for n in yes] == ["/account"]
    assert await notifications(approved, NotificationKind.HOST_VERIFICATION_REJECTED) == []
    assert [n["url"] for n in await notifications(rejected, NotificationKind.HOST_VERIFICATION_REJECTED)] == [
        "/account"
    ]
    assert await notifications(rejected, NotificationKind.HOST_VERIFIED) == []
    assert await notifications(org["outsider"], NotificationKind.HOST_VERIFIED) == []

    # Each decision's event delivered again (at least once) writes nothing more.
    deliver = verification_decisions(app.state.ctx.uow)
    async with app.state.ctx.uow() as uow:
        sent = (
            await uow.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.topic == TOPIC_VERIFICATION))
        ).all()
        envelopes = [
            Envelope(m.id, m.topic, m.key, m.event_type, m.payload, m.created_at)
            for m in sent
            if m.payload["verification_id"] in (ok["id"], no["id"])
        ]
    assert sorted(e.payload["status"] for e in envelopes) == ["approved", "rejected"]
    for envelope in envelopes:
        await deliver(envelope)
    assert len(await notifications(approved, NotificationKind.HOST_VERIFIED)) == 1
    assert len(await notifications(rejected, NotificationKind.HOST_VERIFICATION_REJECTED)) == 1
