"""Live rooms over the API: scheduling rules, shelf gate, keys, state, pinning, events, co-streams,
follows and notifications — and who may not do each thing. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.catalog.models import Product, Sku
from fieldcast.commerce.checkout import Wanted
from fieldcast.db.audit import AuditEntry
from fieldcast.db.base import utcnow
from fieldcast.live import keys
from fieldcast.live.models import LiveSession
from tests.commerce.buyers import buy, make_buyer, pay
from tests.conftest import QueryCounter
from tests.factories import LiveOrg, MakeClient, make_live_org, schedule_session, session_body, sign_up


@pytest.fixture
async def org(app: FastAPI, make_client: Callable[[], httpx.AsyncClient]) -> LiveOrg:
    return await make_live_org(app, make_client, "jingyu")


async def test_organiser_schedules_and_live_list_has_contract_fields(org: LiveOrg) -> None:
    created = await schedule_session(org)
    assert created["state"] == "scheduled" and created["hls_url"] is None
    assert created["is_public_welfare"] is False
    assert [x["live_price_fen"] for x in created["shelf"]] == [7900]
    anon = org["outsider"]
    assert (await anon.get("/api/v1/sessions", params={"state": "live"})).json()["items"] == []

    r = await org["host"].post(f"/api/v1/sessions/{created['id']}/start")
    assert r.status_code == 200, r.text
    live = (await anon.get("/api/v1/sessions", params={"state": "live"})).json()["items"]
    assert [x["id"] for x in live] == [created["id"]]
    item = live[0]
    assert {"id", "state", "title", "event_id", "hls_url"} <= item.keys()
    assert item["state"] == "live" and item["hls_url"].endswith("/index.m3u8")
    assert item["hls_url"].startswith("/hls/live/")


@pytest.mark.parametrize("who", ["host", "supplier", "outsider"])
async def test_only_organisers_schedule(org: LiveOrg, who: str) -> None:
    r = await org[who].post("/api/v1/sessions", json=session_body(org))
    assert r.status_code == 403, r.text


async def test_anonymous_cannot_schedule(org: LiveOrg, make_client: Callable[[], httpx.AsyncClient]) -> None:
    r = await make_client().post("/api/v1/sessions", json=session_body(org))
    assert r.status_code == 401


@pytest.mark.parametrize("who", ["unverified", "outsider", "supplier"])
async def test_hosts_must_be_verified_members(org: LiveOrg, who: str) -> None:
    r = await org["organiser"].post("/api/v1/sessions", json=session_body(org, host_ids=[org.ids[who]]))
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "host_ids"


async def test_official_forces_public_welfare_and_cannot_host_other_shows(org: LiveOrg) -> None:
    refused = await org["organiser"].post(
        "/api/v1/sessions", json=session_body(org, host_ids=[org.ids["official"]], is_public_welfare=False)
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "is_public_welfare"
    forced = await schedule_session(org, host_ids=[org.ids["official"]])
    assert forced["is_public_welfare"] is True

    plain = await schedule_session(org, is_public_welfare=False, shelf=[])
    r = await org["organiser"].patch(
        f"/api/v1/sessions/{plain['id']}",
        json={"host_ids": [org.ids["host"], org.ids["official"]], "is_public_welfare": False},
    )
    assert r.status_code == 422, r.text
    r = await org["organiser"].patch(f"/api/v1/sessions/{plain['id']}", json={"host_ids": [org.ids["official"]]})
    assert r.status_code == 200, r.text
    assert r.json()["is_public_welfare"] is True


async def test_public_welfare_shelf_takes_only_inspected_skus(org: LiveOrg) -> None:
    bad = await org["organiser"].post(
        "/api/v1/sessions",
        json=session_body(org, is_public_welfare=True, shelf=[{"sku_id": org.uninspected_sku, "live_price_fen": 1000}]),
    )
    assert bad.status_code == 409, bad.text
    assert bad.json()["code"] == "not_inspected"
    pw = await schedule_session(org, is_public_welfare=True)
    r = await org["organiser"].post(
        f"/api/v1/sessions/{pw['id']}/shelf", json={"sku_id": org.uninspected_sku, "live_price_fen": 1000}
    )
    assert r.status_code == 409 and r.json()["code"] == "not_inspected"
    # An ordinary (not public-welfare) show may sell it.
    plain = await schedule_session(org, shelf=[{"sku_id": org.uninspected_sku, "live_price_fen": 1000}])
    assert len(plain["shelf"]) == 1
    # And a show with an uninspected SKU cannot be switched to public welfare.
    r = await org["organiser"].patch(f"/api/v1/sessions/{plain['id']}", json={"is_public_welfare": True})
    assert r.status_code == 409


async def test_shelf_rules_and_rights(org: LiveOrg) -> None:
    created = await schedule_session(org, shelf=[])
    url = f"/api/v1/sessions/{created['id']}/shelf"
    item = {"sku_id": org.inspected_sku, "live_price_fen": 6900}
    assert (await org["host"].post(url, json=item)).status_code == 403
    assert (await org["organiser"].post(url, json={**item, "live_price_fen": 0})).status_code == 422
    r = await org["organiser"].post(url, json=item)
    assert r.status_code == 201, r.text
    assert (await org["organiser"].post(url, json=item)).status_code == 409
    patched = await org["owner"].patch(f"{url}/{r.json()['id']}", json={"live_price_fen": 5900})
    assert patched.json()["live_price_fen"] == 5900
    assert (await org["owner"].delete(f"{url}/{r.json()['id']}")).status_code == 204
    assert (await org["outsider"].get(url)).json() == []


async def test_title_claims_need_a_written_override(org: LiveOrg, app: FastAPI) -> None:
    r = await org["organiser"].post("/api/v1/sessions", json=session_body(org, title="全国最好的蓝莓直播"))
    assert r.status_code == 409, r.text
    assert r.json()["errors"][0]["field"] == "title"
    ok = await schedule_session(org, title="全国最好的蓝莓直播", title_override_reason="引用消费者原话，已核实")
    async with app.state.ctx.uow() as uow:
        actions = await uow.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.target_id == str(ok["id"])))
        assert "session.schedule_with_override" in set(actions)


async def test_shelf_item_names_are_checked_and_their_claims_logged(org: LiveOrg, app: FastAPI) -> None:
    """A product reaches a shelf only once published, past any claim warnings with a written
    override; the shelf entry records what its name still claims."""
    async with app.state.ctx.uow() as uow:
        sku = await uow.session.get(Sku, org.inspected_sku)
        assert sku is not None
        product = await uow.session.get(Product, sku.product_id)
        assert product is not None
        product.title = "靖宇蓝莓 提高免疫力"
    created = await schedule_session(org, shelf=[])
    r = await org["organiser"].post(
        f"/api/v1/sessions/{created['id']}/shelf", json={"sku_id": org.inspected_sku, "live_price_fen": 6900}
    )
    assert r.status_code == 201, r.text
    scheduled = await schedule_session(org)  # the factory's show carries the same SKU on its shelf
    async with app.state.ctx.uow(write=False) as uow:
        added = await uow.session.scalar(
            sa.select(AuditEntry).where(AuditEntry.action == "shelf.add", AuditEntry.target_id == str(created["id"]))
        )
        schedule = await uow.session.scalar(
            sa.select(AuditEntry).where(
                AuditEntry.action == "session.schedule", AuditEntry.target_id == str(scheduled["id"])
            )
        )
    assert added is not None and schedule is not None
    assert [(c["field"], c["term"], c["rule"]) for c in added.details["claims"]] == [
        ("product_title", "提高免疫力", "health_food_efficacy")
    ]
    assert [(c["sku_id"], c["term"]) for c in schedule.details["shelf_claims"]] == [(org.inspected_sku, "提高免疫力")]


async def test_stream_key_is_shown_once_rotates_and_is_operator_only(org: LiveOrg, app: FastAPI) -> None:
    created = await schedule_session(org)
    url = f"/api/v1/sessions/{created['id']}/stream-key"
    for who in ("supplier", "outsider"):
        assert (await org[who].post(url)).status_code == 403
        assert (await org[who].get(url)).status_code == 403
    first = await org["host"].post(url)
    assert first.status_code == 201, first.text
    key1 = first.json()["stream_key"]
    info = (await org["host"].get(url)).json()
    assert info["prefix"] == key1[:8] and "stream_key" not in info
    key2 = (await org["organiser"].post(url)).json()["stream_key"]
    assert key2 != key1
    async with app.state.ctx.uow() as uow:
        assert await keys.session_id_for_key(uow.session, key1) is None
        assert await keys.session_id_for_key(uow.session, key2) == created["id"]
        stored = (await uow.session.execute(sa.text("SELECT key_hash FROM stream_keys"))).scalars().all()
        assert key2 not in stored and keys.hash_key(key2) in stored


async def test_start_pin_end_rights_and_marks(org: LiveOrg, app: FastAPI) -> None:
    created = await schedule_session(org)
    sid = created["id"]
    key = (await org["host"].post(f"/api/v1/sessions/{sid}/stream-key")).json()["stream_key"]
    for who in ("supplier", "outsider", "unverified"):
        assert (await org[who].post(f"/api/v1/sessions/{sid}/start")).status_code == 403
    pin = {"sku_id": org.inspected_sku}
    assert (await org["host"].post(f"/api/v1/sessions/{sid}/pin", json=pin)).status_code == 409  # not live yet
    assert (await org["host"].post(f"/api/v1/sessions/{sid}/start")).json()["state"] == "live"
    assert (await org["outsider"].post(f"/api/v1/sessions/{sid}/pin", json=pin)).status_code == 403
    off_shelf = await org["host"].post(f"/api/v1/sessions/{sid}/pin", json={"sku_id": org.uninspected_sku})
    assert off_shelf.status_code == 422
    mark = await org["host"].post(f"/api/v1/sessions/{sid}/pin", json=pin)
    assert mark.status_code == 201, mark.text
    assert mark.json()["product_title"] == "靖宇蓝莓 5斤装"
    detail = (await org["outsider"].get(f"/api/v1/sessions/{sid}")).json()
    assert detail["pinned_sku_id"] == org.inspected_sku and len(detail["marks"]) == 1

    for who in ("supplier", "outsider"):
        assert (await org[who].post(f"/api/v1/sessions/{sid}/end")).status_code == 403
    ended = await org["host"].post(f"/api/v1/sessions/{sid}/end")
    assert ended.status_code == 200, ended.text
    assert ended.json()["state"] == "ended"
    assert ended.json()["replay_state"] in ("processing", "ready", "failed")
    async with app.state.ctx.uow() as uow:
        assert await keys.session_id_for_key(uow.session, key) is None  # revoked with the show
    assert (await org["host"].post(f"/api/v1/sessions/{sid}/start")).status_code == 409
    assert (await org["host"].post(f"/api/v1/sessions/{sid}/stream-key")).status_code == 409


async def test_cancel_is_for_organisers_before_the_show(org: LiveOrg) -> None:
    created = await schedule_session(org)
    url = f"/api/v1/sessions/{created['id']}/cancel"
    assert (await org["host"].post(url, json={"reason": "rain"})).status_code == 403
    r = await org["organiser"].post(url, json={"reason": "暴雨"})
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    listed = (await org["outsider"].get("/api/v1/sessions")).json()["items"]
    assert created["id"] not in [x["id"] for x in listed]


async def test_followers_hear_of_scheduled_and_live_shows(
    org: LiveOrg, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    fan = make_client()

    await sign_up(fan, "fan@example.com", "粉丝")
    assert (await fan.post("/api/v1/me/follows", json={"host_id": org.ids["host"]})).status_code == 201
    again = await fan.post("/api/v1/me/follows", json={"organisation_id": org.org_id})
    assert again.status_code == 201
    assert (await fan.post("/api/v1/me/follows", json={})).status_code == 422
    created = await schedule_session(org)
    await org["host"].post(f"/api/v1/sessions/{created['id']}/start")
    notes = (await fan.get("/api/v1/me/notifications")).json()
    assert [n["kind"] for n in notes["items"]] == ["session_live", "session_scheduled"]  # one each, not per follow
    assert all(n["session_id"] == created["id"] and n["read_at"] is None for n in notes["items"])
    assert (await fan.post("/api/v1/me/notifications/read", json={})).json() == {"marked": 2}
    assert (await org["outsider"].get("/api/v1/me/notifications")).json()["total"] == 0
    r = await fan.delete("/api/v1/me/follows", params={"host_id": org.ids["host"]})
    assert r.status_code == 204
    assert len((await fan.get("/api/v1/me/follows")).json()) == 1


async def test_event_page_lists_rooms_and_totals(org: LiveOrg, app: FastAPI, make_client: MakeClient) -> None:
    r = await org["organiser"].post(
        "/api/v1/events",
        json={
            "organisation_id": org.org_id,
            "slug": "jingyu-618",
            "title": "靖宇618助农季",
            "starts_at": "2026-06-18T08:00:00+08:00",
            "ends_at": "2026-06-18T23:00:00+08:00",
        },
    )
    assert r.status_code == 201, r.text
    event_id = r.json()["id"]
    assert (await org["host"].post("/api/v1/events", json={**r.json(), "slug": "x-y"})).status_code in (403, 422)
    a = await schedule_session(org, event_id=event_id)
    await schedule_session(org, event_id=event_id, title="靖宇木耳专场")
    await org["host"].post(f"/api/v1/sessions/{a['id']}/start")
    detail = (await org["outsider"].get("/api/v1/events/jingyu-618")).json()
    assert [x["state"] for x in detail["sessions"]] == ["live", "scheduled"]
    assert detail["totals"]["rooms"] == 2 and detail["totals"]["live_rooms"] == 1
    assert detail["totals"]["products_on_shelves"] == 1
    assert detail["totals"]["viewers"] == 0 and detail["totals"]["orders"] == 0 and detail["totals"]["gmv_fen"] == 0
    # Views are the rooms' own counts; orders and sales the paid orders placed in the rooms.
    counters = app.state.ctx.room_hub.counters
    for viewer in ("a:one", "a:two", "u:3"):
        await counters.viewer_joined(a["id"], viewer)
    buyer = await make_buyer(make_client)
    (paid,) = await buy(app, buyer, Wanted(org.inspected_sku, 2, session_id=a["id"]))
    await pay(app, [paid])
    await buy(app, buyer, Wanted(org.inspected_sku, 1, session_id=a["id"]))  # unpaid: not a sale
    totals = (await org["outsider"].get("/api/v1/events/jingyu-618")).json()["totals"]
    assert totals["viewers"] == 3 and totals["orders"] == 1 and totals["gmv_fen"] == 2 * 7900
    # Beside the paid sales (never alone): every order placed, refunded, under alert, verified.
    assert (totals["raw_gmv_fen"], totals["refunded_fen"], totals["flagged_fen"], totals["verified_gmv_fen"]) == (
        3 * 7900,
        0,
        0,
        2 * 7900,
    )
    page = (await org["outsider"].get("/events/jingyu-618")).text
    for testid in ("total-sales", "total-raw", "total-refunded", "total-flagged", "total-verified"):
        assert f'data-testid="{testid}">¥' in page, testid
    by_event = (await org["outsider"].get("/api/v1/sessions", params={"event_id": event_id})).json()
    assert by_event["total"] == 2 and all(x["event_id"] == event_id for x in by_event["items"])


async def test_costream_invite_accept_combined_shelf_and_end(
    org: LiveOrg, app: FastAPI, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    other = await make_live_org(app, make_client, "fengcheng")
    a = await schedule_session(org)
    b = await schedule_session(other)
    await org["host"].post(f"/api/v1/sessions/{a['id']}/start")
    invite = await org["host"].post(f"/api/v1/sessions/{a['id']}/co-streams", json={"invitee_session_id": b["id"]})
    assert invite.status_code == 201, invite.text
    link = invite.json()["id"]
    assert (await other["host"].get("/api/v1/me/notifications")).json()["items"][0]["kind"] == "costream_invited"
    # The inviter cannot accept on the other room's behalf, nor can outsiders.
    for c in (org["host"], other["outsider"], other["supplier"]):
        assert (await c.post(f"/api/v1/co-streams/{link}/accept")).status_code == 403
    r = await other["host"].post(f"/api/v1/co-streams/{link}/accept")
    assert r.status_code == 200 and r.json()["state"] == "active"
    detail = (await org["outsider"].get(f"/api/v1/sessions/{a['id']}")).json()
    assert detail["co_stream"]["session_id"] == b["id"]
    assert [x["session_id"] for x in detail["partner_shelf"]] == [b["id"]]
    assert (await org["outsider"].post(f"/api/v1/co-streams/{link}/end")).status_code == 403
    ended = await other["host"].post(f"/api/v1/co-streams/{link}/end")
    assert ended.json()["state"] == "ended"
    assert (await org["outsider"].get(f"/api/v1/sessions/{a['id']}")).json()["co_stream"] is None


async def test_officials_room_links_only_with_public_welfare_rooms(org: LiveOrg) -> None:
    official_room = await schedule_session(org, host_ids=[org.ids["official"]])
    plain = await schedule_session(org, shelf=[])
    r = await org["official"].post(
        f"/api/v1/sessions/{official_room['id']}/co-streams", json={"invitee_session_id": plain["id"]}
    )
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "official_needs_public_welfare"


async def test_bad_input_is_problem_json_not_500(org: LiveOrg) -> None:
    c = org["organiser"]
    r = await c.post("/api/v1/sessions", json=session_body(org, scheduled_at="2026-13-01T00:00:00"))
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    r = await c.post("/api/v1/sessions", json=session_body(org, scheduled_at="2026-12-01T10:00:00"))
    assert r.status_code == 422  # naive time refused
    r = await c.post("/api/v1/sessions", json=session_body(org, scheduled_at="2001-01-01T10:00:00+08:00"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "scheduled_at"
    assert (await c.get("/api/v1/sessions/999999")).status_code == 404
    assert (await c.get("/api/v1/sessions", params={"state": "nonsense"})).status_code == 422


async def test_a_show_whose_stream_dropped_before_a_restart_still_ends(org: LiveOrg, app: FastAPI) -> None:
    created = await schedule_session(org)
    await org["host"].post(f"/api/v1/sessions/{created['id']}/start")
    async with app.state.ctx.uow() as uow:
        live = await uow.session.get(LiveSession, created["id"])
        live.ingest_stopped_at = utcnow() - timedelta(hours=1)  # dropped, then the process died
    media = app.state.ctx.media
    assert await media.resume_end_checks() == 1
    await media.drain(20)
    detail = (await org["outsider"].get(f"/api/v1/sessions/{created['id']}")).json()
    assert detail["state"] == "ended"


async def test_home_page_lists_live_and_upcoming_rooms(org: LiveOrg) -> None:
    on_air = await schedule_session(org, title="靖宇蓝莓 正在直播")
    await schedule_session(org, title="靖宇木耳 明天开播")
    await org["host"].post(f"/api/v1/sessions/{on_air['id']}/start")
    page = (await org["outsider"].get("/")).text
    live_part, upcoming_part = page.split('id="upcoming"', 1)
    assert "靖宇蓝莓 正在直播" in live_part and "靖宇木耳 明天开播" not in live_part
    assert "靖宇木耳 明天开播" in upcoming_part.split('id="hosts-h"', 1)[0]
    assert 'data-testid="empty-live"' not in page


async def test_room_detail_and_live_list_cost_a_fixed_number_of_queries(org: LiveOrg, queries: QueryCounter) -> None:
    """The room's detail is what every viewer's page reads; its query count must not grow with
    the shelf, the marks or the number of rooms listed."""

    async def queries_for(path: str, **params: object) -> int:
        async with queries.counting() as statements:
            r = await org["outsider"].get(path, params=params)
        assert r.status_code == 200, r.text
        return len(statements)

    small = await schedule_session(org)
    big = await schedule_session(
        org,
        shelf=[
            {"sku_id": org.inspected_sku, "live_price_fen": 7900},
            {"sku_id": org.uninspected_sku, "live_price_fen": 2900},
        ],
    )
    await org["host"].post(f"/api/v1/sessions/{big['id']}/start")
    await org["host"].post(f"/api/v1/sessions/{big['id']}/pin", json={"sku_id": org.uninspected_sku})
    await org["host"].post(f"/api/v1/sessions/{big['id']}/pin", json={"sku_id": org.inspected_sku})
    assert await queries_for(f"/api/v1/sessions/{small['id']}") == await queries_for(f"/api/v1/sessions/{big['id']}")
    one_page = await queries_for("/api/v1/sessions", limit=1)
    for _ in range(3):
        await schedule_session(org)
    assert await queries_for("/api/v1/sessions", limit=50) == one_page
