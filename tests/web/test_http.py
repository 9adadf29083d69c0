"""The HTTP layer: health, OpenAPI, problem+json, limits, idempotency keys, forms and escaping."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.accounts.models import Organisation
from fieldcast.app import create_app
from fieldcast.config import Settings
from tests.conftest import TEST_SECRET, free_port
from tests.factories import PASSWORD, make_admin, sign_up

ORG = {"slug": "zigui", "name": "秭归县人民政府", "kind": "government"}


async def test_healthz_reports_database_and_bus(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["database"] == {"status": "ok", "backend": "sqlite"}
    assert body["bus"] == {"status": "ok", "backend": "memory"}


async def test_healthz_is_503_when_the_bus_is_down(database_url: str, tmp_path: Path) -> None:
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path,
        secret_key=TEST_SECRET,
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
    ):
        r = await c.get("/healthz")
    assert r.status_code == 503
    assert r.json()["bus"]["status"] == "down" and r.json()["database"]["status"] == "ok"


async def test_openapi_describes_the_api_under_api_v1(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    paths = set(spec["paths"])
    assert paths - {"/healthz"} and all(p.startswith("/api/v1/") for p in paths - {"/healthz"})
    for expected in (
        "/api/v1/auth/signup",
        "/api/v1/me/tokens",
        "/api/v1/verifications/{request_id}/approve",
        "/api/v1/organisations/{slug}/invitations",
        "/api/v1/audit",
        "/api/v1/hosts",
    ):
        assert expected in paths
    assert "Problem" in spec["components"]["schemas"]
    assert not any(p.startswith(("/signup", "/account", "/admin")) for p in paths)


@pytest.mark.parametrize(
    ("body", "content_type", "field"),
    [
        (b"{not json", "application/json", "body"),
        (b"[]", "application/json", "body"),
        (b'{"email": 5, "display_name": "x", "password": "long-enough-pw"}', "application/json", "email"),
        (b'{"email": "a@b.cn", "display_name": "", "password": "long-enough-pw"}', "application/json", "display_name"),
        (
            b'{"email": "a@b.cn", "display_name": "' + b"x" * 41 + b'", "password": "long-enough-pw"}',
            "application/json",
            "display_name",
        ),
        (
            b'{"email": "a@b.cn", "display_name": "x", "password": "long-enough-pw", "admin": true}',
            "application/json",
            "admin",
        ),
        (b'{"email": "\\u0000@b.cn", "display_name": "x", "password": "long-enough-pw"}', "application/json", "email"),
        (
            b'{"email": "a@b.cn", "display_name": "x", "password": "' + b"p" * 129 + b'"}',
            "application/json",
            "password",
        ),
    ],
)
async def test_bad_input_gets_problem_json_naming_the_field(
    client: httpx.AsyncClient, body: bytes, content_type: str, field: str
) -> None:
    r = await client.post("/api/v1/auth/signup", content=body, headers={"content-type": content_type})
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["status"] == 422 and problem["type"].startswith("/problems/")
    assert field in {e["field"] for e in problem["errors"]}


async def test_unknown_api_paths_and_methods_are_problems_too(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    wrong_method = await client.put("/api/v1/me")
    assert wrong_method.status_code == 405 and wrong_method.json()["code"] == "http_405"
    bad_query = await client.get("/api/v1/organisations", params={"limit": "lots"})
    assert bad_query.status_code == 422 and bad_query.json()["errors"][0]["field"] == "limit"
    too_many = await client.get("/api/v1/organisations", params={"limit": 100000})
    assert too_many.status_code == 422


async def test_oversized_bodies_are_refused_with_413(client: httpx.AsyncClient, settings: Settings) -> None:
    huge = b"x" * (settings.max_request_bytes + 1)
    r = await client.post("/api/v1/auth/signup", content=huge, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == "request_too_large"


async def test_an_idempotency_key_makes_a_retry_return_the_first_response(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await sign_up(client, "retry@example.com")
    first = await client.post("/api/v1/organisations", json=ORG, headers={"Idempotency-Key": "k-1"})
    retry = await client.post("/api/v1/organisations", json=ORG, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    async with app.state.ctx.uow() as uow:
        assert await uow.session.scalar(sa.select(sa.func.count(Organisation.id))) == 1

    reused = await client.post(
        "/api/v1/organisations", json={**ORG, "slug": "other"}, headers={"Idempotency-Key": "k-1"}
    )
    assert reused.status_code == 422 and reused.json()["code"] == "idempotency_key_reused"
    without_key = await client.post("/api/v1/organisations", json=ORG)
    assert without_key.status_code == 409  # the real duplicate check still applies


async def test_idempotency_keys_are_scoped_to_the_caller(
    client: httpx.AsyncClient, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    await sign_up(client, "one@example.com")
    other = make_client()
    await sign_up(other, "two@example.com")
    a = await client.post("/api/v1/me/tokens", json={"name": "t"}, headers={"Idempotency-Key": "same"})
    b = await other.post("/api/v1/me/tokens", json={"name": "t"}, headers={"Idempotency-Key": "same"})
    assert a.status_code == b.status_code == 201
    assert a.json()["token"] != b.json()["token"]
    assert "idempotent-replayed" not in b.headers


async def test_an_overlong_idempotency_key_is_refused(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/auth/signin", json={}, headers={"Idempotency-Key": "k" * 256})
    assert r.status_code == 422 and r.json()["code"] == "invalid_idempotency_key"


async def test_the_sign_up_form_re_renders_with_messages_and_keeps_what_was_typed(client: httpx.AsyncClient) -> None:
    page = await client.get("/signup")
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    r = await client.post(
        "/signup", data={"csrf_token": csrf, "email": "typed@example.com", "display_name": "Typed", "password": "short"}
    )
    assert r.status_code == 422
    assert 'data-testid="error-password"' in r.text
    assert 'value="typed@example.com"' in r.text
    assert "short" not in r.text.split("<main")[1]  # the password is never echoed back
    ok = await client.post(
        "/signup",
        data={"csrf_token": csrf, "email": "typed@example.com", "display_name": "Typed", "password": PASSWORD},
        follow_redirects=False,
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/account"


async def test_user_text_is_escaped_in_pages(
    client: httpx.AsyncClient, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    await sign_up(client, "xss@example.com", "<script>alert(1)</script>")
    await client.post("/api/v1/organisations", json={**ORG, "name": "<img src=x onerror=alert(1)>"})
    account = await client.get("/account")
    org_page = await client.get("/orgs/zigui")
    assert "<script>alert(1)</script>" not in account.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in account.text
    assert "<img src=x" not in org_page.text and "&lt;img src=x" in org_page.text
    assert "script-src 'self'" in org_page.headers["content-security-policy"]


async def test_pages_refuse_non_admins_with_an_error_page_not_a_500(
    client: httpx.AsyncClient, make_client: Callable[[], httpx.AsyncClient], app: FastAPI
) -> None:
    anonymous = await client.get("/admin/verifications", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/signin")
    await sign_up(client, "plain@example.com")
    r = await client.get("/admin/verifications")
    assert r.status_code == 403 and "text/html" in r.headers["content-type"]
    admin = make_client()
    await make_admin(app, admin)
    assert (await admin.get("/admin/verifications")).status_code == 200
    assert (await admin.get("/admin/audit")).status_code == 200


async def test_every_page_renders_for_anonymous_and_signed_in_users(client: httpx.AsyncClient) -> None:
    for path in ("/", "/hosts", "/orgs", "/signup", "/signin"):
        assert (await client.get(path)).status_code == 200, path
    await sign_up(client, "pages@example.com")
    await client.post("/api/v1/organisations", json=ORG)
    for path in ("/", "/account", "/account/verification", "/orgs/new", "/orgs/zigui", "/orgs/zigui/edit"):
        assert (await client.get(path)).status_code == 200, path
    assert (await client.get("/orgs/missing")).status_code == 404
    assert (await client.get("/no/such/page")).status_code == 404


async def test_home_page_has_a_proper_empty_state(client: httpx.AsyncClient) -> None:
    r = await client.get("/", headers={"accept-language": "en"})
    assert 'data-testid="empty-live"' in r.text and 'data-testid="empty-upcoming"' in r.text


async def test_front_end_assets_are_served_by_the_app_not_a_cdn(client: httpx.AsyncClient) -> None:
    page = (await client.get("/")).text
    assert "/static/vendor/pico.min.css" in page
    assert "http://" not in page.split("<body")[0] and "https://" not in page.split("<body")[0]
    for asset in ("/static/vendor/pico.min.css", "/static/app.css"):
        r = await client.get(asset)
        assert r.status_code == 200, f"{asset} missing: run `make install` (npm ci copies vendor files)"
        assert r.headers["content-type"].startswith("text/css")


async def test_the_account_page_offers_password_change_and_sign_out_everywhere(client: httpx.AsyncClient) -> None:
    await sign_up(client, "forms@example.com")
    page = await client.get("/account")
    main = page.text.split("<main", 1)[1]
    assert 'action="/account/password"' in main
    assert 'action="/account/signout-everywhere"' in main
    assert "<section" not in page.text.split("<title>", 1)[1].split("</title>", 1)[0]


@pytest.mark.parametrize("upkeep", [True, False])
async def test_the_upkeep_runs_in_a_process_only_where_the_setting_says(settings: Settings, upkeep: bool) -> None:
    chores = {"commerce-upkeep", "fulfilment", "aftersales-upkeep", "housekeeping"}
    app = create_app(settings.model_copy(update={"upkeep": upkeep}))
    async with app.router.lifespan_context(app):
        running = {task.get_name() for task in asyncio.all_tasks()}
        assert "outbox-relay" in running  # events leave every process, upkeep or not
        assert (chores <= running) is upkeep and (chores & running == set()) is not upkeep
    assert not chores & {task.get_name() for task in asyncio.all_tasks()}  # stopped with the app
