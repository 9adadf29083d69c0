"""A shoppable clip in a real browser: the host cuts it from the show's replay on the show's clips
page (the replay plays; "Set start" and "Set end" read the player's time), the clip is cut by the
server's own cutter and shows as ready; a buyer on a phone opens the clip's link, sees the video
with its poster, the product card with the brand and the QR code of the link, taps Buy, signs in
inside the sheet and pays with the sandbox provider without leaving the page; the host's clips
page then counts the view, the order and the paid money.

The show runs over the API; its recording is a 20 s ffmpeg test stream written where the server's
embedded ffmpeg keeps recordings, so ending the show builds a real replay (media/replay.py)."""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from fieldcast.media.ffmpeg import ffmpeg_executable
from fieldcast.media.replay import recording_path
from tests.clips.conftest import recording_args
from tests.e2e.conftest import ARTIFACTS_DIR, Credentials, NewContext
from tests.e2e.shows import Offer, api, ok, schedule_show, sign_up
from tests.factories import PASSWORD

pytestmark = pytest.mark.e2e

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
JINGYU = "220622"
REPLAY_TIMEOUT_S = 90.0
CUT_TIMEOUT_MS = 60_000
PAID_TIMEOUT_MS = 30_000


def _screenshot(page: Page, name: str) -> None:
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS_DIR / name
    page.screenshot(path=str(path), full_page=True)
    sys.stderr.write(f"screenshot saved: {path}\n")


@pytest.fixture
def server_data_dir(live_server: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data folder the live server was started on (tests/e2e/conftest.py live_server)."""
    found = [p for p in tmp_path_factory.getbasetemp().glob("e2e-data*") if re.fullmatch(r"e2e-data\d+", p.name)]
    assert len(found) == 1, found
    return found[0]


def _ended_show_with_replay(base_url: str, data_dir: Path) -> tuple[int, Credentials, str, int]:
    """A show that ran (started, its product pinned, a recording made) and ended with a ready
    replay: its id, its host, the product's title and its SKU."""
    suffix = secrets.token_hex(3)
    offer = Offer(
        org_name=f"靖宇县蓝莓合作社{suffix}",
        supplier_name="靖宇县蓝莓种植专业合作社",
        title=f"靖宇蓝莓 5斤装 {suffix}",
        description="长白山脚下的蓝莓，当天采摘，冷链发货。",
        sku={"spec_label": "5斤装", "price_fen": 9900, "weight_g": 2500, "shelf_life_days": 7, "stock": 100},
        show_title=f"靖宇蓝莓助农直播 {suffix}",
        live_price_fen=7900,
    )
    show = schedule_show(base_url, "clip-", suffix, offer)
    with api(base_url) as host_api:
        ok(host_api.post("/api/v1/auth/signin", json={"email": show.host.email, "password": show.host.password}))
        host_api.headers["X-CSRF-Token"] = ok(host_api.get("/api/v1/auth/csrf"))["csrf_token"]
        started = ok(host_api.post(f"/api/v1/sessions/{show.session_id}/start"))
        stream_name = str(started["hls_url"]).rstrip("/").split("/")[-2]  # .../live/<stream>/index.m3u8
        ok(host_api.post(f"/api/v1/sessions/{show.session_id}/pin", json={"sku_id": show.sku_id}), 201)
        target = recording_path(data_dir / "recordings", stream_name)
        target.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([ffmpeg_executable(""), *recording_args(target)], check=True, timeout=120)
        ok(host_api.post(f"/api/v1/sessions/{show.session_id}/end"))
        deadline = time.monotonic() + REPLAY_TIMEOUT_S
        while ok(host_api.get(f"/api/v1/sessions/{show.session_id}"))["replay_state"] != "ready":
            assert time.monotonic() < deadline, "the replay was not built"
            time.sleep(0.3)
    return show.session_id, show.host, show.product_title, show.sku_id


def _sign_in(page: Page, who: Credentials, then: str) -> None:
    expect(page).to_have_url(re.compile(r"/signin\?next="))
    page.locator("#f-email").fill(who.email)
    page.locator("#f-password").fill(who.password)
    page.locator("form[action='/signin'] [type=submit]").click()
    expect(page).to_have_url(re.compile(re.escape(then) + "$"))


def _seek(page: Page, at_s: float) -> None:
    page.evaluate("(t) => { document.getElementById('replay-video').currentTime = t; }", at_s)
    page.wait_for_function(
        """(t) => { const v = document.getElementById('replay-video');
                    return Math.abs(v.currentTime - t) < 0.3 && !v.seeking; }""",
        arg=at_s,
    )


def test_a_host_cuts_a_clip_and_a_buyer_on_a_phone_pays_from_its_page(
    new_context: NewContext, live_server: str, server_data_dir: Path
) -> None:
    session_id, host, product_title, _sku_id = _ended_show_with_replay(live_server, server_data_dir)
    clips_path = f"/live/{session_id}/clips"
    buyer = Credentials(f"clip-buyer-{secrets.token_hex(3)}@e2e.example.com", PASSWORD, "买家")
    with api(live_server) as buyer_api:
        sign_up(buyer_api, buyer)
        address = {"recipient": "王小明", "phone": "13812341234", "region_code": JINGYU, "street": "靖宇镇江边路1号"}
        ok(buyer_api.post("/api/v1/me/addresses", json=address), 201)

    # The host cuts a clip on the show's clips page: the replay plays, Set start / Set end read it.
    console = new_context().new_page()
    console.goto(clips_path)
    _sign_in(console, host, then=clips_path)
    console.wait_for_function(
        """() => { const v = document.getElementById('replay-video');
                   return v && v.readyState >= 1 && v.duration > 15; }""",
        timeout=30_000,
    )
    _seek(console, 2.0)
    console.get_by_test_id("set-start").click()
    _seek(console, 14.0)
    console.get_by_test_id("set-end").click()
    expect(console.get_by_test_id("clip-start")).to_have_value("2.0")
    expect(console.get_by_test_id("clip-end")).to_have_value("14.0")
    console.get_by_test_id("cut-submit").click()
    row = console.get_by_test_id("clip-row")
    expect(row).to_have_count(1)
    # Cut off the request path: the page shows it being cut, then ready (it reloads by itself).
    expect(row).to_have_attribute("data-state", "ready", timeout=CUT_TIMEOUT_MS)
    link = row.get_by_test_id("clip-page-link")
    expect(link).to_have_text(product_title)  # the product pinned then, by default
    clip_path = link.get_attribute("href") or ""
    assert clip_path.startswith("/clips/")

    # A buyer opens the shared link on a phone: the video with its poster, the card, the QR code.
    page = new_context(**PHONE).new_page()
    page.goto(clip_path)
    video = page.get_by_test_id("clip-video")
    expect(video).to_be_visible()
    assert (video.get_attribute("poster") or "").endswith(".jpg")
    page.wait_for_function(
        """() => { const v = document.querySelector('[data-testid=clip-video]');
                   return v.readyState >= 1 && v.duration > 10; }""",
        timeout=20_000,
    )
    card = page.get_by_test_id("shelf-item")
    expect(card.get_by_test_id("clip-product-title")).to_have_text(product_title)
    expect(card.get_by_test_id("clip-price")).to_have_text("¥99.00")  # the shop's price: the show ended
    expect(card.get_by_test_id("stock-left")).to_be_visible()
    expect(card.get_by_test_id("clip-brand")).to_contain_text("靖宇县蓝莓合作社")
    expect(page.get_by_test_id("clip-qr")).to_be_visible()
    expect(page.get_by_test_id("clip-link")).to_have_value(re.compile(re.escape(clip_path) + "$"))
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scroll
    _screenshot(page, "clip.png")

    # Buy: sign in inside the sheet, confirm, pay on the provider's page in the sheet's frame.
    card.get_by_test_id("buy-button").click()
    sheet = page.get_by_test_id("buy-sheet")
    sheet.get_by_test_id("sheet-email").fill(buyer.email)
    sheet.get_by_test_id("sheet-password").fill(buyer.password)
    sheet.get_by_test_id("sheet-signin").click()
    expect(sheet.get_by_test_id("buy-address")).to_contain_text("王小明")
    expect(sheet.get_by_test_id("buy-total")).to_have_text("¥99.00")
    expect(sheet.get_by_test_id("sheet-add-to-cart")).to_be_hidden()  # a cart order would not be the clip's
    sheet.get_by_test_id("buy-confirm").click()
    provider = page.frame_locator("[data-testid=pay-frame]")
    expect(provider.get_by_test_id("sandbox-amount")).to_have_text("¥99.00")
    _screenshot(page, "clip-pay-phone.png")
    provider.get_by_test_id("sandbox-confirm").click()
    expect(sheet.get_by_test_id("sheet-paid")).to_be_visible(timeout=PAID_TIMEOUT_MS)
    expect(page).to_have_url(re.compile(re.escape(clip_path) + "$"))  # never left the clip's page

    # The host's clips page counts the view, the order and the paid money.
    console.goto(clips_path)
    row = console.get_by_test_id("clip-row")
    expect(row.get_by_test_id("clip-views")).to_have_text("1")
    expect(row.get_by_test_id("clip-orders")).to_have_text("1")
    expect(row.get_by_test_id("clip-paid")).to_have_text("¥99.00")
    _screenshot(console, "clip-figures.png")
