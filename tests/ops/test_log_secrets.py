"""No secret in any log line (issue 20, item 4). A whole run of the app, through the production
logging set-up (fieldcast/logs.py) with the access log on, goes through sign-up and sign-in,
host verification with ID numbers, an API token, a stream key issued and rotated, the media
hooks called with the key and the hook secret, a show going live and ending: its log has the
app's INFO events and none of the passwords, tokens, keys, secrets, session cookies or ID numbers.
Below it, the scrubbing filter that catches what no code should have logged at all."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from fieldcast.logs import scrub
from tests.conftest import TEST_SECRET, free_port
from tests.factories import PASSWORD, id_number, make_live_org, session_body
from tests.media.conftest import SERVER_START_S, Served, fresh_app, media_settings
from tests.media.test_hooks import nginx_form
from tests.test_logs import configured

pytestmark = pytest.mark.timeout(180)

HOOK_SECRET = "hook-secret-that-must-never-be-logged"
HOOK_HEADER = "X-Fieldcast-Hook-Secret"
STAMPED = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: ")


@contextlib.asynccontextmanager
async def served_with_access_log(app: FastAPI, settings: object) -> AsyncIterator[Served]:
    """uvicorn as `fieldcast serve` runs it for logging: no logging set-up of its own (the
    process-wide one applies) and the access log on."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=True, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(SERVER_START_S):
        while not server.started:
            assert not task.done(), "uvicorn exited before it started"
            await asyncio.sleep(0.02)
    served = Served(app, f"http://127.0.0.1:{port}", settings, [])  # type: ignore[arg-type]
    try:
        yield served
    finally:
        for c in served.clients:
            await c.aclose()
        server.should_exit = True
        await asyncio.wait_for(task, 20)


async def test_a_full_run_logs_its_events_and_never_a_secret(database_url: str, tmp_path: Path) -> None:
    secrets: set[str] = {PASSWORD, HOOK_SECRET, TEST_SECRET}
    with configured("text", "info") as out:
        settings = media_settings(database_url, tmp_path, media_hook_secret=HOOK_SECRET, access_log=True)
        app = await fresh_app(settings)
        async with served_with_access_log(app, settings) as served:
            org = await make_live_org(app, served.client, "logscan")
            wrong = "wrong-password-logged-never"
            secrets.add(wrong)
            failed = await served.client().post(
                "/api/v1/auth/signin", json={"email": "host@logscan.example.com", "password": wrong}
            )
            assert failed.status_code in (400, 401, 422), failed.text

            token_r = await org["host"].post("/api/v1/me/tokens", json={"name": "OBS 推流助手"})
            assert token_r.status_code == 201, token_r.text
            token = token_r.json()["token"]
            secrets.add(token)
            api = served.client()
            assert (await api.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})).status_code == 200
            await api.get(f"/api/v1/me?token={token}")  # a client that puts it in the URL

            sid = int((await org["organiser"].post("/api/v1/sessions", json=session_body(org))).json()["id"])
            keys = []
            for _ in range(2):  # issued, then rotated
                r = await org["host"].post(f"/api/v1/sessions/{sid}/stream-key")
                assert r.status_code == 201, r.text
                keys.append(r.json()["stream_key"])
            secrets.update(keys)

            # nginx-rtmp's callbacks, carrying the key the ways publishers send it, and the secret.
            nginx = served.client()
            for key in keys:
                for form, query in ((nginx_form(key), ""), (nginx_form("show", key=key), f"?key={key}")):
                    await nginx.post(f"/hooks/media/on_publish{query}", data=form, headers={HOOK_HEADER: HOOK_SECRET})
                    await nginx.post(f"/hooks/media/on_publish?secret={HOOK_SECRET}", data=form)

            started = await org["host"].post(f"/api/v1/sessions/{sid}/start")
            assert started.status_code == 200 and started.json()["state"] == "live", started.text
            ended = await org["host"].post(f"/api/v1/sessions/{sid}/end")
            assert ended.status_code == 200, ended.text
            for _ in range(100):  # the replay's outcome is logged once the media backend is done
                if f"session {sid}: replay" in out.getvalue():
                    break
                await asyncio.sleep(0.1)
            for c in served.clients:
                secrets.update(v for k, v in c.cookies.items() if k != "fc_lang")
        logged = out.getvalue()

    # The app's INFO events are there, in the one format, and the access log was on.
    for event in (
        f"session {sid}: new stream key issued by user",
        f"session {sid} is live",
        f"session {sid} ended (via console)",
        f"session {sid}: replay",
    ):
        assert event in logged, event
    assert '"GET /api/v1/me HTTP/1.1" 200' in logged
    firsts = [line for line in logged.splitlines() if line and not line.startswith((" ", "Traceback"))]
    unstamped = [line for line in firsts if not STAMPED.match(line)]
    assert unstamped == [], unstamped[:5]

    # ... and none of what must stay secret.
    id_numbers = {id_number(serial) for serial in range(1000)}
    leaked = sorted(s for s in secrets | id_numbers if s and s in logged)
    assert leaked == [], [line for line in logged.splitlines() if any(s in line for s in leaked)][:10]


KEY = "fck_Vb3mJ9w0s1Qx_8-ZpLr2aT7YcKdE4uNf"
TOKEN = "fc_q2W7e9R1t3Y5u7I9o1P3a5S7d9F1g3H5j7K9l1Z3x5C"


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        (f"publish: name='{KEY}' args=''", "publish: name='fck_***' args=''"),
        (f"token {TOKEN} revoked", "token fc_*** revoked"),
        (f"Authorization: Bearer {TOKEN}", "Authorization: Bearer fc_***"),
        ("authorization: Basic dXNlcjpwYXNzd29yZA==", "authorization: Basic ***"),
        ("password=hunter22&email=a@b.c", "password=***&email=a@b.c"),
        ("media_hook_secret: s3cr3t-value", "media_hook_secret: ***"),
        ("fc_session=eyJhYmMiOiAxfQ==.ZZ.yy; fc_lang=en", "fc_session=***; fc_lang=en"),
        (f"verification for {id_number(7)} approved", "verification for [id number] approved"),
        ("redis://:pa55word@10.0.0.2:6379/0 refused", "redis://:***@10.0.0.2:6379/0 refused"),
        ("postgresql+asyncpg://app:pw@db/fc down", "postgresql+asyncpg://app:***@db/fc down"),
    ],
)
def test_the_scrubbing_filter_catches_secret_shapes(text: str, scrubbed: str) -> None:
    assert scrub(text) == scrubbed


@pytest.mark.parametrize(
    "text",
    [
        "session 12 is live (stream 4f1c2a9e0b7d3c5a, via ingest)",
        '127.0.0.1:5100 - "GET /live/12?after=9 HTTP/1.1" 200',
        "order 9223372036854775807 paid: 1999 fen",
        "room 3: socket closed with 1013, a backend is unavailable (ConnectionError())",
    ],
)
def test_the_scrubbing_filter_leaves_ordinary_lines_alone(text: str) -> None:
    assert scrub(text) == text


def test_secrets_in_arguments_and_tracebacks_are_scrubbed_too() -> None:
    with configured("text") as out:
        log = logging.getLogger("fieldcast.test")
        log.warning("publisher %s refused", KEY)
        try:
            raise ConnectionError(f"redis://:pa55word@10.0.0.2/0 with {TOKEN}")
        except ConnectionError:
            log.exception("lost Redis")
    logged = out.getvalue()
    assert KEY not in logged and TOKEN not in logged and "pa55word" not in logged
    assert "publisher fck_*** refused" in logged and "ConnectionError: redis://:***@10.0.0.2/0 with fc_***" in logged
