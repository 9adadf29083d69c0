"""nginx-rtmp callbacks: who may call them, what they accept, and that junk never makes a 500.
No nginx here: the requests are the ones nginx-rtmp sends (see test_nginx_rtmp.py for the real one)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI

from fieldcast.live.keys import internal_publish_name
from fieldcast.live.models import ReplayState, SessionState
from tests.conftest import TEST_SECRET
from tests.factories import Show, schedule_show
from tests.media.conftest import fresh_app, media_settings, session_state, wait_for

pytestmark = pytest.mark.timeout(60)

HOOK_SECRET = "nginx-hook-secret"
LOOPBACK = ("127.0.0.1", 40000)
REMOTE = ("203.0.113.9", 40000)


@asynccontextmanager
async def running(database_url: str, data_dir: Path, **overrides: Any) -> AsyncIterator[FastAPI]:
    settings = media_settings(database_url, data_dir, **{"reconnect_grace_s": 0.2, **overrides})
    app = await fresh_app(settings)
    async with app.router.lifespan_context(app):
        yield app


def caller(app: FastAPI, address: tuple[str, int] = LOOPBACK) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=address), base_url="http://testserver")


def nginx_form(name: str, call: str = "publish", app: str = "live", **extra: str) -> dict[str, str]:
    """What nginx-rtmp posts (its fields first, then the publisher's query arguments)."""
    return {"app": app, "flashver": "FMLE/3.0", "tcurl": f"rtmp://127.0.0.1/{app}", "addr": "198.51.100.7",
            "clientid": "1", "call": call, "name": name, "type": "live", **extra}  # fmt: skip


def keyed(show: Show, key: str, call: str = "publish") -> dict[str, str]:
    """`rtmp://host/live/<stream name>?key=<key>`: the key arrives as the publisher's argument."""
    return nginx_form(show.stream_name, call=call, key=key)


async def hook(client: httpx.AsyncClient, path: str, form: dict[str, str], secret: str | None = None) -> httpx.Response:
    headers = {"X-Fieldcast-Hook-Secret": secret} if secret is not None else {}
    return await client.post(f"/hooks/media/{path}", data=form, headers=headers)


async def new_show(app: FastAPI, slug: str) -> tuple[Show, str, list[httpx.AsyncClient]]:
    clients: list[httpx.AsyncClient] = []

    def make_client() -> httpx.AsyncClient:
        c = caller(app)
        clients.append(c)
        return c

    show = await schedule_show(app, make_client, slug)
    r = await show.org["host"].post(f"/api/v1/sessions/{show.session_id}/stream-key")
    assert r.status_code == 201, r.text
    return show, r.json()["stream_key"], clients


async def close_all(clients: list[httpx.AsyncClient]) -> None:
    for c in clients:
        await c.aclose()


async def test_publish_of_the_stream_name_with_its_key_goes_live(database_url: str, tmp_path: Path) -> None:
    async with running(database_url, tmp_path) as app, caller(app) as nginx:
        show, key, clients = await new_show(app, "hookkey")
        other, other_key, more = await new_show(app, "hookother")
        clients += more
        # Another show's key does not open this show's name, nor this key another name.
        assert (await hook(nginx, "on_publish", keyed(show, other_key))).status_code == 403
        assert (await hook(nginx, "on_publish", keyed(other, key))).status_code == 403
        # The key as the stream name (the old way) is refused: nginx would log it.
        assert (await hook(nginx, "on_publish", nginx_form(key))).status_code == 403
        r = await hook(nginx, "on_publish", keyed(show, key))
        assert r.status_code == 200
        live = await session_state(app, show.session_id)
        assert live.state == SessionState.LIVE

        # While publishing, on_update keeps it going; rotating the key cuts the old one off.
        assert (await hook(nginx, "on_update", keyed(show, key, call="update_publish"))).status_code == 200
        r = await show.org["host"].post(f"/api/v1/sessions/{show.session_id}/stream-key")
        assert r.status_code == 201
        assert r.json()["obs_stream_key"] == f"{show.stream_name}?key={r.json()['stream_key']}"
        assert (await hook(nginx, "on_update", keyed(show, key, call="update_publish"))).status_code == 403
        assert (await hook(nginx, "on_publish", keyed(show, key))).status_code == 403
        new_key = r.json()["stream_key"]
        assert (await hook(nginx, "on_publish", keyed(show, new_key))).status_code == 200
        # The relay's play-side updates are not a publisher to judge.
        assert (await hook(nginx, "on_update", nginx_form(show.stream_name, call="update_play"))).status_code == 200
        await close_all(clients)


async def test_stream_names_and_forged_names_are_not_keys(database_url: str, tmp_path: Path) -> None:
    async with running(database_url, tmp_path) as app, caller(app) as nginx:
        show, _key, clients = await new_show(app, "hookname")
        # The stream name is public (every HLS URL has it): it must not work as a key.
        assert (await hook(nginx, "on_publish", nginx_form(show.stream_name))).status_code == 403
        assert (await hook(nginx, "on_publish", keyed(show, show.stream_name))).status_code == 403
        forged = f"app-{show.session_id}-{'0' * 32}"
        assert (await hook(nginx, "on_publish", keyed(show, forged))).status_code == 403
        assert (await hook(nginx, "on_publish", keyed(show, "fck_not-a-real-key"))).status_code == 403
        assert (await session_state(app, show.session_id)).state == SessionState.SCHEDULED
        # The app's own relay name is accepted like a key.
        internal = internal_publish_name(TEST_SECRET, show.session_id)
        assert (await hook(nginx, "on_publish", keyed(show, internal))).status_code == 200
        await close_all(clients)


async def test_loopback_only_without_a_secret(database_url: str, tmp_path: Path) -> None:
    async with running(database_url, tmp_path) as app, caller(app, REMOTE) as stranger:
        show, key, clients = await new_show(app, "hookremote")
        for path in ("on_publish", "on_update", "on_relay_publish", "on_publish_done", "on_record_done"):
            assert (await hook(stranger, path, keyed(show, key))).status_code == 403, path
        assert (await session_state(app, show.session_id)).state == SessionState.SCHEDULED
        await close_all(clients)


async def test_with_a_secret_it_is_required_even_from_loopback(database_url: str, tmp_path: Path) -> None:
    async with (
        running(database_url, tmp_path, media_hook_secret=HOOK_SECRET) as app,
        caller(app) as local,
        caller(app, REMOTE) as remote,
    ):
        show, key, clients = await new_show(app, "hooksecret")
        assert (await hook(local, "on_publish", keyed(show, key))).status_code == 403
        assert (await hook(local, "on_publish", keyed(show, key), secret="wrong")).status_code == 403
        # In the URL (where access logs would keep it) the secret counts for nothing.
        in_url = await local.post(
            f"/hooks/media/on_publish?{urlencode({'secret': HOOK_SECRET})}", data=keyed(show, key)
        )
        assert in_url.status_code == 403
        assert (await hook(remote, "on_publish", keyed(show, key), secret=HOOK_SECRET)).status_code == 200
        await close_all(clients)


async def test_publish_done_ends_the_show_after_the_grace_period(database_url: str, tmp_path: Path) -> None:
    async with running(database_url, tmp_path) as app, caller(app) as nginx:
        show, key, clients = await new_show(app, "hookdone")
        assert (await hook(nginx, "on_publish", keyed(show, key))).status_code == 200
        relay = nginx_form(show.stream_name, app="show")
        assert (await hook(nginx, "on_relay_publish", relay)).status_code == 200
        done = nginx_form(show.stream_name, call="publish_done", app="show")
        assert (await hook(nginx, "on_publish_done", done)).status_code == 200
        live = await session_state(app, show.session_id)
        assert live.ingest_stopped_at is not None

        async def ended() -> bool:
            current = await session_state(app, show.session_id)
            return current.state == SessionState.ENDED and current.replay_state != ReplayState.PROCESSING

        await wait_for(ended, within_s=15, what="the show to end")
        # No recording was ever written (no ffmpeg here): the replay is marked failed, not hung.
        assert (await session_state(app, show.session_id)).replay_state == ReplayState.FAILED
        # Once ended, neither the key nor the relay may bring it back.
        assert (await hook(nginx, "on_publish", keyed(show, key))).status_code == 403
        assert (await hook(nginx, "on_relay_publish", relay)).status_code == 403
        await close_all(clients)


async def test_reconnect_within_the_grace_period_keeps_the_show(database_url: str, tmp_path: Path) -> None:
    async with running(database_url, tmp_path, reconnect_grace_s=0.5) as app, caller(app) as nginx:
        show, key, clients = await new_show(app, "hookagain")
        assert (await hook(nginx, "on_publish", keyed(show, key))).status_code == 200
        done = nginx_form(show.stream_name, call="publish_done", app="show")
        assert (await hook(nginx, "on_publish_done", done)).status_code == 200
        assert (await hook(nginx, "on_publish", keyed(show, key))).status_code == 200
        await app.state.ctx.media.drain(within_s=5)
        live = await session_state(app, show.session_id)
        assert live.state == SessionState.LIVE
        assert live.ingest_stopped_at is None
        await close_all(clients)


JUNK: list[Callable[[httpx.AsyncClient], Any]] = [
    lambda c: c.post("/hooks/media/on_publish", content=b"\xff\xfe\x00garbage"),
    lambda c: c.post("/hooks/media/on_publish", content=b"name=" + b"x" * 20_000),
    lambda c: c.post("/hooks/media/on_publish", content="&".join(f"k{i}=v" for i in range(500)).encode()),
    lambda c: c.post("/hooks/media/on_publish", data={"name": "fck_" + "é" * 300}),
    lambda c: c.post("/hooks/media/on_publish", data={"call": "play", "name": "x"}),
    lambda c: c.post("/hooks/media/on_publish", json={"name": ["a", "b"]}),
    lambda c: c.post("/hooks/media/on_publish", data={"name": "app-abc-def"}),
    lambda c: c.post("/hooks/media/on_publish", data={"name": "app-99999999999999999999-" + "0" * 32}),
    lambda c: c.post("/hooks/media/on_publish_done", data={"name": "%00"}),
    lambda c: c.post("/hooks/media/on_update", data={"call": "update_publish"}),
    lambda c: c.post("/hooks/media/on_relay_publish", content=b""),
    lambda c: c.post("/hooks/media/on_record_done", data={"path": "/etc/passwd" * 100}),
    lambda c: c.get("/hooks/media/on_publish"),
    lambda c: c.post("/hooks/media/on_publish", headers={"content-type": "multipart/form-data; boundary=x"}),
]


@pytest.mark.parametrize("send", JUNK)
async def test_junk_gets_4xx_never_500(database_url: str, tmp_path: Path, send: Callable[..., Any]) -> None:
    async with running(database_url, tmp_path) as app, caller(app) as nginx:
        r = await send(nginx)
        assert r.status_code < 500, r.text
        assert r.status_code >= 400 or r.text == "ok"


async def test_duplicate_fields_from_publish_arguments_cannot_override_nginx(database_url: str, tmp_path: Path) -> None:
    """`rtmp://host/live/junk?name=<name>&key=<key>`: nginx sends name=junk first, then the arguments."""
    async with running(database_url, tmp_path) as app, caller(app) as nginx:
        show, key, clients = await new_show(app, "hookdup")
        body = urlencode([*nginx_form("junk").items(), ("name", show.stream_name), ("key", key)])
        r = await nginx.post(
            "/hooks/media/on_publish", content=body, headers={"content-type": "application/x-www-form-urlencoded"}
        )
        assert r.status_code == 403
        assert (await session_state(app, show.session_id)).state == SessionState.SCHEDULED
        await close_all(clients)
