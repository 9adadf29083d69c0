"""Organisations, roles and invitations: who may, and who may not."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from fastapi import FastAPI

from tests.factories import create_organisation, make_admin, sign_up

ORG_A = {"slug": "dabeishan", "name": "大北山村合作社", "kind": "cooperative", "region": "吉林省靖宇县"}
ORG_B = {"slug": "yanghe-town", "name": "洋河镇人民政府", "kind": "government", "region": "山东省胶州市"}


async def _invite(client: httpx.AsyncClient, slug: str, email: str, role: str) -> httpx.Response:
    return await client.post(f"/api/v1/organisations/{slug}/invitations", json={"email": email, "role": role})


async def test_the_creator_owns_the_organisation_and_may_edit_it(client: httpx.AsyncClient) -> None:
    me = await sign_up(client, "founder@example.com", "社长")
    await create_organisation(client, ORG_A)
    members = (await client.get("/api/v1/organisations/dabeishan/members")).json()
    assert members == [
        {"user_id": me["id"], "display_name": "社长", "roles": ["owner"], "badges": members[0]["badges"]}
    ]
    r = await client.patch("/api/v1/organisations/dabeishan", json={"description": "蓝莓、山货"})
    assert r.status_code == 200 and r.json()["description"] == "蓝莓、山货"


async def test_a_member_of_a_cannot_change_b(
    client: httpx.AsyncClient, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    await sign_up(client, "a-owner@example.com")
    await create_organisation(client, ORG_A)
    b_owner = make_client()
    await sign_up(b_owner, "b-owner@example.com")
    await create_organisation(b_owner, ORG_B)

    r = await client.patch("/api/v1/organisations/yanghe-town", json={"name": "Hijacked"})
    assert r.status_code == 403 and r.json()["code"] == "missing_role"
    assert (await _invite(client, "yanghe-town", "friend@example.com", "host")).status_code == 403
    assert (await client.get("/api/v1/organisations/yanghe-town/invitations")).status_code == 403
    b_owner_id = (await b_owner.get("/api/v1/me")).json()["id"]
    assert (
        await client.delete(f"/api/v1/organisations/yanghe-town/members/{b_owner_id}/roles/owner")
    ).status_code == 403
    assert (await client.get("/api/v1/organisations/yanghe-town")).json()["name"] == ORG_B["name"]


async def test_an_invitation_is_accepted_only_by_its_addressee(
    client: httpx.AsyncClient, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    await sign_up(client, "boss@example.com")
    await create_organisation(client, ORG_A)
    created = await _invite(client, "dabeishan", "Inspector@Example.com", "inspector")
    assert created.status_code == 201
    token = created.json()["token"]

    stranger = make_client()
    await sign_up(stranger, "stranger@example.com")
    assert (await stranger.post("/api/v1/invitations/accept", json={"token": token})).status_code == 403

    invitee = make_client()
    await sign_up(invitee, "inspector@example.com", "抽检员")
    accepted = await invitee.post("/api/v1/invitations/accept", json={"token": token})
    assert accepted.status_code == 200 and accepted.json()["roles"] == ["inspector"]
    reused = await invitee.post("/api/v1/invitations/accept", json={"token": token})
    assert reused.status_code == 409 and reused.json()["code"] == "invitation_unusable"


async def test_an_organiser_invites_hosts_but_cannot_grant_ownership(
    client: httpx.AsyncClient, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    await sign_up(client, "owner2@example.com")
    await create_organisation(client, ORG_A)
    token = (await _invite(client, "dabeishan", "organiser@example.com", "organiser")).json()["token"]
    organiser = make_client()
    await sign_up(organiser, "organiser@example.com")
    await organiser.post("/api/v1/invitations/accept", json={"token": token})

    assert (await _invite(organiser, "dabeishan", "host@example.com", "host")).status_code == 201
    r = await _invite(organiser, "dabeishan", "coup@example.com", "owner")
    assert r.status_code == 403 and r.json()["errors"][0]["field"] == "role"
    assert (await organiser.patch("/api/v1/organisations/dabeishan", json={"name": "New"})).status_code == 403


async def test_a_host_cannot_invite_anyone(
    client: httpx.AsyncClient, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    await sign_up(client, "owner3@example.com")
    await create_organisation(client, ORG_A)
    token = (await _invite(client, "dabeishan", "h@example.com", "host")).json()["token"]
    host = make_client()
    await sign_up(host, "h@example.com")
    await host.post("/api/v1/invitations/accept", json={"token": token})
    assert (await _invite(host, "dabeishan", "x@example.com", "supplier")).status_code == 403


async def test_revoked_invitations_cannot_be_used(
    client: httpx.AsyncClient, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    await sign_up(client, "owner4@example.com")
    await create_organisation(client, ORG_A)
    created = (await _invite(client, "dabeishan", "late@example.com", "supplier")).json()
    r = await client.delete(f"/api/v1/organisations/dabeishan/invitations/{created['id']}")
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    late = make_client()
    await sign_up(late, "late@example.com")
    assert (await late.post("/api/v1/invitations/accept", json={"token": created["token"]})).status_code == 409


async def test_the_last_owner_cannot_be_removed(client: httpx.AsyncClient) -> None:
    me = await sign_up(client, "solo@example.com")
    await create_organisation(client, ORG_A)
    r = await client.delete(f"/api/v1/organisations/dabeishan/members/{me['id']}/roles/owner")
    assert r.status_code == 409 and r.json()["code"] == "last_owner"


async def test_slugs_are_unique_and_validated(client: httpx.AsyncClient) -> None:
    await sign_up(client, "slugs@example.com")
    await create_organisation(client, ORG_A)
    again = await client.post("/api/v1/organisations", json=ORG_A)
    assert again.status_code == 409 and again.json()["errors"][0]["field"] == "slug"
    bad = await client.post("/api/v1/organisations", json={**ORG_A, "slug": "Not a slug!"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "slug"
    unknown_kind = await client.post("/api/v1/organisations", json={**ORG_B, "kind": "party"})
    assert unknown_kind.status_code == 422 and unknown_kind.json()["errors"][0]["field"] == "kind"


async def test_anonymous_users_may_read_but_not_create(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/organisations", json=ORG_A)
    assert r.status_code == 401
    assert (await client.get("/api/v1/organisations")).json() == {"items": [], "total": 0, "limit": 50, "offset": 0}


async def test_platform_admins_may_moderate_any_organisation(
    client: httpx.AsyncClient, make_client: Callable[[], httpx.AsyncClient], app: FastAPI
) -> None:
    await sign_up(client, "owner5@example.com")
    await create_organisation(client, ORG_B)
    admin = make_client()
    await make_admin(app, admin)
    r = await admin.patch("/api/v1/organisations/yanghe-town", json={"region": "山东省青岛市胶州市"})
    assert r.status_code == 200
    log = (await admin.get("/api/v1/audit", params={"action": "organisation.update"})).json()
    assert log[0]["details"] == {"fields": ["region"]}
    owner_view = await client.get("/api/v1/audit", params={"organisation": "yanghe-town"})
    assert owner_view.status_code == 200
    assert {e["action"] for e in owner_view.json()} == {"organisation.create", "organisation.update"}
