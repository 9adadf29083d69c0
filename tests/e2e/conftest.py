"""Browser tests against a real `fieldcast serve` process, driven through Debian's chromium.

The server runs as a subprocess on a fresh SQLite data directory, migrated and seeded with one
administrator through the real CLI. The Playwright sync API marks its own event loop as running
in this thread while it is alive, so the browser lives for this module only: it is closed before
any pytest-asyncio test elsewhere in the suite needs the session loop."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Error, Playwright, sync_playwright

from tests.conftest import free_port, unavailable

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS_DIR = Path(__file__).resolve().parents[2] / "test-artifacts"
SERVER_START_TIMEOUT_S = 120.0  # an upper bound only: a loaded machine starts the server slowly
CLI_TIMEOUT_S = 120.0
ACTION_TIMEOUT_MS = 10_000


@dataclass(frozen=True)
class Credentials:
    email: str
    password: str
    display_name: str


ADMIN = Credentials(email="admin@e2e.example.com", password="e2e admin password 1", display_name="审核员")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the item (rep_setup, rep_call) so fixtures can see failures."""
    report: pytest.TestReport = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def _server_env(data_dir: Path) -> dict[str, str]:
    """The inherited environment minus any FIELDCAST_* a developer has set, plus ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDCAST_")}
    env.update(
        FIELDCAST_DATA_DIR=str(data_dir),
        FIELDCAST_SECRET_KEY="e2e-secret-key-not-for-production",
        FIELDCAST_DEFAULT_LANGUAGE="zh-CN",
        FIELDCAST_DATABASE_URL="",
        FIELDCAST_REDIS_URL="",
        # The sandbox provider calls this very server back (its notify URL is the address the
        # browser uses, 127.0.0.1:<port>): no deliberate repeats or delays in browser tests.
        FIELDCAST_PAYMENT_SANDBOX_DUPLICATE_RATE="0",
        FIELDCAST_PAYMENT_SANDBOX_LATE_RATE="0",
        FIELDCAST_ANALYTICS_SWEEP_S="2",  # the dashboard's figures within seconds, not 15
        # Every browser test signs up from 127.0.0.1: no per-address sign-up/organisation limits.
        FIELDCAST_SIGN_UPS_PER_ADDRESS_PER_HOUR="10000",
        FIELDCAST_ORGANISATIONS_PER_ADDRESS_PER_HOUR="10000",
        PYTHONUNBUFFERED="1",
    )
    return env


def _run_cli(env: dict[str, str], *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fieldcast", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"`fieldcast {args[0]}` exited with {result.returncode}:\n{result.stdout}\n{result.stderr}")


def _wait_until_healthy(base_url: str, server: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"fieldcast serve exited with {server.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            response = httpx.get(f"{base_url}/healthz", timeout=2.0)
        except httpx.TransportError as exc:
            last_error = repr(exc)
        else:
            if response.status_code == 200:
                return
            last_error = f"HTTP {response.status_code}: {response.text[:500]}"
        time.sleep(0.1)
    pytest.fail(
        f"fieldcast serve did not answer /healthz with 200 within {SERVER_START_TIMEOUT_S:.0f} s "
        f"({last_error}):\n{log_path.read_text()[-4000:]}"
    )


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a real `fieldcast serve` on loopback, with a migrated database and one admin."""
    data_dir = tmp_path_factory.mktemp("e2e-data")
    env = _server_env(data_dir)
    _run_cli(env, "migrate")
    _run_cli(
        {**env, "FIELDCAST_TEST_ADMIN_PASSWORD": ADMIN.password},  # never an argument: `ps` shows those
        "create-admin",
        ADMIN.email,
        "--display-name",
        ADMIN.display_name,
        "--password-env",
        "FIELDCAST_TEST_ADMIN_PASSWORD",
    )
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = data_dir / "server.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "fieldcast", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_healthy(base_url, server, log_path)
            yield base_url
        finally:
            _stop(server)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless; never a downloaded browser."""
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing (apt-get install chromium); browser tests need it")
    playwright: Playwright = sync_playwright().start()
    try:
        try:
            launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        except Error as exc:
            unavailable(f"{CHROMIUM} did not start: {exc.message}")
            raise  # unavailable() skips or fails; this line only tells the reader and type checkers
        try:
            yield launched
        finally:
            launched.close()
    finally:
        playwright.stop()


NewContext = Callable[..., BrowserContext]


@pytest.fixture
def new_context(browser: Browser, live_server: str, request: pytest.FixtureRequest) -> Iterator[NewContext]:
    """Make browser contexts (separate cookie jars) on the live server; zh-CN unless told otherwise.

    When the test fails, every page still open is saved to test-artifacts/ before it closes."""
    contexts: list[BrowserContext] = []

    def factory(**options: Any) -> BrowserContext:
        options.setdefault("locale", "zh-CN")
        context = browser.new_context(base_url=live_server, **options)
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        contexts.append(context)
        return context

    yield factory

    failed = any(getattr(getattr(request.node, f"rep_{phase}", None), "failed", False) for phase in ("setup", "call"))
    try:
        if failed:
            _save_screenshots(request.node.nodeid, contexts)
    finally:
        for context in contexts:
            context.close()


def _save_screenshots(nodeid: str, contexts: list[BrowserContext]) -> None:
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")
    for c, context in enumerate(contexts):
        for p, page in enumerate(context.pages):
            path = ARTIFACTS_DIR / f"{stem}-context{c}-page{p}.png"
            try:
                page.screenshot(path=str(path), full_page=True)
            except Error as exc:  # a crashed page must not hide the test's own failure
                sys.stderr.write(f"could not save {path}: {exc.message}\n")
            else:
                sys.stderr.write(f"screenshot saved: {path}\n")
