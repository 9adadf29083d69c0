"""The room's real-time panel in a real browser, on two phones: a signed-in viewer chats and an
anonymous one sees the line appear without reloading; the anonymous viewer's likes reach the
other's counters; the host pins a product and runs a lucky draw, and both rooms follow along.

The show is started over the API (no video is needed for any of this); the organisation, the
verified host and the product are made over the JSON API (tests/e2e/shows.py)."""

from __future__ import annotations

import re
import secrets
import sys
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ARTIFACTS_DIR, Credentials, NewContext
from tests.e2e.shows import Offer, api, ok, person, schedule_show, sign_up, with_csrf

pytestmark = pytest.mark.e2e

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
LIVE_TIMEOUT_MS = 15_000


@dataclass(frozen=True)
class Room:
    session_id: int
    host: Credentials
    viewer: Credentials
    product_title: str
    sku_id: int


@pytest.fixture
def room(live_server: str) -> Room:
    """A cooperative with a verified host, one published product on the shelf of a scheduled show,
    and a viewer account with nothing to do with the organisation."""
    suffix = secrets.token_hex(3)
    offer = Offer(
        org_name=f"靖宇县合作社{suffix}",
        supplier_name="靖宇县木耳专业合作社",
        title=f"长白山木耳 500克 {suffix}",
        description="长白山椴木黑木耳，自然晾晒。",
        sku={"spec_label": "500克", "price_fen": 5900, "weight_g": 500, "shelf_life_days": 365, "stock": 100},
        show_title=f"木耳助农直播 {suffix}",
        live_price_fen=4900,
    )
    show = schedule_show(live_server, "rt-", suffix, offer)
    viewer = person("rt-", "viewer", suffix, "观众")
    with api(live_server) as viewer_api:
        sign_up(viewer_api, viewer)
    return Room(show.session_id, show.host, viewer, show.product_title, show.sku_id)


def _sign_in(page: Page, who: Credentials, then: str) -> None:
    page.goto(f"/signin?next={then}")
    page.locator("#f-email").fill(who.email)
    page.locator("#f-password").fill(who.password)
    page.locator("form[action='/signin'] [type=submit]").click()
    expect(page).to_have_url(re.compile(re.escape(then) + "$"))


def _screenshot(page: Page, name: str) -> None:
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS_DIR / name
    page.screenshot(path=str(path), full_page=True)
    sys.stderr.write(f"screenshot saved: {path}\n")


def test_two_phones_chat_like_see_the_pinned_card_and_follow_a_draw(
    new_context: NewContext, live_server: str, room: Room
) -> None:
    path = f"/live/{room.session_id}"
    with api(live_server) as host_api:
        ok(host_api.post("/api/v1/auth/signin", json={"email": room.host.email, "password": room.host.password}))
        with_csrf(host_api)
        ok(host_api.post(f"/api/v1/sessions/{room.session_id}/start"))

        a = new_context(**PHONE).new_page()
        _sign_in(a, room.viewer, then=path)
        b = new_context(**PHONE).new_page()
        b.goto(path)
        expect(b.get_by_test_id("chat-signin")).to_be_visible()  # anonymous: sign in to chat
        for page in (a, b):
            expect(page.get_by_test_id("state-badge")).to_have_attribute("data-state", "live")
            # The counters bar fills in from the first counters frame: both sockets are open.
            expect(page.get_by_test_id("count-viewers")).to_have_text(re.compile(r"^\d+$"), timeout=LIVE_TIMEOUT_MS)

        # A chats; B sees the line appear without reloading, as text.
        line = "木耳怎么泡发？<b>急</b>"
        a.get_by_test_id("chat-input").fill(line)
        a.get_by_test_id("chat-send").click()
        expect(a.get_by_test_id("chat-input")).to_have_value("")
        on_b = b.get_by_test_id("chat-list").get_by_test_id("chat-message").filter(has_text="木耳怎么泡发")
        expect(on_b).to_have_count(1, timeout=LIVE_TIMEOUT_MS)
        expect(on_b.locator(".chat-body")).to_have_text(line)
        expect(on_b.locator("b")).to_have_count(0)
        expect(a.get_by_test_id("chat-message").filter(has_text="木耳怎么泡发")).to_have_count(1)  # no duplicate

        # B taps like three times (sent as one message); A's counter reaches 3.
        like = b.get_by_test_id("like")
        for _ in range(3):
            like.click()
        expect(a.get_by_test_id("count-likes")).to_have_text("3", timeout=LIVE_TIMEOUT_MS)
        expect(b.get_by_test_id("count-likes")).to_have_text("3", timeout=LIVE_TIMEOUT_MS)

        # The host pins the product: both rooms show it as "explaining now".
        ok(host_api.post(f"/api/v1/sessions/{room.session_id}/pin", json={"sku_id": room.sku_id}), 201)
        for page in (a, b):
            pinned = page.get_by_test_id("pinned")
            expect(pinned).to_be_visible(timeout=LIVE_TIMEOUT_MS)
            expect(pinned).to_contain_text(room.product_title)

        # A lucky draw: announced with its terms, opened (the seed hash appears), entered, drawn.
        body = {"prize_title": "木耳礼盒", "prize_value_fen": 8800, "winners_count": 1, "entry_rule": "present"}
        draw = ok(host_api.post(f"/api/v1/sessions/{room.session_id}/draws", json=body), 201)
        card_a = a.locator(f"[data-testid=draw][data-draw-id='{draw['id']}']")
        card_b = b.locator(f"[data-testid=draw][data-draw-id='{draw['id']}']")
        for card in (card_a, card_b):
            expect(card).to_be_visible(timeout=LIVE_TIMEOUT_MS)
            expect(card.get_by_test_id("draw-value")).to_have_text("¥88.00")
        opened = ok(host_api.post(f"/api/v1/draws/{draw['id']}/open"))
        expect(card_a.get_by_test_id("draw-seed-hash")).to_have_text(opened["seed_hash"], timeout=LIVE_TIMEOUT_MS)
        expect(card_b.get_by_test_id("draw-signin")).to_be_visible()
        card_a.get_by_test_id("draw-enter").click()
        expect(card_a.get_by_test_id("draw-status")).not_to_be_empty()
        # The card itself now says "you're in", and offers nothing more to press (issue #15).
        expect(card_a.get_by_test_id("draw-entered")).to_be_visible()
        expect(card_a.get_by_test_id("draw-enter")).to_be_hidden()
        expect(card_b.get_by_test_id("draw-entered")).to_be_hidden()
        # After a reload too: the page is every signed-in viewer's, the room's /me says A entered.
        a.reload()
        expect(card_a.get_by_test_id("draw-entered")).to_be_visible(timeout=LIVE_TIMEOUT_MS)
        expect(card_a.get_by_test_id("draw-enter")).to_be_hidden()
        drawn = ok(host_api.post(f"/api/v1/draws/{draw['id']}/draw"))
        assert [w["label"] for w in drawn["winners"]] == [f"{room.viewer.display_name[0]}**"]
        entrants = f"/api/v1/draws/{draw['id']}/entrants"
        for card in (card_a, card_b):
            winners = card.get_by_test_id("draw-winners")
            expect(winners).to_have_text(drawn["winners"][0]["label"], timeout=LIVE_TIMEOUT_MS)
            expect(card.get_by_test_id("draw-seed")).to_have_text(drawn["seed"])
            expect(card.get_by_test_id("draw-entrants")).to_have_attribute("href", entrants)

        a.get_by_test_id("chat").scroll_into_view_if_needed()
        _screenshot(a, "room-realtime-phone.png")

        # The host moderates from the room: remove A's line with a reason given in the inline form.
        h = new_context(**PHONE).new_page()
        _sign_in(h, room.host, then=path)
        # The page is the same for every signed-in viewer; what is one's own comes from the room's
        # /me (static/live/me.js): the host's console link and no Enter on the show's own draw.
        expect(h.get_by_test_id("console-link")).to_be_visible()
        expect(a.get_by_test_id("console-link")).to_be_hidden()
        on_h = h.get_by_test_id("chat-message").filter(has_text="木耳怎么泡发")
        on_h.get_by_test_id("chat-remove").click()
        h.get_by_test_id("chat-mod-reason").fill("测试删除")
        h.get_by_test_id("chat-mod-submit").click()
        expect(h.get_by_test_id("chat-mod-form")).to_be_hidden()
        for page in (a, b):
            removed = page.get_by_test_id("chat-message").filter(has_text="测试删除")
            expect(removed).to_have_count(1, timeout=LIVE_TIMEOUT_MS)
            expect(removed.locator(".chat-body")).to_have_count(0)

        # The host mutes A from the room: A's input goes disabled at once, and stays so after a
        # reload (the page is everyone's; the room's /me says A is muted).
        on_h = h.get_by_test_id("chat-message").filter(has_text="测试删除")
        on_h.get_by_test_id("chat-mute").click()
        h.get_by_test_id("chat-mod-reason").fill("刷屏")
        h.get_by_test_id("chat-mod-submit").click()
        expect(h.get_by_test_id("chat-mod-form")).to_be_hidden()
        expect(a.get_by_test_id("chat-input")).to_be_disabled(timeout=LIVE_TIMEOUT_MS)
        a.reload()
        expect(a.get_by_test_id("chat-input")).to_be_disabled(timeout=LIVE_TIMEOUT_MS)
        expect(a.get_by_test_id("chat-status")).not_to_be_empty()
