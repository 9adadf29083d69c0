"""Issue #16: anonymous GETs of public pages and APIs come from memory, and a committed change is
visible on the next request: a price change, a pin, a session going live and a product sold out.
Each on one app process, and on two app instances sharing PostgreSQL or SQLite and Redis, as two
`fieldcast serve` processes do (each has its own cache; the data version is in Redis)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack

import httpx
import pytest
from fastapi import FastAPI

from fieldcast.app import create_app
from fieldcast.config import Settings
from fieldcast.session_cookie import SESSION_COOKIE, SessionCookie
from tests.conftest import REDIS_URL, QueryCounter, redis_or_skip
from tests.factories import LiveOrg, make_live_org, schedule_session


@dataclasses.dataclass
class Site:
    """Where writes go (`writer`: the first app) and where anonymous visitors read (`reader`)."""

    writer: FastAPI
    reader: FastAPI
    make_client: Callable[[], httpx.AsyncClient]
    anon: httpx.AsyncClient


@pytest.fixture(params=["one process", "two processes on Redis"])
async def site(request: pytest.FixtureRequest, app: FastAPI, settings: Settings) -> AsyncIterator[Site]:
    async with AsyncExitStack() as stack:
        if request.param == "one process":
            writer = reader = app
        else:
            await redis_or_skip()
            shared = settings.model_copy(update={"redis_url": REDIS_URL})
            # `app` (the fixture) wiped the database; these two share it, and Redis.
            writer, reader = create_app(shared), create_app(shared)
            for instance in (writer, reader):
                await stack.enter_async_context(instance.router.lifespan_context(instance))

        def make_client() -> httpx.AsyncClient:
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=writer), base_url="http://testserver")
            stack.push_async_callback(client.aclose)
            return client

        anon = httpx.AsyncClient(transport=httpx.ASGITransport(app=reader), base_url="http://testserver")
        stack.push_async_callback(anon.aclose)
        yield Site(writer, reader, make_client, anon)


async def cached_read(site: Site, path: str) -> httpx.Response:
    """An anonymous GET that the reader serves from its cache: the second one sends no query."""
    await site.anon.get(path)
    counter = QueryCounter(site.reader)
    async with counter.counting() as statements:
        r = await site.anon.get(path)
    assert r.status_code == 200, r.text
    assert statements == [], f"{path} was not served from the cache: {statements}"
    return r


async def test_committed_changes_are_visible_on_the_next_anonymous_request(site: Site) -> None:
    org: LiveOrg = await make_live_org(site.writer, site.make_client, "jingyu")
    show = await schedule_session(org, host_ids=[org.ids["official"]])
    sid, item = show["id"], show["shelf"][0]
    pid, sku = item["product_id"], item["sku_id"]
    room, product = f"/live/{sid}", f"/p/{pid}"
    session_api, products_api = f"/api/v1/sessions/{sid}", "/api/v1/products"

    # Warm: each is served from the cache before anything changes.
    page = await cached_read(site, room)
    assert 'data-state="scheduled"' in page.text and "¥79.00" in page.text
    assert "¥99.00" in (await cached_read(site, product)).text
    assert (await cached_read(site, session_api)).json()["state"] == "scheduled"
    listed = {p["id"]: p for p in (await cached_read(site, products_api)).json()["items"]}
    assert listed[pid]["min_price_fen"] == 9900

    # A price change: the list price on the product page and API, the live price in the room.
    r = await org["owner"].patch(f"/api/v1/products/{pid}/skus/{sku}", json={"price_fen": 12300})
    assert r.status_code == 200, r.text
    assert "¥123.00" in (await site.anon.get(product)).text
    listed = {p["id"]: p for p in (await site.anon.get(products_api)).json()["items"]}
    assert listed[pid]["min_price_fen"] == 12300
    await cached_read(site, product)  # and cached again
    r = await org["organiser"].patch(f"/api/v1/sessions/{sid}/shelf/{item['id']}", json={"live_price_fen": 6600})
    assert r.status_code == 200, r.text
    assert "¥66.00" in (await site.anon.get(room)).text
    assert (await site.anon.get(session_api)).json()["shelf"][0]["live_price_fen"] == 6600

    # Going live.
    await cached_read(site, room)
    assert (await org["official"].post(f"/api/v1/sessions/{sid}/start")).status_code == 200
    assert 'data-state="live"' in (await site.anon.get(room)).text
    assert (await site.anon.get(session_api)).json()["state"] == "live"

    # A pin: "explaining now" in the room.
    await cached_read(site, room)
    assert (await org["official"].post(f"/api/v1/sessions/{sid}/pin", json={"sku_id": sku})).status_code == 201
    assert f'data-pinned-sku="{sku}"' in (await site.anon.get(room)).text
    assert (await site.anon.get(session_api)).json()["pinned_sku_id"] == sku

    # Sold out.
    await cached_read(site, room)
    await cached_read(site, product)
    # (the units set aside for the show are gone: the pool is what the room sells from)
    r = await org["organiser"].patch(f"/api/v1/sessions/{sid}/shelf/{item['id']}", json={"session_stock": 0})
    assert r.status_code == 200, r.text
    page = await site.anon.get(room)
    assert 'data-available="0"' in page.text and 'data-testid="sold-out" hidden' not in page.text
    assert (await site.anon.get(session_api)).json()["shelf"][0]["available"] == 0


async def test_a_cached_page_is_the_same_for_every_new_visitor_and_each_session_gets_its_own_token(
    app: FastAPI, live_org: LiveOrg, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    show = await schedule_session(live_org)
    room = f"/live/{show['id']}"

    def token(page: httpx.Response) -> str:
        found = re.search(r'name="csrf-token" content="([^"]*)"', page.text)
        assert found is not None
        return found.group(1)

    # A visitor without a session: no token, no cookie, public for a second (nginx may hold it).
    first, second = make_client(), make_client()
    a1, b1 = await first.get(room), await second.get(room)
    for page in (a1, b1):
        assert token(page) == "" and "set-cookie" not in page.headers
        assert page.headers["cache-control"] == "public, max-age=1"
        assert "fc-csrf-" not in page.text and "fc-now-" not in page.text  # no marker reaches anyone
    assert re.search(r'data-server-now="20[^"]+"', a1.text)
    # The page's script asks for a session (static/session.js); from then on the page carries it.
    issued = (await first.get("/api/v1/auth/csrf")).json()["csrf_token"]
    assert first.cookies.get(SESSION_COOKIE)
    a2 = await first.get(room)
    assert token(a2) == issued and a2.headers["cache-control"] == "private, no-cache"
    assert (await second.get("/api/v1/auth/csrf")).json()["csrf_token"] not in ("", issued)
    assert token(await second.get(room)) not in ("", issued)
    # The token served is the session's own: a form posted with it goes through; with none, not.
    refused = await first.post("/lang/en", data={"csrf_token": "", "next": room})
    assert refused.status_code == 403, refused.text
    r = await first.post("/lang/en", data={"csrf_token": issued, "next": room})
    assert r.status_code == 303, r.text


async def test_the_session_a_cached_room_page_starts_counts_its_viewer_once(
    app: FastAPI, live_org: LiveOrg, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    """The anonymous viewer id (the honest counts) comes with the session: set by /auth/csrf for a
    page from the cache, kept when the room page is loaded again."""
    show = await schedule_session(live_org)
    visitor = make_client()
    await visitor.get(f"/live/{show['id']}")
    await visitor.get("/api/v1/auth/csrf")
    settings = app.state.ctx.settings  # the cookie as the room socket reads it
    cookie = SessionCookie(settings.resolved_secret_key, settings.session_max_age_s)
    viewer = cookie.read(visitor.cookies.get(SESSION_COOKIE)).get("viewer")
    assert viewer
    await visitor.get(f"/live/{show['id']}")
    assert cookie.read(visitor.cookies.get(SESSION_COOKIE)).get("viewer") == viewer


async def test_signed_in_room_viewers_share_one_shell_and_other_signed_in_pages_are_not_cached(
    app: FastAPI, live_org: LiveOrg, make_client: Callable[[], httpx.AsyncClient], queries: QueryCounter
) -> None:
    show = await schedule_session(live_org)
    room = f"/live/{show['id']}"
    host, viewer = live_org["host"], live_org["outsider"]
    await host.get(room)
    # The room: every signed-in viewer gets the same shell from memory, with their own CSRF token,
    # privately; nothing of theirs is in it (their own state comes from the room's /me).
    async with queries.counting() as statements:
        mine, theirs = await host.get(room), await viewer.get(room)
    assert statements == [], f"the signed-in room page was not served from the cache: {statements}"
    tokens = [re.search(r'name="csrf-token" content="([^"]+)"', p.text) for p in (mine, theirs)]
    assert tokens[0] and tokens[1] and tokens[0].group(1) != tokens[1].group(1)
    bodies = [
        re.sub(r'data-server-now="[^"]*"', "", p.text.replace(t.group(1), ""))
        for p, t in zip((mine, theirs), tokens, strict=True)
    ]
    assert bodies[0] == bodies[1]
    assert mine.headers["cache-control"] == "private, no-cache" and 'data-signed-in="y"' in mine.text
    assert 'data-testid="nav-cart"' in mine.text and 'data-testid="nav-signin"' not in mine.text
    anonymous = await make_client().get(room)
    assert 'data-testid="nav-signin"' in anonymous.text and 'data-signed-in=""' in anonymous.text
    me = (await host.get(f"/api/v1/sessions/{show['id']}/me")).json()
    assert me["operator"] is True and me["user_id"] == live_org.ids["host"]
    # Other pages carry the signed-in visitor's header (the bell's count): built per request.
    await host.get("/")
    async with queries.counting() as statements:
        await host.get("/")
    assert statements, "a signed-in page other than the room was served from the cache"
    # An API token is never served from the cache.
    async with queries.counting() as statements:
        r = await make_client().get(f"/api/v1/sessions/{show['id']}", headers={"authorization": "Bearer fct_x"})
    assert r.status_code == 200 and statements, "a request with a token was served from the cache"


async def test_a_signed_out_session_gets_the_anonymous_room_after_its_me_is_refused(
    live_org: LiveOrg, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    """A session signed out elsewhere still holds the user in its cookie: the shell is served, /me
    answers 401 and drops the user from the cookie, and the reload (me.js) is the anonymous page."""
    show = await schedule_session(live_org)
    room = f"/live/{show['id']}"
    viewer = live_org["outsider"]
    stale = make_client()
    stale.cookies.set(SESSION_COOKIE, viewer.cookies.get(SESSION_COOKIE) or "")
    assert (await viewer.post("/api/v1/auth/signout-everywhere")).status_code in (200, 204)
    assert 'data-signed-in="y"' in (await stale.get(room)).text
    refused = await stale.get(f"/api/v1/sessions/{show['id']}/me")
    assert refused.status_code == 401
    assert 'data-signed-in=""' in (await stale.get(room)).text


async def test_etag_and_304_on_cached_api_reads(
    live_org: LiveOrg, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    show = await schedule_session(live_org)
    path = f"/api/v1/sessions/{show['id']}"
    anon = make_client()
    first = await anon.get(path)
    tag = first.headers["etag"]
    again = await anon.get(path, headers={"if-none-match": tag})
    assert again.status_code == 304 and again.content == b""
    r = await live_org["organiser"].patch(path, json={"title": "秋收专场 第二场"})
    assert r.status_code == 200, r.text
    changed = await anon.get(path, headers={"if-none-match": tag})
    assert changed.status_code == 200 and changed.json()["title"] == "秋收专场 第二场"


# What building each page costs in queries, pinned: a change here is a change to the read path's
# cost and must be deliberate (issue #16). Each built once per data version; served from memory after.
BUILD_QUERIES = {
    "home": 12,
    "room": 11,
    "product_page": 17,
    "products_api": 5,
    "session_api": 8,
    "room_signed_in": 0,  # the signed-in viewers' shell, from memory: nothing of the viewer's own
    "room_me": 10,  # the viewer's own: user, show, roles, hosts, moderator, follows, mute, draws, coupons, bell
}


async def test_the_read_path_query_counts_are_pinned(
    live_org: LiveOrg, make_client: Callable[[], httpx.AsyncClient], queries: QueryCounter
) -> None:
    show = await schedule_session(live_org, host_ids=[live_org.ids["official"]])
    pid = show["shelf"][0]["product_id"]
    assert (await live_org["official"].post(f"/api/v1/sessions/{show['id']}/start")).status_code == 200
    paths = {
        "home": "/",
        "room": f"/live/{show['id']}",
        "product_page": f"/p/{pid}",
        "products_api": "/api/v1/products",
        "session_api": f"/api/v1/sessions/{show['id']}",
    }
    counted: dict[str, int] = {}
    anon = make_client()
    for name, path in paths.items():
        async with queries.counting() as statements:
            r = await anon.get(path)
        assert r.status_code == 200, r.text
        counted[name] = len(statements)
    viewer = live_org["outsider"]
    await viewer.get(paths["room"])
    async with queries.counting() as statements:
        assert (await viewer.get(paths["room"])).status_code == 200
    counted["room_signed_in"] = len(statements)
    async with queries.counting() as statements:
        assert (await viewer.get(f"/api/v1/sessions/{show['id']}/me")).status_code == 200
    counted["room_me"] = len(statements)
    assert counted == BUILD_QUERIES
