"""The demo smoke test (#19): `fieldcast demo` started as `make demo` starts it, in its own process
group with a fresh data directory and a free port; the event's rooms go live on test video with
the product drawn on the picture, the simulated audience moves the counters, the event page (and,
once it lands, the big screen) answers, and the demo stops cleanly on SIGINT leaving no process
behind (ffmpeg included). On any failure the whole process group is killed and the demo's log
is printed. Debian's chromium opens the event page and a room playing its captioned test video,
and saves both as screenshots in test-artifacts/ (demo-event.png, demo-room.png)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Error, expect, sync_playwright

from fieldcast.demo.catalog import ORGANISER_KEY
from fieldcast.demo.live import EVENT_SLUG, ROOMS
from fieldcast.demo.seed import DEMO_PASSWORD, PEOPLE
from fieldcast.demo.serve import CAPTIONS_FOLDER
from fieldcast.live.models import SessionState
from tests.conftest import RELAXED_LIMITS, REQUIRE_SERVICES, free_port
from tests.e2e.conftest import ARTIFACTS_DIR, CHROMIUM, CHROMIUM_ARGS

# The event's big screen (#19 point 4) is being built on another branch: set to True once
# /events/<slug>/screen is on main, and the smoke test opens it too (HTTP 200, and a screenshot,
# demo-screen.png, in the browser step).
SCREEN_PATH = f"/events/{EVENT_SLUG}/screen"

# Upper bounds only (about 30 s and 10 s on an idle machine): a loaded CI runner is slower.
START_TIMEOUT_S = 150.0  # migrate, seed (argon2 hashes, pictures, a rendered replay), ffmpeg per room
MOVE_TIMEOUT_S = 60.0  # the audience signs its viewers up, then takes a step every few seconds
STOP_TIMEOUT_S = 30.0
BROWSER_TIMEOUT_MS = 30_000
LIVE_ROOMS = sum(1 for room in ROOMS if room.state == SessionState.LIVE)

pytestmark = pytest.mark.timeout(START_TIMEOUT_S + MOVE_TIMEOUT_S + STOP_TIMEOUT_S + 30)


@dataclass
class Demo:
    process: subprocess.Popen[bytes]
    base_url: str
    data_dir: Path
    log_path: Path

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def group_alive(self) -> bool:
        """Whether any process of the demo's group (the app, its ffmpeg children) still runs."""
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # a process of the group exists (as another user: not ours)
            return True
        return True


def _demo_env(data_dir: Path) -> dict[str, str]:
    """The embedded defaults `make demo` runs with: none of the test run's FIELDCAST_* settings
    (no PostgreSQL, no Redis) except the relaxed sign-up limits every test server gets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDCAST_")}
    env.update({f"FIELDCAST_{name.upper()}": str(value) for name, value in RELAXED_LIMITS.items()})
    env.update({"FIELDCAST_HOST": "127.0.0.1", "FIELDCAST_DATA_DIR": str(data_dir)})
    return env


@contextlib.contextmanager
def running_demo(tmp_path: Path) -> Iterator[Demo]:
    port = free_port()
    data_dir = tmp_path / "data"
    log_path = tmp_path / "demo.log"
    command = [sys.executable, "-m", "fieldcast", "demo", "--port", str(port), "--data-dir", str(data_dir)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=_demo_env(data_dir), start_new_session=True
        )
    demo = Demo(process, f"http://127.0.0.1:{port}", data_dir, log_path)
    try:
        yield demo
    except BaseException:
        print(f"--- the demo's log (last lines) ---\n{demo.log_tail()}")
        raise
    finally:
        if demo.group_alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)


def _event(client: httpx.Client) -> dict[str, Any] | None:
    try:
        response = client.get(f"/api/v1/events/{EVENT_SLUG}")
    except httpx.TransportError:  # still seeding: nothing listens yet
        return None
    return response.json() if response.status_code == 200 else None


def _wait_live(demo: Demo, client: httpx.Client) -> dict[str, Any]:
    """The event once every live demo room plays video (its HLS playlist has segments)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert demo.process.poll() is None, f"the demo exited with {demo.process.returncode}"
        event = _event(client)
        live = [x for x in (event or {}).get("sessions", []) if x["state"] == "live"]
        if event is not None and len(live) >= LIVE_ROOMS and all(_playing(client, x["hls_url"]) for x in live):
            return event
        time.sleep(1.0)
    raise AssertionError(f"the demo's rooms were not live within {START_TIMEOUT_S} s")


def _playing(client: httpx.Client, hls_url: str | None) -> bool:
    if not hls_url:
        return False
    playlist = client.get(hls_url)
    return playlist.status_code == 200 and ".ts" in playlist.text


def _organiser() -> dict[str, str]:
    """The demo organiser's sign-in (a reader of the event's big screen)."""
    person = next(p for p in PEOPLE if p.key == ORGANISER_KEY)
    return {"email": person.email, "password": DEMO_PASSWORD}


def _counters(event: dict[str, Any]) -> tuple[int, int]:
    return event["totals"]["viewers"], event["totals"]["orders"]


def _wait_moving(client: httpx.Client, first: tuple[int, int]) -> tuple[int, int]:
    """The event's views or orders once they rose above `first`."""
    deadline = time.monotonic() + MOVE_TIMEOUT_S
    while time.monotonic() < deadline:
        time.sleep(2.0)
        event = _event(client)
        if event is not None:
            now = _counters(event)
            if now[0] > first[0] or now[1] > first[1]:
                return now
    raise AssertionError(f"the event's views and orders stayed at {first} for {MOVE_TIMEOUT_S} s")


def _in_the_browser(base_url: str, room_id: int, ended_id: int) -> None:
    """The event page with its live rooms, and a room whose video plays (the product drawn on
    it) with its counters: both saved as screenshots."""
    if not CHROMIUM.exists():
        if REQUIRE_SERVICES:
            pytest.fail(f"{CHROMIUM} is missing (FIELDCAST_REQUIRE_SERVICES=1)")
        return
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        except Error as exc:
            if REQUIRE_SERVICES:
                raise
            print(f"chromium did not start ({exc.message}): the browser step is left out")
            return
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            page.set_default_timeout(BROWSER_TIMEOUT_MS)
            page.goto(f"{base_url}/events/{EVENT_SLUG}")
            expect(page.get_by_test_id("total-live")).to_have_text(str(LIVE_ROOMS))
            page.screenshot(path=str(ARTIFACTS_DIR / "demo-event.png"), full_page=True)
            page.goto(f"{base_url}/live/{room_id}")
            page.wait_for_function(
                """() => { const v = document.getElementById("room-video");
                           return v && v.readyState >= 3 && !v.paused && v.currentTime > 1; }"""
            )
            expect(page.get_by_test_id("count-viewers")).to_have_text(re.compile(r"^[1-9]\d*$"))
            page.screenshot(path=str(ARTIFACTS_DIR / "demo-room.png"))
            # The big screen, as the event's organiser sees it on a projector.
            screen = browser.new_page(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
            screen.set_default_timeout(BROWSER_TIMEOUT_MS)
            signed = screen.request.post(f"{base_url}/api/v1/auth/signin", data=_organiser())
            assert signed.ok, signed.text()
            screen.goto(f"{base_url}{SCREEN_PATH}")
            expect(screen.get_by_test_id("screen")).to_have_attribute("data-loaded", "true")
            live = screen.get_by_test_id("screen-room").and_(screen.locator("[data-state=live]"))
            expect(live).to_have_count(LIVE_ROOMS)
            expect(screen.get_by_test_id("screen-viewers")).to_have_text(re.compile(r"^[1-9]\d*$"))
            screen.wait_for_timeout(3_000)  # a few socket updates on the screen
            screen.screenshot(path=str(ARTIFACTS_DIR / "demo-screen.png"))
            # The ended koi show's post-show report, as its organisation's organiser reads it.
            report = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            report.set_default_timeout(BROWSER_TIMEOUT_MS)
            assert report.request.post(f"{base_url}/api/v1/auth/signin", data=_organiser()).ok
            report.goto(f"{base_url}/live/{ended_id}/report")
            expect(report.get_by_test_id("report-deliveries")).to_be_visible()
            report.wait_for_timeout(1_500)  # the charts and the map draw
            report.screenshot(path=str(ARTIFACTS_DIR / "demo-report.png"), full_page=True)
        finally:
            browser.close()


def test_the_demo_goes_live_its_counters_move_and_it_stops_cleanly(tmp_path: Path) -> None:
    started = time.monotonic()
    with running_demo(tmp_path) as demo, httpx.Client(base_url=demo.base_url, timeout=15) as client:
        event = _wait_live(demo, client)
        print(f"demo rooms live after {time.monotonic() - started:.0f} s")
        live = [x for x in event["sessions"] if x["state"] == "live"]
        assert len(live) >= 3 and {x["state"] for x in event["sessions"]} >= {"live", "scheduled", "ended"}
        # Each live room's picture carries what it sells (the caption ffmpeg lays over it).
        captions = demo.data_dir / CAPTIONS_FOLDER
        assert all((captions / f"room-{x['id']}.png").stat().st_size > 0 for x in live)

        first = _counters(event)
        _wait_moving(client, first)
        print(f"demo counters moving after {time.monotonic() - started:.0f} s")

        page = client.get(f"/events/{EVENT_SLUG}")
        assert page.status_code == 200 and all(x["title"] in page.text for x in live)
        assert client.get(SCREEN_PATH).status_code in (303, 307)  # to sign in: the screen is not public
        assert client.post("/api/v1/auth/signin", json=_organiser()).status_code == 200
        figures = client.get(f"/api/v1/events/{EVENT_SLUG}/metrics")
        assert figures.status_code == 200 and figures.json()["totals"]["live_rooms"] == LIVE_ROOMS
        assert client.get(SCREEN_PATH).status_code == 200
        rice = next(x["id"] for x in live if x["title"] == ROOMS[0].title)
        ended = next(x["id"] for x in event["sessions"] if x["state"] == "ended")
        report = client.get(f"/api/v1/sessions/{ended}/report")
        assert report.status_code == 200 and report.json()["totals"]["paid_orders"] > 0
        _in_the_browser(demo.base_url, rice, ended)

        demo.process.send_signal(signal.SIGINT)
        code = demo.process.wait(timeout=STOP_TIMEOUT_S)
        assert code == 0, f"the demo exited with {code}"
        deadline = time.monotonic() + 5
        while demo.group_alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not demo.group_alive(), "the demo left processes behind (ffmpeg?)"
