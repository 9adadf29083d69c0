"""Live rooms in a real browser, with chromium's fake camera and microphone: the host presses
Go live in the console, a viewer's page plays the room's HLS, the host pins a product that the
viewer sees as "explaining now", and after the show the replay's jump button seeks to it.

Accounts, the organisation, the host's verification and the show are made over the JSON API;
the browser does what the issue asks a person to do. The browser for this module is launched
with the fake-media flags (the shared `browser` fixture is not)."""

from __future__ import annotations

import re
import secrets
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Error, Page, Playwright, expect, sync_playwright

from tests.conftest import unavailable
from tests.e2e.conftest import ACTION_TIMEOUT_MS, ARTIFACTS_DIR, CHROMIUM, CHROMIUM_ARGS, Credentials
from tests.e2e.conftest import _save_screenshots as save_screenshots
from tests.e2e.shows import Offer, ScheduledShow, schedule_show

pytestmark = pytest.mark.e2e

FAKE_MEDIA_ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
VIDEO_TIMEOUT_MS = 90_000
REPLAY_TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def camera_browser() -> Iterator[Browser]:
    """Debian's chromium with a fake camera and microphone that need no permission prompt."""
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing (apt-get install chromium); browser tests need it")
    playwright: Playwright = sync_playwright().start()
    try:
        try:
            launched = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=[*CHROMIUM_ARGS, *FAKE_MEDIA_ARGS]
            )
        except Error as exc:
            unavailable(f"{CHROMIUM} did not start: {exc.message}")
            raise
        try:
            yield launched
        finally:
            launched.close()
    finally:
        playwright.stop()


@pytest.fixture
def contexts(
    camera_browser: Browser, live_server: str, request: pytest.FixtureRequest
) -> Iterator[list[BrowserContext]]:
    """Browser contexts made by the test; screenshots of every page are saved if it fails."""
    made: list[BrowserContext] = []
    yield made
    failed = any(getattr(getattr(request.node, f"rep_{p}", None), "failed", False) for p in ("setup", "call"))
    try:
        if failed:
            save_screenshots(request.node.nodeid, made)
    finally:
        for context in made:
            context.close()


def _context(browser: Browser, base_url: str, made: list[BrowserContext], **options: Any) -> BrowserContext:
    options.setdefault("locale", "zh-CN")
    context = browser.new_context(base_url=base_url, **options)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    made.append(context)
    return context


@pytest.fixture
def show(live_server: str) -> ScheduledShow:
    """A cooperative with a verified host (a village first secretary), one published product and a
    show scheduled for later today with that product on the shelf."""
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
    return schedule_show(live_server, "", suffix, offer)


def _sign_in(page: Page, who: Credentials, then: str) -> None:
    expect(page).to_have_url(re.compile(r"/signin\?next="))
    page.locator("#f-email").fill(who.email)
    page.locator("#f-password").fill(who.password)
    page.locator("form[action='/signin'] [type=submit]").click()
    expect(page).to_have_url(re.compile(re.escape(then) + "$"))


def _wait_playing(page: Page, min_time_s: float = 1.0, timeout_ms: int = VIDEO_TIMEOUT_MS) -> float:
    """Wait until the room's <video> has data to play and its clock has moved; return the time."""
    page.wait_for_function(
        """(min) => { const v = document.getElementById("room-video");
                      return v && v.readyState >= 3 && !v.paused && v.currentTime > min; }""",
        arg=min_time_s,
        timeout=timeout_ms,
    )
    current: float = page.evaluate("() => document.getElementById('room-video').currentTime")
    return current


def _screenshot(page: Page, name: str) -> None:
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS_DIR / name
    page.screenshot(path=str(path), full_page=True)
    sys.stderr.write(f"screenshot saved: {path}\n")


def test_host_goes_live_with_the_camera_and_a_viewer_plays_the_room_then_the_replay(
    camera_browser: Browser, live_server: str, contexts: list[BrowserContext], show: ScheduledShow
) -> None:
    room_path, console_path = f"/live/{show.session_id}", f"/live/{show.session_id}/console"

    # A viewer on a phone waits in the room before the show: the countdown runs.
    viewer = _context(camera_browser, live_server, contexts, **PHONE).new_page()
    sent: list[str | bytes] = []  # what the page's room sockets send

    def record(payload: str | bytes) -> None:  # a function: Playwright cannot wrap a bound builtin
        sent.append(payload)

    viewer.on("websocket", lambda ws: ws.on("framesent", record))
    viewer.goto(room_path)
    expect(viewer.get_by_test_id("state-badge")).to_have_attribute("data-state", "scheduled")
    countdown = viewer.get_by_test_id("room-countdown").locator("[data-countdown-to]")
    expect(countdown).to_have_text(re.compile(r"^00:(19|20):\d\d$"))
    first = countdown.text_content()
    expect(countdown).not_to_have_text(first or "")  # it ticks

    # The host signs in to the console and presses Go live: the fake camera streams.
    host = _context(camera_browser, live_server, contexts).new_page()
    host.goto(console_path)
    _sign_in(host, show.host, then=console_path)
    expect(host.locator("#golive")).to_have_attribute("data-ready", "1")  # its script has bound the buttons
    host.get_by_test_id("golive-start").click()
    status = host.get_by_test_id("golive-status")
    expect(status).to_have_attribute("data-kind", "live", timeout=VIDEO_TIMEOUT_MS)
    expect(host.get_by_test_id("golive-stop")).to_be_visible()

    # The viewer's page notices the show started, reloads into the player and plays the HLS.
    expect(viewer.get_by_test_id("state-badge")).to_have_attribute("data-state", "live", timeout=VIDEO_TIMEOUT_MS)
    played = _wait_playing(viewer)
    # Its socket told the server the video plays (the fake-traffic rules count such viewers).
    for _ in range(100):
        if '{"type":"playing"}' in sent:
            break
        viewer.wait_for_timeout(100)
    assert '{"type":"playing"}' in sent, sent
    assert _wait_playing(viewer, min_time_s=played) > played, "the live video stopped moving"
    assert viewer.evaluate("() => document.getElementById('room-video').muted") is True  # autoplay is muted
    expect(viewer.get_by_test_id("unmute")).to_be_visible()

    # "Explaining now": the host pins the product without leaving the console (the stream goes on),
    # and the viewer's pinned card shows it.
    host.get_by_test_id("pin").click()
    expect(host.get_by_test_id("unpin")).to_be_visible()
    expect(status).to_have_attribute("data-kind", "live")
    pinned = viewer.get_by_test_id("pinned")
    expect(pinned).to_be_visible(timeout=15_000)
    expect(pinned).to_contain_text(show.product_title)
    viewer.wait_for_timeout(4000)  # some video after the mark, so the replay can seek to it
    _screenshot(viewer, "live-room-live-phone.png")
    _screenshot(host, "live-console-live.png")

    # The host ends the show; the viewer's room turns into the replay, which jumps to the mark.
    host.get_by_test_id("end").click()
    expect(host.get_by_test_id("state-badge")).to_have_attribute("data-state", "ended")
    expect(viewer.get_by_test_id("state-badge")).to_have_attribute("data-state", "ended", timeout=30_000)
    expect(viewer.get_by_test_id("state-badge")).to_have_text(re.compile("回放"), timeout=REPLAY_TIMEOUT_MS)
    jump = viewer.get_by_test_id("mark-jump")
    expect(jump).to_have_count(1)
    expect(jump).to_be_enabled()
    offset = float(jump.get_attribute("data-seek") or "nan")
    _wait_playing(viewer, min_time_s=0.0)
    jump.click()
    viewer.wait_for_function(
        """(at) => { const v = document.getElementById("room-video");
                     return Math.abs(v.currentTime - at) < 3 && v.readyState >= 2; }""",
        arg=offset,
        timeout=20_000,
    )
    expect(viewer.get_by_test_id("shelf-item")).to_have_count(1)  # still on sale after the show
    _screenshot(viewer, "live-room-replay-phone.png")

    desktop = _context(camera_browser, live_server, contexts, viewport={"width": 1280, "height": 900}).new_page()
    desktop.goto(room_path)
    _wait_playing(desktop, min_time_s=0.0)
    _screenshot(desktop, "live-room-replay-desktop.png")
