"""Sign-up, sign-in, sessions, CSRF and API tokens, through the HTTP API, on both databases."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.accounts.models import ApiToken, User
from tests.factories import PASSWORD, sign_up


async def test_sign_up_creates_an_account_with_an_argon2_hash_and_signs_in(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    body = await sign_up(client, "Lan@Example.com", "兰")
    assert body["email"] == "lan@example.com"
    assert body["badges"]["verified"] is False
    me = await client.get("/api/v1/me")
    assert me.status_code == 200 and me.json()["id"] == body["id"]
    async with app.state.ctx.uow() as uow:
        stored = await uow.session.scalar(sa.select(User.password_hash))
    assert stored is not None and stored.startswith("$argon2") and PASSWORD not in stored


async def test_duplicate_email_is_a_conflict_on_the_email_field(client: httpx.AsyncClient) -> None:
    await sign_up(client, "dup@example.com")
    r = await client.post(
        "/api/v1/auth/signup", json={"email": "DUP@example.com", "display_name": "x", "password": PASSWORD}
    )
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "email_taken"
    assert r.json()["errors"][0]["field"] == "email"


async def test_wrong_password_and_unknown_email_get_the_same_answer(client: httpx.AsyncClient) -> None:
    await sign_up(client, "who@example.com")
    wrong = await client.post("/api/v1/auth/signin", json={"email": "who@example.com", "password": "nope-nope-nope"})
    unknown = await client.post("/api/v1/auth/signin", json={"email": "nobody@example.com", "password": "nope-nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]


async def test_sign_out_ends_the_session(client: httpx.AsyncClient) -> None:
    await sign_up(client, "out@example.com")
    assert (await client.post("/api/v1/auth/signout")).status_code == 204
    r = await client.get("/api/v1/me")
    assert r.status_code == 401
    assert r.json()["code"] == "not_authenticated"


async def test_cookie_authenticated_api_writes_need_the_csrf_header(client: httpx.AsyncClient) -> None:
    await sign_up(client, "csrf@example.com")
    token_header = client.headers.pop("X-CSRF-Token")
    refused = await client.post("/api/v1/me/tokens", json={"name": "cli"})
    assert refused.status_code == 403
    assert refused.json()["code"] == "csrf_failed"
    forged = await client.post("/api/v1/me/tokens", json={"name": "cli"}, headers={"X-CSRF-Token": "forged"})
    assert forged.status_code == 403
    ok = await client.post("/api/v1/me/tokens", json={"name": "cli"}, headers={"X-CSRF-Token": token_header})
    assert ok.status_code == 201


async def test_a_form_post_without_the_csrf_token_is_refused(client: httpx.AsyncClient) -> None:
    await client.get("/signup")  # a session with a CSRF token exists, but the post omits it
    r = await client.post("/signup", data={"email": "form@example.com", "display_name": "F", "password": PASSWORD})
    assert r.status_code == 403
    assert (
        await client.post("/api/v1/auth/signin", json={"email": "form@example.com", "password": PASSWORD})
    ).status_code == 401


async def test_api_tokens_work_are_stored_hashed_and_stop_working_when_revoked(
    client: httpx.AsyncClient, make_client: Callable[[], httpx.AsyncClient], app: FastAPI
) -> None:
    await sign_up(client, "tok@example.com")
    created = await client.post("/api/v1/me/tokens", json={"name": "county script"})
    assert created.status_code == 201
    token = created.json()["token"]
    assert token.startswith("fc_")

    bearer = make_client()
    bearer.headers["Authorization"] = f"Bearer {token}"
    assert (await bearer.get("/api/v1/me")).json()["email"] == "tok@example.com"
    # Bearer writes need no CSRF token: no cookie is involved.
    assert (await bearer.post("/api/v1/me/tokens", json={"name": "second"})).status_code == 201

    listed = (await client.get("/api/v1/me/tokens")).json()
    assert {t["name"] for t in listed} == {"county script", "second"}
    assert all("token" not in t for t in listed)
    async with app.state.ctx.uow() as uow:
        hashes = (await uow.session.scalars(sa.select(ApiToken.token_hash))).all()
    assert token not in hashes and all(len(h) == 64 for h in hashes)

    revoked = await client.delete(f"/api/v1/me/tokens/{created.json()['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    after = await bearer.get("/api/v1/me")
    assert after.status_code == 401
    assert after.headers["content-type"] == "application/problem+json"


async def test_a_user_cannot_revoke_someone_elses_token(
    client: httpx.AsyncClient, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    await sign_up(client, "owner@example.com")
    token_id = (await client.post("/api/v1/me/tokens", json={"name": "mine"})).json()["id"]
    other = make_client()
    await sign_up(other, "other@example.com")
    r = await other.delete(f"/api/v1/me/tokens/{token_id}")
    assert r.status_code == 404
    assert all(t["revoked_at"] is None for t in (await client.get("/api/v1/me/tokens")).json())


async def test_password_exchange_for_a_token(
    client: httpx.AsyncClient, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    await sign_up(client, "script@example.com")
    anon = make_client()
    r = await anon.post(
        "/api/v1/auth/token", json={"email": "script@example.com", "password": PASSWORD, "token_name": "cron"}
    )
    assert r.status_code == 201
    fresh = make_client()
    fresh.headers["Authorization"] = f"Bearer {r.json()['token']}"
    assert (await fresh.get("/api/v1/me")).status_code == 200
    bad = await anon.post("/api/v1/auth/token", json={"email": "script@example.com", "password": "wrong-password"})
    assert bad.status_code == 401


async def test_an_invalid_bearer_token_is_refused_not_ignored(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/me", headers={"Authorization": "Bearer fc_not-a-token"})
    assert r.status_code == 401
    assert r.json()["code"] == "not_authenticated"


async def test_changing_the_password_ends_other_sessions_but_keeps_this_one(
    client: httpx.AsyncClient, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    await sign_up(client, "change@example.com")
    laptop = make_client()
    await laptop.post("/api/v1/auth/signin", json={"email": "change@example.com", "password": PASSWORD})
    assert (await laptop.get("/api/v1/me")).status_code == 200

    wrong = await client.post(
        "/api/v1/me/password", json={"current_password": "not-it", "new_password": "new password 1"}
    )
    assert wrong.status_code == 401 and wrong.json()["errors"][0]["field"] == "current_password"
    ok = await client.post("/api/v1/me/password", json={"current_password": PASSWORD, "new_password": "new password 1"})
    assert ok.status_code == 204
    assert (await client.get("/api/v1/me")).status_code == 200
    assert (await laptop.get("/api/v1/me")).status_code == 401
    old = await laptop.post("/api/v1/auth/signin", json={"email": "change@example.com", "password": PASSWORD})
    assert old.status_code == 401


async def test_sign_out_everywhere_ends_every_browser_session(
    client: httpx.AsyncClient, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    await sign_up(client, "everywhere@example.com")
    phone = make_client()
    await phone.post("/api/v1/auth/signin", json={"email": "everywhere@example.com", "password": PASSWORD})
    assert (await client.post("/api/v1/auth/signout-everywhere")).status_code == 204
    assert (await phone.get("/api/v1/me")).status_code == 401
    assert (await client.get("/api/v1/me")).status_code == 401
