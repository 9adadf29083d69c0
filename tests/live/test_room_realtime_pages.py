"""The room page's real-time panel as HTML: the chat history rendered escaped, the chat form or a
sign-in link, moderator controls only for the room's moderators, the counters bar, lucky draws
with their terms, and the console's draw form (which refuses a prize above 50,000 yuan)."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx

from tests.factories import LiveOrg, live_session, schedule_session
from tests.live.conftest import post_form

XSS = "<img src=x onerror=alert(1)>"


def count_testid(page: httpx.Response, name: str) -> int:
    return len(re.findall(rf'data-testid="{re.escape(name)}"', page.text))


async def test_room_renders_chat_history_escaped_with_the_form_for_signed_in_viewers(
    live_org: LiveOrg, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    room = await live_session(live_org)
    viewer = live_org["outsider"]
    r = await viewer.post(f"/api/v1/sessions/{room}/chat", json={"body": XSS})
    assert r.status_code == 201, r.text
    r = await viewer.post(f"/api/v1/sessions/{room}/chat", json={"body": "蓝莓甜吗？"})
    assert r.status_code == 201, r.text

    page = await viewer.get(f"/live/{room}")
    assert page.status_code == 200
    assert XSS not in page.text and "<img src=x" not in page.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
    assert count_testid(page, "chat-message") == 2 and "蓝莓甜吗？" in page.text
    assert count_testid(page, "chat-form") == 1 and count_testid(page, "chat-signin") == 0
    assert f'action="/api/v1/sessions/{room}/chat"' in page.text
    # The moderation form is in every signed-in page, hidden; only /me turns the tools on.
    assert 'data-moderator=""' in page.text
    assert (await viewer.get(f"/api/v1/sessions/{room}/me")).json()["moderator"] is False
    # The counters bar starts without numbers: no fake counts before the first counters frame.
    counters = re.search(r'data-testid="count-viewers">([^<]*)<', page.text)
    assert counters is not None and counters.group(1) == "—"
    assert count_testid(page, "like") == 1 and count_testid(page, "flower") == 1
    assert "/static/live/player.js" in page.text and "<script>" not in page.text and "onclick" not in page.text

    anon = make_client()
    page = await anon.get(f"/live/{room}")
    assert count_testid(page, "chat-form") == 0
    assert re.search(rf'href="/signin\?next=/live/{room}" data-testid="chat-signin"', page.text)
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text and XSS not in page.text


async def test_moderator_controls_only_for_the_rooms_moderators(
    live_org: LiveOrg, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    room = await live_session(live_org)
    posted = await live_org["outsider"].post(f"/api/v1/sessions/{room}/chat", json={"body": "刷单加微信"})
    assert posted.status_code == 201, posted.text
    message_id = posted.json()["id"]

    # The room page is the same for all of them; the room's /me says who moderates.
    def shell(page: str) -> str:  # the page less the visitor's CSRF token and the server's clock
        page = re.sub(r'(name="csrf_token" value=|name="csrf-token" content=)"[^"]*"', r"\1", page)
        return re.sub(r'data-server-now="[^"]*"', "", page)

    pages = {who: shell((await live_org[who].get(f"/live/{room}")).text) for who in ("host", "outsider")}
    assert pages["host"] == pages["outsider"]
    for who in ("host", "organiser", "owner"):
        assert (await live_org[who].get(f"/api/v1/sessions/{room}/me")).json()["moderator"] is True, who
    for who in ("outsider", "supplier"):
        assert (await live_org[who].get(f"/api/v1/sessions/{room}/me")).json()["moderator"] is False, who
    anon = await make_client().get(f"/api/v1/sessions/{room}/me")
    assert anon.status_code == 401 and anon.headers["content-type"].startswith("application/problem+json")

    removed = await live_org["host"].post(f"/api/v1/chat/{message_id}/remove", json={"reason": "引流广告"})
    assert removed.status_code == 200, removed.text
    page = await live_org["outsider"].get(f"/live/{room}")
    assert "刷单加微信" not in page.text and "引流广告" in page.text and "is-removed" in page.text


async def test_scheduled_room_says_when_chat_opens(live_org: LiveOrg) -> None:
    session = await schedule_session(live_org)
    page = await live_org["outsider"].get(f"/live/{session['id']}")
    assert count_testid(page, "chat-closed") == 1
    assert re.search(r'data-testid="chat-form"\s+hidden data-me-show="chat_open"', page.text)
    assert re.search(r'<section class="draws"[^>]*hidden', page.text)  # no draws yet: the section waits
    host_page = await live_org["host"].get(f"/live/{session['id']}")  # hosts warm up the room
    # The form is in every signed-in page, hidden until /me says this viewer may chat already.
    assert re.search(r'data-testid="chat-form"\s+hidden data-me-show="chat_open"', host_page.text)
    assert (await live_org["host"].get(f"/api/v1/sessions/{session['id']}/me")).json()["chat_open"] is True
    assert (await live_org["outsider"].get(f"/api/v1/sessions/{session['id']}/me")).json()["chat_open"] is False


async def test_draws_listed_with_their_terms_and_enter_controls(
    live_org: LiveOrg, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    room = await live_session(live_org)
    host = live_org["host"]
    keyword = {
        "prize_title": "蓝莓 2 斤",
        "prize_value_fen": 6800,
        "winners_count": 3,
        "entry_rule": "keyword",
        "keyword": "蓝莓好",
        "terms": "包邮到家",
    }
    present = {"prize_title": "木耳礼盒", "prize_value_fen": 12000, "winners_count": 1, "entry_rule": "present"}
    made = []
    for body in (keyword, present):
        r = await host.post(f"/api/v1/sessions/{room}/draws", json=body)
        assert r.status_code == 201, r.text
        made.append(r.json())
    r = await host.post(f"/api/v1/draws/{made[1]['id']}/open")
    assert r.status_code == 200, r.text
    seed_hash = r.json()["seed_hash"]

    viewer_page = await live_org["outsider"].get(f"/live/{room}")
    text, template = viewer_page.text.split('<template id="draw-template">')
    assert len(re.findall(r'data-testid="draw"', text)) == 2  # the template holds one more, for new draws
    assert 'data-testid="draw"' in template
    assert "蓝莓 2 斤" in text and "¥68.00" in text and "蓝莓好" in text and "包邮到家" in text
    assert "木耳礼盒" in text and "¥120.00" in text
    assert re.search(r'data-draw-id="\d+" data-state="announced" data-rule="keyword"', text)
    assert re.search(r'data-draw-id="\d+" data-state="open" data-rule="present"', text)
    assert seed_hash in text
    assert count_testid(viewer_page, "draw-enter") == 3  # both cards and the template for new ones
    assert f"/api/v1/draws/{made[1]['id']}/entrants" in text

    anon_page = await make_client().get(f"/live/{room}")
    assert count_testid(anon_page, "draw-enter") == 0 and count_testid(anon_page, "draw-signin") == 3
    # Hosts cannot enter their own draw: the room's /me says they operate it (me.js hides Enter;
    # the draw refuses them whatever the page shows, see tests/draws).
    assert (await host.get(f"/api/v1/sessions/{room}/me")).json()["operator"] is True
    assert (await live_org["outsider"].get(f"/api/v1/sessions/{room}/me")).json()["operator"] is False

    entered = await live_org["outsider"].post(f"/api/v1/draws/{made[1]['id']}/enter")
    assert entered.status_code == 200, entered.text
    drawn = await host.post(f"/api/v1/draws/{made[1]['id']}/draw")
    assert drawn.status_code == 200, drawn.text
    page = await live_org["outsider"].get(f"/live/{room}")
    seed = drawn.json()["seed"]
    assert seed and seed in page.text
    # Viewers get a link to the page that checks the draw in their browser, not a command line.
    assert f'href="/draws/{made[1]["id"]}/verify"' in page.text and "scripts/verify_draw.py" not in page.text
    assert drawn.json()["winners"][0]["label"] in page.text


async def test_console_draw_form_creates_a_draw_and_refuses_a_value_above_the_cap(live_org: LiveOrg) -> None:
    room = await live_session(live_org)
    host = live_org["host"]
    console = await host.get(f"/live/{room}/console")
    assert console.status_code == 200 and count_testid(console, "draw-form") == 1

    too_much = {
        "prize_title": "拖拉机",
        "prize_value_yuan": "50000.01",
        "winners_count": "1",
        "entry_rule": "present",
    }
    refused = await post_form(host, f"/live/{room}/draws", too_much)
    assert refused.status_code == 422
    error = re.search(r'data-testid="error-prize_value_yuan">([^<]*)<', refused.text)
    assert error is not None and "50,000" in error.group(1)  # the cap, in the form's language
    assert 'class="form-message" role="alert"' in refused.text
    assert 'value="50000.01"' in refused.text  # what was typed stays in the form
    assert (await host.get(f"/api/v1/sessions/{room}/draws")).json() == []

    bad = await post_form(host, f"/live/{room}/draws", {**too_much, "prize_value_yuan": "五十"})
    assert bad.status_code == 422 and count_testid(bad, "error-prize_value_yuan") == 1
    keywordless = {**too_much, "prize_value_yuan": "50", "entry_rule": "keyword"}
    no_keyword = await post_form(host, f"/live/{room}/draws", keywordless)
    assert no_keyword.status_code == 422 and count_testid(no_keyword, "error-keyword") == 1

    ok = {
        "prize_title": "蓝莓 2 斤",
        "prize_value_yuan": "68",
        "winners_count": "2",
        "entry_rule": "keyword",
        "keyword": "蓝莓好",
    }
    assert (await post_form(host, f"/live/{room}/draws", ok)).status_code == 303
    draws = (await host.get(f"/api/v1/sessions/{room}/draws")).json()
    assert [(d["prize_title"], d["prize_value_fen"], d["winners_count"], d["keyword"]) for d in draws] == [
        ("蓝莓 2 斤", 6800, 2, "蓝莓好")
    ]
    draw_id = draws[0]["id"]
    assert (await post_form(host, f"/live/{room}/draws/{draw_id}/open")).status_code == 303
    console = await host.get(f"/live/{room}/console")
    assert count_testid(console, "draw-draw") == 1 and count_testid(console, "draw-open") == 0
    short = await post_form(host, f"/live/{room}/draws/{draw_id}/cancel", {"reason": ""})
    assert short.status_code == 422 and count_testid(short, "error-reason") == 1  # on the draw's own form
    assert (await post_form(host, f"/live/{room}/draws/{draw_id}/cancel", {"reason": "奖品缺货"})).status_code == 303
    cancelled = (await host.get(f"/api/v1/draws/{draw_id}")).json()
    assert cancelled["state"] == "cancelled" and cancelled["seed"]  # opened, so the seed is published

    # Only the session's operators get the console or may post its forms.
    assert (await post_form(live_org["outsider"], f"/live/{room}/draws", ok)).status_code == 403
