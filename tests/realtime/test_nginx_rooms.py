"""The README's reverse-proxy block, run by a real nginx over TLS: room sockets (`/ws/rooms/`)
reach the `fieldcast fanout` server with the viewer's session cookie, the browser go-live socket
(`/ws/`) and every page and API call reach the app. The block is taken from README.md as it
stands; only what a test machine must change is replaced (ports, certificate paths, the two app
upstreams by one), so a README that drifts from a working configuration fails here."""

from __future__ import annotations

import asyncio
import dataclasses
import getpass
import os
import re
import shutil
import ssl
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from fieldcast.realtime.fanout import serve_fanout
from fieldcast.realtime.hub import RoomHub
from tests.conftest import free_port, unavailable
from tests.factories import live_session, make_live_org, schedule_session, sign_up
from tests.media.conftest import NGINX, Served, fresh_app, media_settings, nginx_serving, serve
from tests.realtime.test_gateway import counters_until, frames

pytestmark = pytest.mark.timeout(120)

README = Path(__file__).resolve().parents[2] / "README.md"
OPENSSL = shutil.which("openssl")


def readme_proxy_block() -> str:
    match = re.search(r"A reverse-proxy server block for nginx:\n\n```nginx\n(.*?)```", README.read_text(), re.S)
    assert match is not None, "README.md lost its reverse-proxy block"
    return match.group(1)


def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"README's nginx block no longer has exactly one {old!r}"
    return text.replace(old, new)


def proxy_config(prefix: Path, port: int, app_port: int, fanout_port: int, cert: Path, key: Path) -> Path:
    block = readme_proxy_block()
    block = replace_once(
        block, "    server 127.0.0.1:8001;\n    server 127.0.0.1:8002;\n", f"    server 127.0.0.1:{app_port};\n"
    )
    block = replace_once(block, "server 127.0.0.1:8100;", f"server 127.0.0.1:{fanout_port};")
    block = replace_once(block, "proxy_cache_path /var/cache/nginx/fieldcast ", f"proxy_cache_path {prefix / 'cache'} ")
    block = replace_once(block, "listen 443 ssl http2;", f"listen 127.0.0.1:{port} ssl http2;")
    block = re.sub(r"ssl_certificate +\S+;", f"ssl_certificate {cert};", block)
    block = re.sub(r"ssl_certificate_key +\S+;", f"ssl_certificate_key {key};", block)
    # As root, nginx's workers would drop to nobody, who cannot read pytest's tmp dirs.
    user = f"user {getpass.getuser()};\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {kind}_temp_path {prefix / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"{user}pid {prefix / 'nginx.pid'};\nevents {{ worker_connections 256; }}\n"
        f"http {{\n    access_log off;\n{temp}\n{block}}}\n"
    )
    return conf


def self_signed(prefix: Path) -> tuple[Path, Path]:
    if OPENSSL is None:
        unavailable("openssl is missing (apt-get install openssl)")
    cert, key = prefix / "cert.pem", prefix / "key.pem"
    subprocess.run(
        [OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@dataclass
class Proxied:
    served: Served
    base: str  # https://127.0.0.1:<nginx port>
    fanout_hub: RoomHub
    tls: ssl.SSLContext  # trusts the test's own self-signed certificate, and only it


@dataclass
class Site:
    prefix: Path
    conf: Path
    cert: Path
    port: int
    app_port: int
    fanout_port: int


@pytest.fixture
def site(tmp_path: Path) -> Site:
    if not NGINX.exists():
        unavailable(f"{NGINX} is missing (apt-get install nginx)")
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    cert, key = self_signed(prefix)
    port, app_port, fanout_port = free_port(), free_port(), free_port()
    conf = proxy_config(prefix, port, app_port, fanout_port, cert, key)
    return Site(prefix, conf, cert, port, app_port, fanout_port)


@pytest.fixture
async def proxied(database_url: str, tmp_path: Path, site: Site) -> AsyncIterator[Proxied]:
    base = f"https://127.0.0.1:{site.port}"
    # As production is told to: the public address is set, so the app checks Origin against it.
    settings = media_settings(database_url, tmp_path / "data", public_url=base)
    async with nginx_serving(site.prefix, site.conf, site.port):
        app = await fresh_app(settings)
        async with serve(app, settings, port=site.app_port) as served:
            ctx = app.state.ctx
            # The fan-out server with a hub of its own (as its own process would have), on the
            # app's database and room log: which hub holds a socket tells who served it.
            hub = RoomHub(ctx.room_log, ctx.room_hub.counters)
            server = await serve_fanout(dataclasses.replace(ctx, room_hub=hub), "127.0.0.1", site.fanout_port)
            try:
                yield Proxied(served, base, hub, ssl.create_default_context(cafile=str(site.cert)))
            finally:
                server.close()
                await server.wait_closed()
                await hub.close()


async def test_the_readme_proxy_sends_room_sockets_to_the_fanout_and_the_rest_to_the_app(proxied: Proxied) -> None:
    served = proxied.served
    org = await make_live_org(served.app, served.client, "proxied")
    sid = await live_session(org)
    async with httpx.AsyncClient(base_url=proxied.base, verify=proxied.tls, timeout=10) as fan:
        health = await fan.get("/healthz")  # the app's health check (JSON), not the fan-out's
        assert health.status_code == 200 and health.json()["status"] == "ok"
        await sign_up(fan, "fan@proxied.example.com", "粉丝")
        cookie = {"Cookie": f"fc_session={fan.cookies['fc_session']}"}
        wss = proxied.base.replace("https://", "wss://")
        async with connect(f"{wss}/ws/rooms/{sid}", ssl=proxied.tls, additional_headers=cookie) as ws:
            snapshot = (await frames(ws, 1))[0]
            assert snapshot["type"] == "snapshot" and snapshot["data"]["id"] == sid
            # The socket is the fan-out's, not the app's; the signed cookie came through nginx.
            assert proxied.fanout_hub.watching(sid) == 1 and served.app.state.ctx.room_hub.watching(sid) == 0
            data = await counters_until(ws, lambda d: d["viewers"] == 1 and d["unique_viewers"] == 1)
            assert data["views"] == 1
            r = await fan.post(f"/api/v1/sessions/{sid}/chat", json={"body": "经过反向代理"})
            assert r.status_code == 201, r.text
            chat = [f for f in await frames(ws, 1) if f["type"] == "chat.posted"]
            assert chat and chat[0]["data"]["body"] == "经过反向代理"
            await ws.send(orjson.dumps({"type": "like", "count": 3}).decode())
            await counters_until(ws, lambda d: d["likes"] == 3)
        # The browser go-live socket stays on the app: it accepts the handshake (the fan-out
        # would answer 404) and refuses a visitor who is not the host with a close code of its own.
        async with connect(
            f"{wss}/ws/ingest/{sid}", ssl=proxied.tls, additional_headers=cookie | {"Origin": proxied.base}
        ) as ingest:
            with pytest.raises(ConnectionClosed):
                while True:
                    await asyncio.wait_for(ingest.recv(), 10)
        assert ingest.close_code is not None and ingest.close_code >= 4000, ingest.close_code


async def test_the_readme_proxy_holds_anonymous_reads_a_second_and_a_price_change_shows_within_it(
    proxied: Proxied,
) -> None:
    """Micro-caching: nginx serves repeated anonymous reads itself (X-Cache-Status: HIT), a
    visitor with a session always reaches the app, and a changed price is on the page and in the
    API within the one-second window (plus the time of a request)."""
    served = proxied.served
    org = await make_live_org(served.app, served.client, "cached")
    show = await schedule_session(org)
    pid, sku = show["shelf"][0]["product_id"], show["shelf"][0]["sku_id"]
    paths = (f"/p/{pid}", "/api/v1/products")
    async with httpx.AsyncClient(base_url=proxied.base, verify=proxied.tls, timeout=10) as anon:
        for path in paths:
            await anon.get(path)
            again = await anon.get(path)
            assert again.status_code == 200 and again.headers["x-cache-status"] == "HIT", path
        assert not anon.cookies  # pages for visitors without a session set none
        await anon.get("/api/v1/auth/csrf")  # now this visitor has a session: never from nginx
        assert (await anon.get(paths[0])).headers["x-cache-status"] == "BYPASS"
    async with httpx.AsyncClient(base_url=proxied.base, verify=proxied.tls, timeout=10) as anon:
        assert "¥99.00" in (await anon.get(paths[0])).text
        changed_at = time.monotonic()
        r = await org["owner"].patch(f"/api/v1/products/{pid}/skus/{sku}", json={"price_fen": 12300})
        assert r.status_code == 200, r.text
        while True:
            page = await anon.get(paths[0])
            listed = {p["id"]: p for p in (await anon.get(paths[1])).json()["items"]}
            if "¥123.00" in page.text and listed[pid]["min_price_fen"] == 12300:
                break
            assert time.monotonic() - changed_at < 2.5, "the old price outlived the micro-cache window"
            await asyncio.sleep(0.05)
