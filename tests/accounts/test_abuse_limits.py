"""Issue #14 (accounts security): sign-in backs off instead of locking the owner out, sign-ups and
organisations are limited per client address, sign-out kills the cookie on the server, and a
password change or "sign out everywhere" kills API tokens too. Through the HTTP API and pages."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from fieldcast.accounts.throttle import memory_throttles
from fieldcast.config import Settings
from fieldcast.session_cookie import SESSION_COOKIE
from tests.conftest import RELAXED_LIMITS
from tests.factories import PASSWORD, sign_up

ATTACKER, OWNER, NEIGHBOUR = "203.0.113.66", "198.51.100.7", "192.0.2.20"
Client = Callable[[str], httpx.AsyncClient]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(app: FastAPI, database_url: str, tmp_path: Path) -> Clock:
    """The production limits (not the test suite's relaxed ones), on a clock the test moves."""
    fake = Clock()
    defaults = {name: Settings.model_fields[name].default for name in RELAXED_LIMITS}
    production = Settings(database_url=database_url, data_dir=tmp_path, redis_url="", **defaults)
    app.state.ctx.throttles = memory_throttles(production, fake)
    return fake


@pytest.fixture
async def client_at(app: FastAPI) -> AsyncIterator[Client]:
    """A client (own cookie jar) whose requests come from `address`."""
    clients: list[httpx.AsyncClient] = []

    def make(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 40000 + len(clients)))
        clients.append(httpx.AsyncClient(transport=transport, base_url="http://testserver"))
        return clients[-1]

    yield make
    for c in clients:
        await c.aclose()


async def sign_in(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/signin", json={"email": email, "password": password})


# -- sign-in: back-off, not lock-out -----------------------------------------------------------


async def test_ten_wrong_passwords_do_not_lock_the_owner_out_from_another_address(
    clock: Clock, client_at: Client
) -> None:
    owner = client_at(OWNER)
    await sign_up(owner, "organiser@example.com")
    await owner.post("/api/v1/auth/signout")
    attacker = client_at(ATTACKER)
    answers = []
    for _ in range(10):  # ten guesses, each as soon as the back-off allows it
        r = await sign_in(attacker, "organiser@example.com", "wrong-guess-1")
        while r.status_code == 429:
            clock.now += int(r.headers["Retry-After"])
            r = await sign_in(attacker, "organiser@example.com", "wrong-guess-1")
        answers.append(r.status_code)
    assert answers == [401] * 10
    # Right after the tenth guess the account backs off, for every address, but briefly.
    waiting = await sign_in(owner, "organiser@example.com", PASSWORD)
    assert waiting.status_code == 429 and waiting.json()["errors"][0]["field"] == "password"
    retry_after = int(waiting.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    clock.now += retry_after
    assert (await sign_in(owner, "organiser@example.com", PASSWORD)).status_code == 200
    # Guessing was slowed down all along: ten guesses took minutes, not milliseconds.
    assert clock.now - 1000.0 >= 60


async def test_one_address_failing_often_waits_whatever_email_it_tries(clock: Clock, client_at: Client) -> None:
    sprayer, neighbour = client_at(ATTACKER), client_at(NEIGHBOUR)
    await sign_up(neighbour, "neighbour@example.com")
    for i in range(30):  # thirty different unknown emails: no account backs off, the address does
        assert (await sign_in(sprayer, f"nobody{i}@example.com", "wrong-guess-1")).status_code == 401
    refused = await sign_in(sprayer, "nobody-else@example.com", "wrong-guess-1")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 60
    assert (await sign_in(neighbour, "neighbour@example.com", PASSWORD)).status_code == 200


async def test_the_sign_in_page_shows_the_back_off_on_the_form(clock: Clock, client_at: Client) -> None:
    browser = client_at(ATTACKER)
    await sign_up(browser, "paged@example.com")
    await browser.post("/api/v1/auth/signout")
    for _ in range(5):
        await sign_in(browser, "paged@example.com", "wrong-guess-1")
    token = (await browser.get("/api/v1/auth/csrf")).json()["csrf_token"]
    page = await browser.post("/signin", data={"email": "paged@example.com", "password": PASSWORD, "csrf_token": token})
    assert page.status_code == 422 and "<form" in page.text
    assert "请在 1 秒后再试" in page.text or "Try again in 1 s" in page.text


# -- sign-up and organisations: per client address ---------------------------------------------


async def test_sign_up_is_limited_per_address(clock: Clock, client_at: Client) -> None:
    for i in range(10):
        assert (await sign_up(client_at(ATTACKER), f"farm{i}@example.com"))["email"] == f"farm{i}@example.com"
    refused = await client_at(ATTACKER).post(
        "/api/v1/auth/signup", json={"email": "farm10@example.com", "display_name": "x", "password": PASSWORD}
    )
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "too_many_requests" and int(refused.headers["Retry-After"]) > 0
    # Another address is not affected; an hour later this one may sign up again.
    await sign_up(client_at(NEIGHBOUR), "real-person@example.com")
    clock.now += 3601
    await sign_up(client_at(ATTACKER), "farm10@example.com")


async def test_the_sign_up_page_shows_the_limit_on_the_form(clock: Clock, client_at: Client) -> None:
    for i in range(10):
        await sign_up(client_at(ATTACKER), f"pagefarm{i}@example.com")
    browser = client_at(ATTACKER)
    token = (await browser.get("/api/v1/auth/csrf")).json()["csrf_token"]
    form = {"email": "pagefarm@example.com", "display_name": "x", "password": PASSWORD, "csrf_token": token}
    page = await browser.post("/signup", data=form)
    assert page.status_code == 422 and "<form" in page.text and "pagefarm@example.com" in page.text


async def test_organisation_creation_is_limited_per_address(clock: Clock, client_at: Client) -> None:
    maker = client_at(ATTACKER)
    await sign_up(maker, "maker@example.com")
    body = {"name": "合作社", "kind": "cooperative", "region": "吉林"}
    for i in range(5):
        assert (await maker.post("/api/v1/organisations", json={**body, "slug": f"coop-{i}"})).status_code == 201
    refused = await maker.post("/api/v1/organisations", json={**body, "slug": "coop-5"})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    other = client_at(NEIGHBOUR)
    await sign_up(other, "other-maker@example.com")
    assert (await other.post("/api/v1/organisations", json={**body, "slug": "coop-6"})).status_code == 201


# -- sessions and tokens -------------------------------------------------------------------------


async def test_a_replayed_cookie_after_sign_out_is_anonymous(
    client: httpx.AsyncClient, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    await sign_up(client, "replay@example.com")
    stolen = client.cookies[SESSION_COOKIE]
    thief = make_client()
    thief.cookies.set(SESSION_COOKIE, stolen)
    assert (await thief.get("/api/v1/me")).status_code == 200
    assert (await client.post("/api/v1/auth/signout")).status_code == 204
    assert (await thief.get("/api/v1/me")).status_code == 401
    account = await thief.get("/account")
    assert account.status_code == 303 and account.headers["location"].startswith("/signin")
    # Signing in again starts a new session that works (only the signed-out one is dead).
    assert (await sign_in(client, "replay@example.com", PASSWORD)).status_code == 200
    assert (await client.get("/api/v1/me")).status_code == 200


async def test_the_sign_out_page_also_kills_the_cookie(
    client: httpx.AsyncClient, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    await sign_up(client, "pageout@example.com")
    thief = make_client()
    thief.cookies.set(SESSION_COOKIE, client.cookies[SESSION_COOKIE])
    token = client.headers["X-CSRF-Token"]
    assert (await client.post("/signout", data={"csrf_token": token})).status_code == 303
    assert (await thief.get("/api/v1/me")).status_code == 401


async def test_a_token_stops_working_after_a_password_change(
    client: httpx.AsyncClient, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    await sign_up(client, "token-owner@example.com")
    token = (await client.post("/api/v1/me/tokens", json={"name": "script"})).json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    script = make_client()
    assert (await script.get("/api/v1/me", headers=bearer)).status_code == 200
    changed = await client.post(
        "/api/v1/me/password", json={"current_password": PASSWORD, "new_password": "another password 2"}
    )
    assert changed.status_code == 204
    refused = await script.get("/api/v1/me", headers=bearer)
    assert refused.status_code == 401 and refused.json()["code"] == "not_authenticated"
    tokens = (await client.get("/api/v1/me/tokens")).json()
    assert [t["revoked_at"] is not None for t in tokens] == [True]


async def test_a_token_stops_working_after_signing_out_everywhere(
    client: httpx.AsyncClient, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    await sign_up(client, "everywhere-token@example.com")
    token = (await client.post("/api/v1/me/tokens", json={"name": "app"})).json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    script = make_client()
    assert (await script.get("/api/v1/me", headers=bearer)).status_code == 200
    assert (await client.post("/api/v1/auth/signout-everywhere")).status_code == 204
    assert (await script.get("/api/v1/me", headers=bearer)).status_code == 401
