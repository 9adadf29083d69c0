"""Live rooms as HTML pages: the room list, a room (player, shelf, pinned card, replay marks), the
host console and who may open it, the schedule and event forms with their errors, follows and
notifications. Data is made through the real API and actions; pages are posted as forms."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.db.audit import AuditEntry
from fieldcast.live.models import REASON_MAX, LiveSession
from tests.factories import LiveOrg, png_bytes, schedule_session, sign_up
from tests.live.conftest import post_form

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local_input(hours: int = 2) -> str:
    """A datetime-local value in Beijing time, `hours` from now."""
    return (datetime.now(SHANGHAI) + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M")


def count_testid(page: httpx.Response, name: str) -> int:
    return len(re.findall(rf'data-testid="{re.escape(name)}"', page.text))


# -- the list and the room ---------------------------------------------------------------------


async def test_live_list_groups_rooms_and_filters_by_state(
    live_org: LiveOrg, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    on_air = await schedule_session(live_org, title="靖宇蓝莓直播间")
    await schedule_session(live_org, title="长白山木耳预告")
    assert (await live_org["host"].post(f"/api/v1/sessions/{on_air['id']}/start")).status_code == 200
    anon = make_client()
    page = await anon.get("/live")
    assert page.status_code == 200
    live_part, upcoming_part = page.text.split('data-testid="group-upcoming"')
    assert "靖宇蓝莓直播间" in live_part and "长白山木耳预告" in upcoming_part.split('data-testid="group-replay"')[0]
    assert "data-countdown-to=" in upcoming_part
    only_live = await anon.get("/live", params={"state": "live"})
    assert "靖宇蓝莓直播间" in only_live.text and "长白山木耳预告" not in only_live.text
    assert 'href="/live"' in only_live.text  # the nav link


async def test_room_shows_player_shelf_prices_hosts_and_follow_for_anonymous(
    live_org: LiveOrg, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    session = await schedule_session(live_org, host_ids=[live_org.ids["official"]])
    anon = make_client()
    page = await anon.get(f"/live/{session['id']}")
    assert page.status_code == 200
    assert 'data-state="scheduled"' in page.text and 'data-testid="room-countdown"' in page.text
    assert f'data-api-url="/api/v1/sessions/{session["id"]}"' in page.text
    assert count_testid(page, "badge-welfare") == 1  # an official forces public welfare
    assert count_testid(page, "badge-official") == 1
    assert "¥79.00" in page.text and "¥99.00" in page.text  # live price and list price
    item = session["shelf"][0]
    assert f'href="/p/{item["product_id"]}"' in page.text
    assert f'href="/signin?next=/live/{session["id"]}"' in page.text  # follow asks to sign in first
    assert 'src="/static/vendor/hls.min.js"' in page.text and "/static/live/player.js" in page.text
    assert "<script>" not in page.text  # CSP: no inline scripts
    assert (await anon.get("/live/999999")).status_code == 404


async def test_live_room_has_hls_and_pinned_card_then_replay_lists_marks(live_org: LiveOrg) -> None:
    session = await schedule_session(live_org)
    sid, sku = session["id"], live_org.inspected_sku
    host = live_org["host"]
    assert (await post_form(host, f"/live/{sid}/start")).status_code == 303
    assert (await post_form(host, f"/live/{sid}/pin", {"sku_id": sku})).status_code == 303
    room = await host.get(f"/live/{sid}")
    assert 'data-state="live"' in room.text
    assert re.search(r'data-src="/hls/live/[0-9a-f]+/index\.m3u8"', room.text)
    assert f'data-pinned-sku="{sku}"' in room.text
    pinned = room.text.split('data-testid="pinned"')[1].split("</section>")[0]
    assert "靖宇蓝莓" in pinned
    # The page is the same for everyone: the console link waits hidden for the operator's /me.
    assert re.search(r'data-testid="console-link" hidden data-me-show="operator"', room.text)
    assert (await host.get(f"/api/v1/sessions/{sid}/me")).json()["operator"] is True

    assert (await post_form(host, f"/live/{sid}/end")).status_code == 303
    replay = await host.get(f"/live/{sid}")
    assert 'data-state="ended"' in replay.text
    assert count_testid(replay, "mark-jump") == 1
    assert re.search(r'data-seek="[0-9.]+"', replay.text)
    assert count_testid(replay, "shelf-item") == 1  # the shelf stays after the show


async def test_console_is_for_operators_only(live_org: LiveOrg, make_client: Callable[[], httpx.AsyncClient]) -> None:
    sid = (await schedule_session(live_org))["id"]
    anon = await make_client().get(f"/live/{sid}/console")
    assert anon.status_code == 303 and anon.headers["location"] == f"/signin?next=/live/{sid}/console"
    for who in ("outsider", "supplier", "official"):
        assert (await live_org[who].get(f"/live/{sid}/console")).status_code == 403, who
        assert (await post_form(live_org[who], f"/live/{sid}/start")).status_code == 403, who
    host = await live_org["host"].get(f"/live/{sid}/console")
    assert host.status_code == 200
    assert count_testid(host, "golive-start") == 1 and 'id="golive"' in host.text
    assert f'data-session-id="{sid}"' in host.text and "/static/live/golive.js" in host.text
    assert count_testid(host, "cancel") == 0  # hosts do not cancel
    organiser = await live_org["organiser"].get(f"/live/{sid}/console")
    assert count_testid(organiser, "cancel") == 1 and count_testid(organiser, "add-item") == 1


async def test_new_stream_key_is_shown_once_on_the_response(app: FastAPI, live_org: LiveOrg) -> None:
    sid = (await schedule_session(live_org))["id"]
    made = await post_form(live_org["host"], f"/live/{sid}/key")
    assert made.status_code == 200
    assert made.headers["cache-control"] == "no-store"
    # What OBS takes as its stream key: the session's public stream name, the key as an argument.
    shown = re.search(r'data-testid="stream-key">([a-z0-9-]+)\?key=(fck_[^<]+)<', made.text)
    assert shown
    async with app.state.ctx.uow() as uow:
        live = await uow.session.get(LiveSession, sid)
        assert live is not None and shown.group(1) == live.stream_name
    key = re.search("(fck_.+)", shown.group(2))
    assert key
    again = await live_org["host"].get(f"/live/{sid}/console")
    assert key.group(1) not in again.text and key.group(1)[:8] in again.text


async def test_cancel_and_wrong_state_errors_rerender_the_console(live_org: LiveOrg) -> None:
    sid = (await schedule_session(live_org))["id"]
    refused = await post_form(live_org["host"], f"/live/{sid}/end")  # not live yet
    assert refused.status_code == 422
    assert count_testid(refused, "form-message") == 1
    assert (await post_form(live_org["host"], f"/live/{sid}/cancel", {"reason": "x"})).status_code == 403
    cancelled = await post_form(live_org["organiser"], f"/live/{sid}/cancel", {"reason": "暴雨"})
    assert cancelled.status_code == 303
    state = (await live_org["organiser"].get(f"/api/v1/sessions/{sid}")).json()["state"]
    assert state == "cancelled"


async def test_a_session_cancel_reason_over_the_limit_is_refused_by_the_api_and_the_console(
    live_org: LiveOrg, app: FastAPI
) -> None:
    """Optional, at most 500 characters once trimmed; the rule is cancel_session's, so the console
    no longer cuts a long reason short: it shows the form again with the API's message."""
    sid = (await schedule_session(live_org))["id"]
    organiser = live_org["organiser"]
    too_long = "雨" * (REASON_MAX + 1)
    api = await organiser.post(f"/api/v1/sessions/{sid}/cancel", json={"reason": too_long})
    assert api.status_code == 422
    [(field, message)] = [(e["field"], e["message"]) for e in api.json()["errors"]]
    assert field == "reason" and str(REASON_MAX) in message
    page = await post_form(organiser, f"/live/{sid}/cancel", {"reason": too_long})
    assert page.status_code == 422
    error = re.search(r'data-testid="error-reason">([^<]*)<', page.text)
    assert error is not None and html.unescape(error.group(1)) == message
    assert f'value="{too_long}"' in page.text  # what was typed stays in the form
    assert (await organiser.get(f"/api/v1/sessions/{sid}")).json()["state"] == "scheduled"

    assert (await post_form(organiser, f"/live/{sid}/cancel", {"reason": "  暴雨  "})).status_code == 303
    assert (await organiser.get(f"/api/v1/sessions/{sid}")).json()["state"] == "cancelled"
    async with app.state.ctx.uow() as uow:
        reasons = await uow.session.scalars(sa.select(AuditEntry.reason).where(AuditEntry.action == "session.cancel"))
        assert list(reasons) == ["暴雨"]


async def test_console_shelf_add_and_remove(live_org: LiveOrg) -> None:
    sid = (await schedule_session(live_org, shelf=[]))["id"]
    organiser = live_org["organiser"]
    bad = await post_form(organiser, f"/live/{sid}/shelf", {"sku_id": live_org.inspected_sku, "price_yuan": "七十"})
    assert bad.status_code == 422 and count_testid(bad, "error-price_yuan") == 1
    ok = await post_form(
        organiser, f"/live/{sid}/shelf", {"sku_id": live_org.inspected_sku, "price_yuan": "69.9", "session_stock": "20"}
    )
    assert ok.status_code == 303, ok.text
    shelf = (await organiser.get(f"/api/v1/sessions/{sid}")).json()["shelf"]
    assert [(x["live_price_fen"], x["session_stock"]) for x in shelf] == [(6990, 20)]
    twice = await post_form(organiser, f"/live/{sid}/shelf", {"sku_id": live_org.inspected_sku, "price_yuan": "1"})
    assert twice.status_code == 422
    hosts_try = await post_form(live_org["host"], f"/live/{sid}/shelf/{shelf[0]['id']}/remove")
    assert hosts_try.status_code == 403  # a host runs the show but does not manage the shelf
    removed = await post_form(organiser, f"/live/{sid}/shelf/{shelf[0]['id']}/remove")
    assert removed.status_code == 303
    assert (await organiser.get(f"/api/v1/sessions/{sid}")).json()["shelf"] == []


async def test_costream_invite_and_accept_from_the_consoles(live_org: LiveOrg) -> None:
    first = (await schedule_session(live_org, title="靖宇专场", is_public_welfare=True))["id"]
    second = (await schedule_session(live_org, title="抚松专场", host_ids=[live_org.ids["official"]], shelf=[]))["id"]
    bad = await post_form(live_org["host"], f"/live/{first}/costreams", {"invitee_session_id": "abc"})
    assert bad.status_code == 422 and count_testid(bad, "error-invitee_session_id") == 1
    invited = await post_form(live_org["host"], f"/live/{first}/costreams", {"invitee_session_id": str(second)})
    assert invited.status_code == 303
    console = await live_org["official"].get(f"/live/{second}/console")
    accept = re.search(rf'action="(/live/{second}/costreams/\d+/accept)"', console.text)
    assert accept, "the invited room's console offers to accept"
    assert (await post_form(live_org["official"], accept.group(1))).status_code == 303
    for who, sid in (("host", first), ("official", second)):
        assert (await live_org[who].post(f"/api/v1/sessions/{sid}/start")).status_code == 200
    room = await live_org["outsider"].get(f"/live/{second}")
    assert count_testid(room, "partner-screen") == 1 and "has-partner" in room.text
    assert count_testid(room, "partner-item") == 1  # the other room's shelf, labelled


# -- schedule, edit and events -----------------------------------------------------------------


def schedule_form(org: LiveOrg, **overrides: str | list[str]) -> dict[str, str | list[str]]:
    sku = org.inspected_sku
    form: dict[str, str | list[str]] = {
        "title": "靖宇蓝莓助农直播",
        "description": "现摘现发",
        "scheduled_at": local_input(),
        "host_ids": [str(org.ids["host"])],
        "shelf_sku": [str(sku)],
        f"price_{sku}": "79.00",
        f"stock_{sku}": "30",
    }
    form.update(overrides)
    return form


async def test_schedule_form_lists_eligible_hosts_and_skus_and_schedules(live_org: LiveOrg) -> None:
    organiser = live_org["organiser"]
    page = await organiser.get(f"/live/new?org={live_org.slug}")
    assert page.status_code == 200
    hosts = re.findall(r'name="host_ids" value="(\d+)"', page.text)
    assert str(live_org.ids["host"]) in hosts and str(live_org.ids["official"]) in hosts
    assert str(live_org.ids["unverified"]) not in hosts and str(live_org.ids["supplier"]) not in hosts
    assert count_testid(page, "sku-choice") == 2
    form = schedule_form(live_org)  # once: its time is now + a margin, to the minute
    done = await post_form(organiser, f"/live/new?org={live_org.slug}", form)
    assert done.status_code == 303, done.text
    sid = int(re.findall(r"/live/(\d+)/console\?done=scheduled$", done.headers["location"])[0])
    # After the redirect the console confirms the show is scheduled (issue #15), in the reader's
    # language; the console without the flag, or with one it does not know, says nothing.
    confirmed = await organiser.get(done.headers["location"])
    assert count_testid(confirmed, "notice") == 1
    assert "直播已安排" in confirmed.text or "The show is scheduled" in confirmed.text
    for plain in (f"/live/{sid}/console", f"/live/{sid}/console?done=%3Cscript%3E"):
        assert count_testid(await organiser.get(plain), "notice") == 0
    detail = (await organiser.get(f"/api/v1/sessions/{sid}")).json()
    assert detail["title"] == "靖宇蓝莓助农直播" and detail["is_public_welfare"] is False
    assert [(x["live_price_fen"], x["session_stock"]) for x in detail["shelf"]] == [(7900, 30)]
    when = datetime.fromisoformat(detail["scheduled_at"]).astimezone(SHANGHAI)
    assert when.strftime("%Y-%m-%dT%H:%M") == form["scheduled_at"]


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"title": "x"}, "error-title"),
        ({"scheduled_at": ""}, "error-scheduled_at"),
        ({"host_ids": []}, "error-host_ids"),
        ({"price_SKU": "七十九"}, "error-price_SKU"),
        ({"host_ids": ["UNVERIFIED"]}, "error-host_ids"),
        ({"host_ids": ["OFFICIAL"], "shelf_sku": ["UNINSPECTED"], "price_UNINSPECTED": "10"}, "error-shelf"),
    ],
)
async def test_schedule_form_errors_rerender_with_messages(
    live_org: LiveOrg, overrides: dict[str, str | list[str]], error: str
) -> None:
    names = {
        "SKU": str(live_org.inspected_sku),
        "UNINSPECTED": str(live_org.uninspected_sku),
        "UNVERIFIED": str(live_org.ids["unverified"]),
        "OFFICIAL": str(live_org.ids["official"]),
    }

    def fill(text: str) -> str:
        for k, v in names.items():
            text = text.replace(k, v)
        return text

    data = {fill(k): [fill(x) for x in v] if isinstance(v, list) else fill(v) for k, v in overrides.items()}
    r = await post_form(live_org["organiser"], f"/live/new?org={live_org.slug}", schedule_form(live_org, **data))
    assert r.status_code == 422, r.text
    assert count_testid(r, fill(error)) == 1, r.text
    assert (await live_org["organiser"].get("/api/v1/sessions")).json()["total"] == 0


async def test_title_claims_show_the_override_field_then_pass_with_a_reason(live_org: LiveOrg) -> None:
    path = f"/live/new?org={live_org.slug}"
    refused = await post_form(live_org["organiser"], path, schedule_form(live_org, title="全国第一的蓝莓"))
    assert refused.status_code == 422
    assert count_testid(refused, "error-title") == 1 and 'name="title_override_reason"' in refused.text
    with_reason = schedule_form(live_org, title="全国第一的蓝莓", title_override_reason="第一村是村名")
    assert (await post_form(live_org["organiser"], path, with_reason)).status_code == 303


async def test_only_organisers_open_the_schedule_form(
    live_org: LiveOrg, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    assert (await live_org["host"].get(f"/live/new?org={live_org.slug}")).status_code == 403
    r = await make_client().get(f"/live/new?org={live_org.slug}")
    assert r.status_code == 303 and r.headers["location"].startswith("/signin?next=/live/new")
    assert (await live_org["organiser"].get("/live/new?org=nope")).status_code == 404
    refused = await post_form(live_org["host"], f"/live/new?org={live_org.slug}", schedule_form(live_org))
    assert refused.status_code == 403


async def test_edit_page_changes_the_title_and_rejects_bad_input(live_org: LiveOrg) -> None:
    sid = (await schedule_session(live_org))["id"]
    organiser = live_org["organiser"]
    page = await organiser.get(f"/live/{sid}/edit")
    assert page.status_code == 200 and "靖宇蓝莓助农直播" in page.text
    form = {"title": "靖宇蓝莓 第二场", "scheduled_at": local_input(3), "host_ids": [str(live_org.ids["host"])]}
    assert (await post_form(organiser, f"/live/{sid}/edit", form)).status_code == 303
    assert (await organiser.get(f"/api/v1/sessions/{sid}")).json()["title"] == "靖宇蓝莓 第二场"
    bad = await post_form(organiser, f"/live/{sid}/edit", {**form, "host_ids": []})
    assert bad.status_code == 422 and count_testid(bad, "error-host_ids") == 1
    assert (await live_org["host"].get(f"/live/{sid}/edit")).status_code == 403


async def test_event_form_creates_an_event_whose_page_groups_rooms(
    live_org: LiveOrg, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    organiser = live_org["organiser"]
    assert (await organiser.get(f"/events/new?org={live_org.slug}")).status_code == 200
    form = {"title": "靖宇618", "slug": "jingyu-618", "starts_at": local_input(1), "ends_at": local_input(30)}
    bad = await post_form(organiser, f"/events/new?org={live_org.slug}", {**form, "slug": "坏"})
    assert bad.status_code == 422 and count_testid(bad, "error-slug") == 1
    backwards = await post_form(organiser, f"/events/new?org={live_org.slug}", {**form, "ends_at": local_input(0)})
    assert backwards.status_code == 422 and count_testid(backwards, "form-message") == 1
    made = await post_form(organiser, f"/events/new?org={live_org.slug}", form)
    assert made.status_code == 303 and made.headers["location"] == "/events/jingyu-618"
    event_id = (await organiser.get("/api/v1/events/jingyu-618")).json()["id"]
    live = await schedule_session(live_org, event_id=event_id, title="靖宇618主会场")
    await schedule_session(live_org, event_id=event_id, title="靖宇618分会场")
    assert (await live_org["host"].post(f"/api/v1/sessions/{live['id']}/start")).status_code == 200
    page = await make_client().get("/events/jingyu-618")
    assert page.status_code == 200
    assert re.search(r'data-testid="total-rooms">2<', page.text)
    assert re.search(r'data-testid="total-live">1<', page.text)
    assert re.search(r'data-testid="total-products">1<', page.text)
    # Views, orders and sales: counted, none yet (the API test adds some)
    assert re.search(r'data-testid="total-views">0<', page.text)
    assert re.search(r'data-testid="total-orders">0<', page.text)
    assert "靖宇618主会场" in page.text.split('data-testid="group-live"')[1].split('data-testid="group-upcoming"')[0]
    events = await make_client().get("/events")
    assert count_testid(events, "event-card") == 1
    assert (await make_client().get("/events/no-such-event")).status_code == 404


# -- follows and notifications -----------------------------------------------------------------


async def test_follow_and_unfollow_from_the_room(
    live_org: LiveOrg, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    sid = (await schedule_session(live_org))["id"]
    viewer = make_client()
    await sign_up(viewer, "viewer@example.com", "观众")
    host_id = live_org.ids["host"]
    r = await post_form(viewer, "/follow", {"host_id": host_id, "next": f"/live/{sid}"})
    assert r.status_code == 303 and r.headers["location"] == f"/live/{sid}"
    r = await post_form(viewer, "/follow", {"organisation_id": live_org.org_id, "next": "//evil.example"})
    assert r.headers["location"] == "/live"  # no open redirect
    follows = (await viewer.get("/api/v1/me/follows")).json()
    assert {(f["host_id"], f["organisation_id"]) for f in follows} == {(host_id, None), (None, live_org.org_id)}
    room = await viewer.get(f"/live/{sid}")
    # One page for every signed-in viewer: the forms say Follow; the room's /me says what is followed.
    assert re.search(rf'data-follow="host" data-follow-id="{host_id}"', room.text)
    me = (await viewer.get(f"/api/v1/sessions/{sid}/me")).json()
    assert me["followed_host_ids"] == [host_id] and me["follows_organisation"] is True
    assert (await post_form(viewer, "/unfollow", {"host_id": host_id, "next": f"/live/{sid}"})).status_code == 303
    me = (await viewer.get(f"/api/v1/sessions/{sid}/me")).json()
    assert me["followed_host_ids"] == [] and me["follows_organisation"] is True
    assert [f["organisation_id"] for f in (await viewer.get("/api/v1/me/follows")).json()] == [live_org.org_id]
    anon = await post_form(make_client(), "/follow", {"host_id": host_id, "next": f"/live/{sid}"})
    assert anon.status_code == 303 and anon.headers["location"] == f"/signin?next=/live/{sid}"


async def test_notifications_page_bell_and_mark_all_read(
    live_org: LiveOrg, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    viewer = make_client()
    await sign_up(viewer, "fan@example.com", "粉丝")
    assert (await post_form(viewer, "/follow", {"organisation_id": live_org.org_id})).status_code == 303
    session = await schedule_session(live_org, title="蓝莓新品首发")
    assert (await live_org["host"].post(f"/api/v1/sessions/{session['id']}/start")).status_code == 200
    page = await viewer.get("/notifications")
    assert page.status_code == 200
    assert count_testid(page, "notification") == 2
    assert f'href="/live/{session["id"]}"' in page.text and "蓝莓新品首发" in page.text
    assert re.search(r'data-testid="unread-count"[^>]*>2<', page.text)
    assert (await post_form(viewer, "/notifications/read")).status_code == 303
    after = await viewer.get("/notifications")
    assert count_testid(after, "unread-count") == 0 and count_testid(after, "notification") == 2
    assert (await make_client().get("/notifications")).status_code == 303


async def test_cover_upload_from_the_edit_page_is_for_organisers_and_checks_the_file(live_org: LiveOrg) -> None:
    sid = (await schedule_session(live_org))["id"]
    url = f"/live/{sid}/cover"

    async def upload(client: httpx.AsyncClient, content: bytes) -> httpx.Response:
        token = client.headers.get("X-CSRF-Token") or (await client.get("/api/v1/auth/csrf")).json()["csrf_token"]
        return await client.post(url, data={"csrf_token": token}, files={"image": ("c.png", content, "image/png")})

    bad = await upload(live_org["organiser"], b"not an image")
    assert bad.status_code == 422 and count_testid(bad, "error-cover") == 1
    assert (await upload(live_org["host"], png_bytes())).status_code == 403
    ok = await upload(live_org["organiser"], png_bytes())
    assert ok.status_code == 303, re.findall(r"field-error[^<]*<|role=\"alert\"[^<]*<", ok.text)
    cover = (await live_org["outsider"].get(f"/api/v1/sessions/{sid}")).json()["cover_url"]
    assert cover.startswith("/media/sessions/") and (await live_org["outsider"].get(cover)).status_code == 200
