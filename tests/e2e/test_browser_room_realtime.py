"""The room's real-time panel in a real browser, on two phones: a signed-in viewer chats and an
anonymous one sees the line appear without reloading; the anonymous viewer's likes reach the
other's counters; the host pins a product and runs a lucky draw, and both rooms follow along.

The show is started over the API (no video is needed for any of this); the organisation, the
verified host and the product are made over the JSON API as in test_browser_live."""

from __future__ import annotations

import re
import secrets
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ADMIN, ARTIFACTS_DIR, Credentials, NewContext
from tests.helpers import PASSWORD, verification_body

pytestmark = pytest.mark.e2e

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
LIVE_TIMEOUT_MS = 15_000


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json() if response.content else None


def _api(base_url: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=15.0)


def _with_csrf(client: httpx.Client) -> None:
    client.headers["X-CSRF-Token"] = _ok(client.get("/api/v1/auth/csrf"))["csrf_token"]


def _sign_up(client: httpx.Client, who: Credentials) -> int:
    body = {"email": who.email, "display_name": who.display_name, "password": who.password}
    user = _ok(client.post("/api/v1/auth/signup", json=body), 201)
    _with_csrf(client)
    return int(user["id"])


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
    owner = Credentials(f"rt-owner-{suffix}@e2e.example.com", PASSWORD, f"理事长{suffix}")
    host = Credentials(f"rt-host-{suffix}@e2e.example.com", PASSWORD, f"第一书记{suffix}")
    viewer = Credentials(f"rt-viewer-{suffix}@e2e.example.com", PASSWORD, f"观众{suffix}")
    slug = f"rt-{suffix}"
    title = f"长白山木耳 500克 {suffix}"
    with _api(live_server) as owner_api, _api(live_server) as host_api, _api(live_server) as admin_api:
        _sign_up(owner_api, owner)
        host_id = _sign_up(host_api, host)
        with _api(live_server) as viewer_api:
            _sign_up(viewer_api, viewer)
        _ok(admin_api.post("/api/v1/auth/signin", json={"email": ADMIN.email, "password": ADMIN.password}))
        _with_csrf(admin_api)
        org = {"slug": slug, "name": f"靖宇县合作社{suffix}", "kind": "cooperative", "region": "吉林省白山市靖宇县"}
        org_id = _ok(owner_api.post("/api/v1/organisations", json=org), 201)["id"]
        token = _ok(
            owner_api.post(f"/api/v1/organisations/{slug}/invitations", json={"email": host.email, "role": "host"}), 201
        )["token"]
        _ok(host_api.post("/api/v1/invitations/accept", json={"token": token}))
        serial = int(secrets.token_hex(2), 16) % 900 + 100
        applied = _ok(host_api.post("/api/v1/me/verifications", json=verification_body(serial)), 201)
        _ok(admin_api.post(f"/api/v1/verifications/{applied['id']}/approve", json={"reason": "核验任命文件"}))
        supplier = {
            "name": "靖宇县木耳专业合作社",
            "kind": "cooperative",
            "ship_from_region": "220622",
            "contact_name": "李",
            "contact_phone": "0439-0000000",
        }
        supplier_id = _ok(owner_api.post(f"/api/v1/organisations/{slug}/suppliers", json=supplier), 201)["id"]
        product = {
            "supplier_id": supplier_id,
            "title": title,
            "description": "长白山椴木黑木耳，自然晾晒。",
            "category": "fresh_produce",
            "origin_region": "220622",
            "skus": [{"spec_label": "500克", "price_fen": 5900, "weight_g": 500, "shelf_life_days": 365, "stock": 100}],
        }
        made = _ok(owner_api.post(f"/api/v1/organisations/{slug}/products", json=product), 201)
        _ok(owner_api.post(f"/api/v1/products/{made['id']}/publish", json={}))
        sku_id = made["skus"][0]["id"]
        session = {
            "organisation_id": org_id,
            "title": f"木耳助农直播 {suffix}",
            "scheduled_at": (datetime.now(UTC) + timedelta(minutes=20)).isoformat(),
            "host_ids": [host_id],
            "shelf": [{"sku_id": sku_id, "live_price_fen": 4900, "session_stock": 50}],
        }
        session_id = _ok(owner_api.post("/api/v1/sessions", json=session), 201)["id"]
    return Room(session_id, host, viewer, title, sku_id)


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
    with _api(live_server) as host_api:
        _ok(host_api.post("/api/v1/auth/signin", json={"email": room.host.email, "password": room.host.password}))
        _with_csrf(host_api)
        _ok(host_api.post(f"/api/v1/sessions/{room.session_id}/start"))

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
        _ok(host_api.post(f"/api/v1/sessions/{room.session_id}/pin", json={"sku_id": room.sku_id}), 201)
        for page in (a, b):
            pinned = page.get_by_test_id("pinned")
            expect(pinned).to_be_visible(timeout=LIVE_TIMEOUT_MS)
            expect(pinned).to_contain_text(room.product_title)

        # A lucky draw: announced with its terms, opened (the seed hash appears), entered, drawn.
        body = {"prize_title": "木耳礼盒", "prize_value_fen": 8800, "winners_count": 1, "entry_rule": "present"}
        draw = _ok(host_api.post(f"/api/v1/sessions/{room.session_id}/draws", json=body), 201)
        card_a = a.locator(f"[data-testid=draw][data-draw-id='{draw['id']}']")
        card_b = b.locator(f"[data-testid=draw][data-draw-id='{draw['id']}']")
        for card in (card_a, card_b):
            expect(card).to_be_visible(timeout=LIVE_TIMEOUT_MS)
            expect(card.get_by_test_id("draw-value")).to_have_text("¥88.00")
        opened = _ok(host_api.post(f"/api/v1/draws/{draw['id']}/open"))
        expect(card_a.get_by_test_id("draw-seed-hash")).to_have_text(opened["seed_hash"], timeout=LIVE_TIMEOUT_MS)
        expect(card_b.get_by_test_id("draw-signin")).to_be_visible()
        card_a.get_by_test_id("draw-enter").click()
        expect(card_a.get_by_test_id("draw-status")).not_to_be_empty()
        drawn = _ok(host_api.post(f"/api/v1/draws/{draw['id']}/draw"))
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
        on_h = h.get_by_test_id("chat-message").filter(has_text="木耳怎么泡发")
        on_h.get_by_test_id("chat-remove").click()
        h.get_by_test_id("chat-mod-reason").fill("测试删除")
        h.get_by_test_id("chat-mod-submit").click()
        expect(h.get_by_test_id("chat-mod-form")).to_be_hidden()
        for page in (a, b):
            removed = page.get_by_test_id("chat-message").filter(has_text="测试删除")
            expect(removed).to_have_count(1, timeout=LIVE_TIMEOUT_MS)
            expect(removed.locator(".chat-body")).to_have_count(0)
