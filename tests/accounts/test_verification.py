"""Real-name host verification: apply, decide, badges, expiry, privacy of the ID number, audit."""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import timedelta

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.accounts import actions
from fieldcast.accounts.models import REASON_MAX, HostVerification, User
from fieldcast.db.audit import AuditEntry
from fieldcast.db.base import utcnow
from fieldcast.i18n import N_, gettext
from tests.factories import apply_for_verification, id_number, make_admin, sign_up, verification_body
from tests.live.conftest import post_form


async def test_admin_approval_gives_the_verified_and_official_badges(
    client: httpx.AsyncClient, make_client: Callable[[], httpx.AsyncClient], app: FastAPI
) -> None:
    await sign_up(client, "host@example.com", "县长")
    request = await apply_for_verification(client, host_kind="official")
    assert request["status"] == "pending"
    assert (await client.get("/api/v1/me")).json()["badges"]["verified"] is False

    admin = make_client()
    await make_admin(app, admin)
    queue = (await admin.get("/api/v1/verifications", params={"status": "pending"})).json()
    assert [item["id"] for item in queue["items"]] == [request["id"]]
    r = await admin.post(
        f"/api/v1/verifications/{request['id']}/approve", json={"reason": "appointment notice checked"}
    )
    assert r.status_code == 200 and r.json()["status"] == "approved"

    badges = (await client.get("/api/v1/me")).json()["badges"]
    assert badges["verified"] is True and badges["official"] is True
    assert badges["position_title"] == "驻村第一书记"
    hosts = (await client.get("/api/v1/hosts")).json()["items"]
    assert [h["display_name"] for h in hosts] == ["县长"]
    assert "legal_name" not in hosts[0] and "id_number_last4" not in str(hosts[0])


async def test_a_non_admin_cannot_see_the_queue_or_decide(
    client: httpx.AsyncClient, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    await sign_up(client, "applicant@example.com")
    request = await apply_for_verification(client)
    other = make_client()
    await sign_up(other, "bystander@example.com")
    for c in (client, other):  # not even the applicant may approve their own request
        assert (await c.get("/api/v1/verifications")).status_code == 403
        r = await c.post(f"/api/v1/verifications/{request['id']}/approve", json={})
        assert r.status_code == 403
        assert r.json()["code"] == "not_platform_admin"
    assert (await client.get("/api/v1/me/verifications")).json()[0]["status"] == "pending"


async def test_an_admin_cannot_approve_their_own_request(client: httpx.AsyncClient, app: FastAPI) -> None:
    await make_admin(app, client)
    request = await apply_for_verification(client)
    r = await client.post(f"/api/v1/verifications/{request['id']}/approve", json={})
    assert r.status_code == 403


async def test_the_id_number_is_checked_and_never_stored(client: httpx.AsyncClient, app: FastAPI) -> None:
    await sign_up(client, "idcheck@example.com")
    bad = dict(verification_body())
    bad["id_number"] = bad["id_number"][:-1] + ("0" if bad["id_number"][-1] != "0" else "1")
    r = await client.post("/api/v1/me/verifications", json=bad)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "id_number"

    request = await apply_for_verification(client)
    number = id_number(1)
    assert request["id_number_last4"] == number[-4:]
    async with app.state.ctx.uow() as uow:
        row = await uow.session.scalar(sa.select(HostVerification))
        raw_rows = (await uow.session.execute(sa.text("SELECT * FROM host_verifications"))).all()
    assert row is not None and len(row.id_number_hash) == 64
    assert all(number not in str(value) for r in raw_rows for value in r)


async def test_the_same_id_number_cannot_verify_two_accounts(
    client: httpx.AsyncClient, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    await sign_up(client, "first@example.com")
    await apply_for_verification(client, serial=7)
    other = make_client()
    await sign_up(other, "second@example.com")
    r = await other.post("/api/v1/me/verifications", json=verification_body(7))
    assert r.status_code == 409 and r.json()["code"] == "id_number_in_use"


async def test_rejection_needs_a_reason_and_allows_a_new_request(
    client: httpx.AsyncClient, make_client: Callable[[], httpx.AsyncClient], app: FastAPI
) -> None:
    await sign_up(client, "rejected@example.com")
    request = await apply_for_verification(client)
    assert (await client.post("/api/v1/me/verifications", json=verification_body())).status_code == 409
    admin = make_client()
    await make_admin(app, admin)
    no_reason = await admin.post(f"/api/v1/verifications/{request['id']}/reject", json={"reason": "  "})
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason"
    r = await admin.post(f"/api/v1/verifications/{request['id']}/reject", json={"reason": "evidence unreadable"})
    assert r.json()["status"] == "rejected" and r.json()["decision_reason"] == "evidence unreadable"
    again = await admin.post(f"/api/v1/verifications/{request['id']}/approve", json={})
    assert again.status_code == 409
    assert (await client.get("/api/v1/me")).json()["badges"]["verified"] is False
    await apply_for_verification(client)  # may apply again after a rejection


async def test_a_decision_reason_over_the_limit_is_refused_by_the_api_and_the_admin_page(
    client: httpx.AsyncClient, make_client: Callable[[], httpx.AsyncClient], app: FastAPI
) -> None:
    """The limit is the actions' (approve and reject): the admin page no longer has its own."""
    await sign_up(client, "long-reason@example.com")
    request = await apply_for_verification(client)
    admin = make_client()
    await make_admin(app, admin)
    too_long = "证" * (REASON_MAX + 1)
    message = gettext(N_("Must be at most %(max_length)s characters."), max_length=REASON_MAX)
    for decision in ("approve", "reject"):
        r = await admin.post(f"/api/v1/verifications/{request['id']}/{decision}", json={"reason": too_long})
        assert r.status_code == 422
        assert [(e["field"], e["message"]) for e in r.json()["errors"]] == [("reason", message)]
        page = await post_form(admin, f"/admin/verifications/{request['id']}/{decision}", {"reason": too_long})
        assert page.status_code == 422 and message in html.unescape(page.text)
    assert (await client.get("/api/v1/me/verifications")).json()[0]["status"] == "pending"
    done = await post_form(admin, f"/admin/verifications/{request['id']}/reject", {"reason": "  证件照片不清晰  "})
    assert done.status_code == 303
    decided = (await client.get("/api/v1/me/verifications")).json()[0]
    assert (decided["status"], decided["decision_reason"]) == ("rejected", "证件照片不清晰")


async def test_verification_expires_and_can_be_requested_again(
    client: httpx.AsyncClient, make_client: Callable[[], httpx.AsyncClient], app: FastAPI
) -> None:
    me = await sign_up(client, "expiring@example.com")
    request = await apply_for_verification(client)
    async with app.state.ctx.uow() as uow:
        admin = User(email="a2@example.com", display_name="A", password_hash="x", is_platform_admin=True)
        uow.session.add(admin)
        await uow.session.flush()
        await actions.approve_verification(
            uow, admin, int(str(request["id"])), valid_days=30, now=utcnow() - timedelta(days=31)
        )
    assert (await client.get("/api/v1/me")).json()["badges"]["verified"] is False
    mine = (await client.get("/api/v1/me/verifications")).json()
    assert mine[0]["status"] == "expired"
    assert (await client.get("/api/v1/hosts")).json()["total"] == 0
    renewed = await apply_for_verification(client)
    assert renewed["status"] == "pending" and renewed["user_id"] == me["id"]


async def test_a_valid_verification_cannot_be_re_requested_until_near_its_end(
    client: httpx.AsyncClient, make_client: Callable[[], httpx.AsyncClient], app: FastAPI
) -> None:
    await sign_up(client, "valid@example.com")
    request = await apply_for_verification(client)
    admin = make_client()
    await make_admin(app, admin)
    await admin.post(f"/api/v1/verifications/{request['id']}/approve", json={})
    r = await client.post("/api/v1/me/verifications", json=verification_body())
    assert r.status_code == 409 and r.json()["code"] == "verification_still_valid"


async def test_every_decision_is_in_the_audit_log_with_who_and_why(
    client: httpx.AsyncClient, make_client: Callable[[], httpx.AsyncClient], app: FastAPI
) -> None:
    await sign_up(client, "audited@example.com")
    first = await apply_for_verification(client)
    admin = make_client()
    admin_user = await make_admin(app, admin)
    await admin.post(f"/api/v1/verifications/{first['id']}/reject", json={"reason": "wrong county"})
    second = await apply_for_verification(client)
    await admin.post(f"/api/v1/verifications/{second['id']}/approve", json={"reason": "checked by phone"})

    log = (await admin.get("/api/v1/audit", params={"target_type": "host_verification"})).json()
    decisions = [
        (e["action"], e["target_id"], e["actor_id"], e["reason"]) for e in log if e["action"] != "verification.apply"
    ]
    assert decisions == [
        ("verification.approve", str(second["id"]), admin_user["id"], "checked by phone"),
        ("verification.reject", str(first["id"]), admin_user["id"], "wrong county"),
    ]
    assert (await client.get("/api/v1/audit")).status_code == 403
    async with app.state.ctx.uow() as uow:
        when = await uow.session.scalar(sa.select(AuditEntry.created_at).order_by(AuditEntry.id.desc()).limit(1))
    assert when is not None and when.tzinfo is not None
