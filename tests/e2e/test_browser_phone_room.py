"""Issue #15, item 1: the room as phone viewers expect it, in a real browser at 390×844.

While the show is live the stage is one screen of video (cover-fit for a portrait stream) with the
chat in its lower left, the like button and the shopping bag in its lower right and the pinned
card popping up above the chat within 2 s of a pin; the bag opens the shelf as a sheet and Buy
opens the buy sheet over a video that keeps playing. At 1280×800 the room is three columns,
chat | video | shelf. Screenshots go to test-artifacts/ (the README shows them).

The host goes live from the console with chromium's fake camera (the browser of test_browser_buy,
which has the fake-media flags)."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Locator, expect

from tests.e2e.conftest import NewContext
from tests.e2e.shows import ok
from tests.e2e.test_browser_buy import (  # noqa: F401  (browser: the fake-camera chromium fixture)
    PHONE,
    VIDEO_TIMEOUT_MS,
    _connected,
    _go_live_from_console,
    _screenshot,
    _sign_in,
    _wait_playing,
    browser,
    open_shop,
    signed_in,
)

pytestmark = pytest.mark.e2e

PIN_WITHIN_MS = 2_000
DESKTOP = {"viewport": {"width": 1280, "height": 800}}


def re_digits() -> re.Pattern[str]:
    return re.compile(r"^\d+$")


def _box(locator: Locator) -> dict[str, float]:
    box = locator.bounding_box()
    assert box is not None, f"{locator} has no box (not rendered)"
    return box


def _on_screen(locator: Locator) -> None:
    """Visible without scrolling: wholly inside the viewport as the page shows it now."""
    expect(locator).to_be_visible()
    expect(locator).to_be_in_viewport(ratio=1)


def test_the_phone_room_is_a_screen_of_video_with_chat_like_bag_and_pinned_card_over_it(
    new_context: NewContext, live_server: str
) -> None:
    shop = open_shop(live_server, "phone-")
    room_path = f"/live/{shop.session_id}"
    _go_live_from_console(new_context().new_page(), shop)

    viewer = new_context(**PHONE).new_page()
    _sign_in(viewer, shop.buyer, then=room_path)
    played = _wait_playing(viewer)
    _connected(viewer)
    assert viewer.evaluate("() => window.scrollY") == 0
    _screenshot(viewer, "room-phone.png")
    video = viewer.get_by_test_id("room-video")
    assert _box(video)["height"] >= 0.6 * PHONE["viewport"]["height"]  # type: ignore[index]
    for part in ("chat-input", "like", "shelf-open", "room-title"):
        _on_screen(viewer.get_by_test_id(part))
    expect(viewer.get_by_test_id("shelf-count")).to_have_text("2")
    _screenshot(viewer, "room-phone.png")

    # A pin reaches the phone within 2 s, as a card over the video above the chat, with Buy.
    with signed_in(live_server, shop.host) as host_api:
        pinned_at = time.monotonic()
        ok(host_api.post(f"/api/v1/sessions/{shop.session_id}/pin", json={"sku_id": shop.pinned_sku}), 201)
        pinned = viewer.get_by_test_id("pinned")
        expect(pinned.get_by_test_id("shelf-item")).to_be_visible(timeout=PIN_WITHIN_MS)
        assert time.monotonic() - pinned_at < PIN_WITHIN_MS / 1000
    _on_screen(pinned.get_by_test_id("buy-button"))
    assert _box(pinned)["y"] + _box(pinned)["height"] <= _box(viewer.get_by_test_id("chat-list"))["y"] + 1
    viewer.wait_for_timeout(400)  # the card's slide-in
    _screenshot(viewer, "room-phone-pinned.png")

    # The bag opens the shelf as a sheet over the video; Buy opens the buy sheet over it.
    shelf = viewer.get_by_test_id("shelf-col")
    expect(shelf).not_to_be_in_viewport()
    viewer.get_by_test_id("shelf-open").click()
    expect(viewer.get_by_test_id("shelf-open")).to_have_attribute("aria-expanded", "true")
    card = shelf.locator(f"[data-testid=shelf-item][data-sku-id='{shop.last_sku}']")
    _on_screen(card.get_by_test_id("buy-button"))
    viewer.wait_for_timeout(400)
    _screenshot(viewer, "room-phone-shelf.png")
    card.get_by_test_id("buy-button").click()
    sheet = viewer.get_by_test_id("buy-sheet")
    expect(sheet).to_be_visible()
    expect(sheet.get_by_test_id("sheet-title")).to_contain_text(shop.title)
    # The video plays on under the sheet.
    at = _wait_playing(viewer, min_time_s=played)
    _wait_playing(viewer, min_time_s=at + 1.0)
    _screenshot(viewer, "room-phone-buy-sheet.png")
    viewer.keyboard.press("Escape")
    expect(sheet).to_be_hidden()
    viewer.get_by_test_id("shelf-close").click()
    expect(viewer.get_by_test_id("shelf-open")).to_have_attribute("aria-expanded", "false")
    expect(shelf).not_to_be_in_viewport()

    # A wide screen: three columns, chat | video | shelf, all in the first screen.
    wide = new_context(**DESKTOP).new_page()
    _sign_in(wide, shop.buyer, then=room_path)
    _connected(wide)
    chat, stage, shelf_col = (_box(wide.get_by_test_id(x)) for x in ("chat", "stage", "shelf-col"))
    assert chat["x"] + chat["width"] <= stage["x"] and stage["x"] + stage["width"] <= shelf_col["x"], (
        chat,
        stage,
        shelf_col,
    )
    for part in ("chat-input", "like", "room-video"):
        _on_screen(wide.get_by_test_id(part))
    expect(wide.get_by_test_id("shelf-open")).to_be_hidden()
    _screenshot(wide, "room-desktop.png")


def test_the_cockpit_holds_preview_counters_chat_and_shelf_in_one_screen_at_1280x800(
    new_context: NewContext, live_server: str
) -> None:
    """Issue #15, item 2: the host goes live from the console; one screen holds the camera, the
    counters with their chart, the chat (a viewer's line arrives, with remove and mute inline) and
    the shelf with a pin toggle per item and its stock left. Reloaded, the preview is what viewers
    see (the show's HLS)."""
    shop = open_shop(live_server, "cockpit-")
    host = new_context(**DESKTOP).new_page()
    _go_live_from_console(host, shop)
    _screenshot(host, "cockpit-live.png")
    for part in ("golive-preview", "count-viewers", "viewers-chart", "chat-input", "chat-list"):
        _on_screen(host.get_by_test_id(part))
    items = host.get_by_test_id("console-item")
    expect(items).to_have_count(2)
    for i in range(2):
        _on_screen(items.nth(i).get_by_test_id("pin"))
        expect(items.nth(i).get_by_test_id("console-left")).to_contain_text("剩")

    # A viewer's line reaches the cockpit, with the moderation tools inline.
    viewer = new_context(**PHONE).new_page()
    _sign_in(viewer, shop.buyer, then=f"/live/{shop.session_id}")
    _connected(viewer)
    viewer.get_by_test_id("chat-input").fill("蓝莓甜不甜？")
    viewer.get_by_test_id("chat-send").click()
    line = host.get_by_test_id("chat-message").filter(has_text="蓝莓甜不甜")
    expect(line).to_have_count(1, timeout=20_000)
    expect(line.get_by_test_id("chat-remove")).to_be_visible()
    expect(line.get_by_test_id("chat-mute")).to_be_visible()
    expect(host.get_by_test_id("count-viewers")).to_have_text(re_digits(), timeout=20_000)

    # One toggle per item: explain it, then stop.
    items.nth(0).get_by_test_id("pin").click()
    expect(items.nth(0).get_by_test_id("unpin")).to_be_visible()
    expect(viewer.get_by_test_id("pinned").get_by_test_id("shelf-item")).to_be_visible(timeout=PIN_WITHIN_MS)
    _screenshot(host, "cockpit-live.png")
    items.nth(0).get_by_test_id("unpin").click()
    expect(items.nth(0).get_by_test_id("pin")).to_be_visible()

    # Reloaded while live: the preview is the programme viewers get.
    host.reload()
    program = host.get_by_test_id("program-preview")
    _on_screen(program)
    host.wait_for_function(
        "() => { const v = document.getElementById('program-video');"
        " return v && v.readyState >= 2 && v.currentTime > 0; }",
        timeout=VIDEO_TIMEOUT_MS,
    )
    for part in ("count-viewers", "chat-input"):
        _on_screen(host.get_by_test_id(part))
    _on_screen(host.get_by_test_id("console-item").nth(1))
    _screenshot(host, "cockpit-program.png")


def test_on_a_phone_the_cockpit_is_the_camera_with_the_chat_and_shelf_in_sheets(
    new_context: NewContext, live_server: str
) -> None:
    shop = open_shop(live_server, "cockpit-phone-")
    host = new_context(**PHONE).new_page()
    _go_live_from_console(host, shop)
    _on_screen(host.get_by_test_id("open-chat"))
    _on_screen(host.get_by_test_id("open-shelf"))
    expect(host.get_by_test_id("chat-input")).not_to_be_in_viewport()

    host.get_by_test_id("open-chat").click()
    _on_screen(host.get_by_test_id("chat-input"))
    host.get_by_test_id("open-shelf").click()  # one sheet at a time
    expect(host.get_by_test_id("chat-input")).not_to_be_in_viewport()
    toggle = host.get_by_test_id("console-item").nth(0).get_by_test_id("pin")
    _on_screen(toggle)
    toggle.click()
    expect(host.get_by_test_id("console-item").nth(0).get_by_test_id("unpin")).to_be_visible()
    host.wait_for_timeout(400)
    _screenshot(host, "cockpit-phone-shelf.png")
