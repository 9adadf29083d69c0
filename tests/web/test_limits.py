"""Limits on what a client can make the server do (#14 items 4 and 8): numbers past the database's
range, socket parameters, oversized socket messages and chunked bodies, stalled connections, and
a GET that would change a stored preference."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI
from starlette.types import Message, Receive, Scope, Send

from fieldcast.accounts.models import User
from fieldcast.cli import UVICORN_OPTIONS
from fieldcast.media.ingest_ws import MAX_CHUNK_BYTES
from fieldcast.realtime.room_feed import CLIENT_MESSAGE_MAX, CLOSE_TOO_BIG
from fieldcast.web.middleware import CLOSE_INVALID
from fieldcast.web.server_limits import GuardedHttpToolsProtocol, guarded_http
from tests.conftest import free_port
from tests.factories import live_session, make_live_org, sign_up

TOO_BIG = "100000000000000000000"  # 10**20: past 2**63 - 1, where SQLite raised OverflowError

# -- integers past the database's range ----------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/products/{TOO_BIG}",
        f"/api/v1/sessions/{TOO_BIG}",
        f"/api/v1/sessions/{TOO_BIG}/chat",
        f"/api/v1/sessions/1/chat?after_id={TOO_BIG}",
        f"/api/v1/products/{TOO_BIG}/reviews",
        f"/api/v1/sessions?organisation_id={TOO_BIG}",
        f"/api/v1/draws/{TOO_BIG}",
    ],
)
async def test_an_id_past_the_bigint_range_is_a_422_problem(client: httpx.AsyncClient, path: str) -> None:
    r = await client.get(path)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["code"] == "less_than_equal"


@pytest.mark.parametrize(
    "path", ["/live/1e20", f"/live/{TOO_BIG}", f"/p/{TOO_BIG}", "/p/1e20", f"/live/{TOO_BIG}/chat"]
)
async def test_a_page_with_an_id_past_the_range_is_an_error_page(client: httpx.AsyncClient, path: str) -> None:
    r = await client.get(path)
    assert r.status_code in (404, 422), r.text
    assert r.headers["content-type"].startswith("text/html")


async def test_a_body_id_past_the_range_is_a_422_on_its_field(client: httpx.AsyncClient) -> None:
    await sign_up(client, "cart@example.com")
    r = await client.post("/api/v1/me/cart", json={"sku_id": int(TOO_BIG), "quantity": 1})
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["sku_id"]


# -- room sockets: parameters and message size ----------------------------------------------------


class Socket:
    """An ASGI WebSocket driven by hand: what the app sent, and a way to send it frames."""

    def __init__(self, path: str, query: str = "") -> None:
        self.scope: Scope = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "scheme": "ws",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(b"host", b"testserver")],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
            "subprotocols": [],
        }
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.sent: list[Message] = []
        self.closed = asyncio.Event()
        self.first_frame = asyncio.Event()
        self.inbox.put_nowait({"type": "websocket.connect"})

    async def receive(self) -> Message:
        return await self.inbox.get()

    async def send(self, message: Message) -> None:
        self.sent.append(message)
        if message["type"] == "websocket.close":
            self.closed.set()
        elif message["type"] == "websocket.send":
            self.first_frame.set()

    async def run(self, app: FastAPI) -> asyncio.Task[None]:
        receive: Receive = self.receive
        send: Send = self.send
        return asyncio.create_task(app(self.scope, receive, send))

    def close_code(self) -> int | None:
        return next((m.get("code", 1000) for m in self.sent if m["type"] == "websocket.close"), None)


@pytest.mark.parametrize(("path", "query"), [(f"/ws/rooms/{TOO_BIG}", ""), ("/ws/rooms/1", "after=abc")])
async def test_room_socket_with_invalid_parameters_closes_with_1008(app: FastAPI, path: str, query: str) -> None:
    socket = Socket(path, query)
    task = await socket.run(app)
    await asyncio.wait_for(task, 5)  # raised nothing: no 500 on the handshake
    assert [m["type"] for m in socket.sent] == ["websocket.accept", "websocket.close"]
    assert socket.close_code() == CLOSE_INVALID == 1008


async def test_room_socket_closes_a_large_binary_frame_with_1009(
    app: FastAPI, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    org = await make_live_org(app, make_client, "limits")
    room = await live_session(org)
    socket = Socket(f"/ws/rooms/{room}")
    task = await socket.run(app)
    try:
        await asyncio.wait_for(socket.first_frame.wait(), 5)  # the snapshot: the socket is open
        socket.inbox.put_nowait({"type": "websocket.receive", "bytes": b"\0" * (CLIENT_MESSAGE_MAX + 1)})
        await asyncio.wait_for(socket.closed.wait(), 5)
        assert socket.close_code() == CLOSE_TOO_BIG == 1009
    finally:
        socket.inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(task, 5)


def test_uvicorn_refuses_websocket_messages_past_the_largest_go_live_chunk() -> None:
    """uvicorn's default is 16 MiB; a room socket's own limit (above) is a few KiB."""
    assert UVICORN_OPTIONS["ws_max_size"] == MAX_CHUNK_BYTES < 16 * 1024 * 1024
    assert CLIENT_MESSAGE_MAX <= 8 * 1024


# -- request bodies ------------------------------------------------------------------------------


async def test_an_oversized_chunked_body_gets_413(app: FastAPI, client: httpx.AsyncClient) -> None:
    limit = app.state.ctx.settings.max_request_bytes

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"email": "big@example.com", "display_name": "'
        for _ in range(limit // 4096 + 1):
            yield b"x" * 4096
        yield b'", "password": "correct horse battery"}'

    r = await client.post("/api/v1/auth/signup", content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in r.request.headers  # sent chunked: no size declared up front
    assert r.status_code == 413, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


# -- the language preference ----------------------------------------------------------------------


async def _stored_language(app: FastAPI, email: str) -> str | None:
    async with app.state.ctx.uow() as uow:
        language: str | None = await uow.session.scalar(sa.select(User.language).where(User.email == email))
        return language


async def test_get_lang_sets_the_cookie_but_not_the_stored_preference(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await sign_up(client, "lang@example.com")
    r = await client.get("/lang/en", params={"next": "/orgs"})
    assert r.status_code == 303
    assert "fc_lang=en" in r.headers["set-cookie"]
    assert await _stored_language(app, "lang@example.com") is None


async def test_post_lang_stores_the_preference_only_with_the_csrf_token(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await sign_up(client, "lang2@example.com")
    token = client.headers.pop("X-CSRF-Token")
    forged = await client.post("/lang/en", params={"next": "/orgs"}, data={})
    assert forged.status_code == 403
    assert await _stored_language(app, "lang2@example.com") is None
    r = await client.post("/lang/en", params={"next": "/orgs"}, data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/orgs"
    assert await _stored_language(app, "lang2@example.com") == "en"


async def test_signed_in_pages_switch_language_with_a_form(client: httpx.AsyncClient) -> None:
    await sign_up(client, "lang3@example.com")
    page = await client.get("/orgs")
    assert 'action="/lang/en?next=/orgs"' in page.text
    assert 'href="/lang/en' not in page.text


# -- stalled connections -------------------------------------------------------------------------


async def _hello(scope: Scope, receive: Receive, send: Send) -> None:
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@contextlib.asynccontextmanager
async def guarded_server(**limits: Any) -> AsyncIterator[int]:
    port = free_port()
    config = uvicorn.Config(
        _hello, host="127.0.0.1", port=port, log_level="error", lifespan="off", http=guarded_http(**limits)
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:  # noqa: ASYNC110  (uvicorn has no event for it; media/conftest polls too)
                await asyncio.sleep(0.01)
        yield port
    finally:
        server.should_exit = True
        server.force_exit = True
        await asyncio.wait_for(task, 10)


async def _closed_by_server(port: int, sent: bytes, within_s: float = 5.0) -> bytes:
    """What the server answered before it closed the connection; fails if it never closes it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(sent)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), within_s)  # read() returns at EOF
    finally:
        writer.close()


async def test_a_request_head_that_never_ends_is_cut_off() -> None:
    async with guarded_server(head_timeout_s=0.3) as port:
        answer = await _closed_by_server(port, b"GET / HTTP/1.1\r\nHost: x\r\n")
    assert answer == b""  # closed, and the app never saw the request


async def test_an_idle_connection_is_cut_off_before_any_request() -> None:
    async with guarded_server(head_timeout_s=0.3) as port:
        assert await _closed_by_server(port, b"") == b""


async def test_a_body_that_stops_arriving_is_cut_off() -> None:
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
    async with guarded_server(body_idle_timeout_s=0.3) as port:
        assert await _closed_by_server(port, head + b"x" * 10) == b""


async def test_a_request_head_past_the_size_limit_gets_431() -> None:
    async with guarded_server(head_max_bytes=4096) as port:
        answer = await _closed_by_server(port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8192 + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 431 ")


async def test_a_large_body_sent_with_its_head_is_not_counted_as_head() -> None:
    body = b"x" * 100_000
    head = b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 100000\r\n\r\n"
    async with guarded_server(head_max_bytes=4096) as port:
        answer = await _closed_by_server(port, head + body)
    assert answer.startswith(b"HTTP/1.1 200 ")


async def test_a_prompt_client_is_served_and_kept_alive() -> None:
    async with guarded_server(head_timeout_s=0.5) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for _ in range(2):
                writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                await writer.drain()
                answer = await asyncio.wait_for(reader.readuntil(b"ok"), 5)
                assert answer.startswith(b"HTTP/1.1 200 ")
        finally:
            writer.close()


def test_fieldcast_serve_uses_the_guarded_protocol_and_short_keep_alive() -> None:
    assert UVICORN_OPTIONS["http"] is GuardedHttpToolsProtocol
    assert UVICORN_OPTIONS["timeout_keep_alive"] == 5
    assert GuardedHttpToolsProtocol.head_timeout_s <= 30
