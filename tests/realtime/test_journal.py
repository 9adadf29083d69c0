"""The connection journal: each room socket leaves a row — who, from which address and network,
when it joined and left, its heartbeats, its first playback report and the likes and flowers its
caps granted — written off the socket's path; the figures the counters published are kept too.
Real sockets through the app (and through the fan-out server), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from websockets.asyncio.client import ClientConnection, connect

from fieldcast.db.uow import UnitOfWork
from fieldcast.realtime.fanout import forwarded_client
from fieldcast.realtime.journal import Journal, network_of
from fieldcast.realtime.models import RoomConnection, RoomFigures
from fieldcast.realtime.room_feed import PONG, ClientMessages
from fieldcast.session_cookie import SESSION_VIEWER
from tests.factories import live_session, make_live_org, sign_up
from tests.media.conftest import Served, fresh_app, media_settings, serve, wait_for

ON_BOTH_BACKENDS = True
pytestmark = pytest.mark.timeout(90)


@pytest.fixture(params=["app", "fanout"])
async def served(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> AsyncIterator[Served]:
    """The app, or the fan-out server serving its room sockets (as in test_gateway)."""
    from fieldcast.realtime.fanout import serve_fanout

    settings = media_settings(database_url, tmp_path)
    app = await fresh_app(settings)
    async with serve(app, settings) as s:
        if request.param == "app":
            yield s
            return
        server = await serve_fanout(app.state.ctx, "127.0.0.1", 0)
        port = next(iter(server.sockets)).getsockname()[1]
        s.ws_base = f"ws://127.0.0.1:{port}"
        try:
            yield s
        finally:
            server.close()
            await server.wait_closed()


async def viewer_cookie(served: Served, session_id: int) -> str:
    """The Cookie header of an anonymous viewer who loaded the room page (tests/realtime/test_gateway)."""
    browser = served.client()
    assert (await browser.get(f"/live/{session_id}")).status_code == 200
    assert (await browser.get("/api/v1/auth/csrf")).status_code == 200
    return "; ".join(f"{name}={value}" for name, value in browser.cookies.items())


def ws_url(served: Served, session_id: int) -> str:
    return (served.ws_base or served.base_url.replace("http://", "ws://")) + f"/ws/rooms/{session_id}"


async def until_pong(ws: ClientConnection) -> None:
    """Read frames until the reply to a ping (room frames and counters may come first)."""
    while (await asyncio.wait_for(ws.recv(), timeout=10)) != PONG:
        pass


async def rows(served: Served, session_id: int) -> list[RoomConnection]:
    async with served.app.state.ctx.uow(write=False) as uow:
        query = sa.select(RoomConnection).where(RoomConnection.session_id == session_id).order_by(RoomConnection.id)
        return list((await uow.session.scalars(query)).all())


async def test_each_socket_leaves_a_row_with_its_heartbeats_playback_and_likes(served: Served) -> None:
    org = await make_live_org(served.app, served.client, "journal")
    sid = await live_session(org)
    await served.app.state.ctx.relay.drain()
    honest = {"Cookie": await viewer_cookie(served, sid), "X-Forwarded-For": "203.0.113.9"}
    async with connect(ws_url(served, sid), additional_headers=honest) as ws:
        await ws.send('"ping"')
        await until_pong(ws)
        await ws.send(orjson.dumps({"type": "playing"}).decode())
        await ws.send(orjson.dumps({"type": "playing"}).decode())  # only the first counts
        await ws.send(orjson.dumps({"type": "like", "count": 3}).decode())
        await ws.send(orjson.dumps({"type": "flower", "count": 1}).decode())
        await ws.send('"ping"')
        await until_pong(ws)  # no reply to "playing": the next reply is the pong
        # The counters the room published are kept: one viewer now, one unique viewer.
        ctx = served.app.state.ctx

        async def figures() -> RoomFigures | None:
            async with ctx.uow(write=False) as uow:
                row = await uow.session.get(RoomFigures, sid)
                return row if row is not None and row.peak_viewers >= 1 else None

        kept = await wait_for(figures, within_s=15, what="the published figures")
        assert (kept.peak_viewers, kept.unique_viewers, kept.views) == (1, 1, 1)
    async with connect(ws_url(served, sid), additional_headers={"X-Forwarded-For": "2001:db8:7:1::5"}):
        await asyncio.sleep(0.1)  # a script: no cookie, no heartbeat, no playback

    async def both_closed() -> list[RoomConnection] | None:
        found = await rows(served, sid)
        return found if len(found) == 2 and all(r.left_at is not None for r in found) else None

    person, script = await wait_for(both_closed, within_s=15, what="both rows closed")
    assert person.viewer is not None and person.viewer.startswith("a:")
    assert person.device == person.viewer[2:] and person.user_id is None
    assert (person.ip, person.ip_net) == ("203.0.113.9", "203.0.113.0/24")
    assert (person.heartbeats, person.likes, person.flowers) == (2, 3, 1)
    assert person.playing_at is not None and person.last_heartbeat_at is not None
    assert person.left_at is not None and person.joined_at <= person.playing_at <= person.left_at
    assert (script.viewer, script.device, script.user_id) == (None, None, None)
    assert (script.ip, script.ip_net) == ("2001:db8:7:1::5", "2001:db8:7::/48")
    assert (script.heartbeats, script.playing_at, script.likes, script.flowers) == (0, None, 0, 0)


async def test_a_signed_in_viewer_is_journalled_with_the_user(served: Served) -> None:
    org = await make_live_org(served.app, served.client, "journal-user")
    sid = await live_session(org)
    await served.app.state.ctx.relay.drain()
    browser = served.client()
    user = await sign_up(browser, "viewer-j@example.com")
    await browser.get(f"/live/{sid}")
    cookie = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
    async with connect(ws_url(served, sid), additional_headers={"Cookie": cookie}) as ws:
        await ws.send('"ping"')
        await until_pong(ws)

    async def closed() -> RoomConnection | None:
        found = await rows(served, sid)
        return found[0] if found and found[0].left_at is not None else None

    row = await wait_for(closed, within_s=15, what="the row")
    assert row.user_id == user["id"] and row.viewer == f"u:{user['id']}"
    assert row.ip == "127.0.0.1" and row.ip_net == "127.0.0.0/24"


# -- the writer -----------------------------------------------------------------------------------


class FailingFirst:
    """A unit-of-work factory whose first `fail` units fail (the database away)."""

    def __init__(self, real: Callable[[], UnitOfWork], fail: int) -> None:
        self.real = real
        self.fail = fail

    def __call__(self) -> UnitOfWork:
        if self.fail:
            self.fail -= 1
            raise ConnectionRefusedError("database away")
        return self.real()


async def test_a_failed_write_keeps_the_entries_for_the_next(app: Any) -> None:
    ctx = app.state.ctx
    journal = Journal(FailingFirst(ctx.uow, fail=1), flush_s=3600)
    entry = journal.open(41, "a:dev1", {SESSION_VIEWER: "dev1"}, "198.51.100.7", SESSION_VIEWER)
    entry.heartbeat()
    assert await journal.flush() is False and journal.failures == 1 and journal.pending == 1
    entry.reacted(5, 0)
    journal.published(41, {"viewers": 3, "unique_viewers": 4, "views": 5, "likes": 5, "flowers": 0})
    journal.published(41, {"viewers": 1, "unique_viewers": 4, "views": 5, "likes": 6, "flowers": 0})
    assert await journal.flush() is True and journal.pending == 0
    entry.playing()
    journal.close_entry(entry)
    await journal.close()
    async with ctx.uow(write=False) as uow:
        (row,) = (await uow.session.scalars(sa.select(RoomConnection))).all()
        figures = await uow.session.get(RoomFigures, 41)
    assert (row.session_id, row.ip_net, row.device, row.heartbeats, row.likes) == (41, "198.51.100.0/24", "dev1", 1, 5)
    assert row.playing_at is not None and row.left_at is not None
    assert figures is not None
    assert (figures.peak_viewers, figures.unique_viewers, figures.views, figures.likes) == (3, 4, 5, 6)


async def test_closing_the_journal_closes_and_writes_the_open_sockets(app: Any) -> None:
    journal = Journal(app.state.ctx.uow, flush_s=3600)
    journal.open(42, None, {}, "10.0.0.1", SESSION_VIEWER)
    assert await journal.flush()
    await journal.close()  # the process stops with the socket still open
    async with app.state.ctx.uow(write=False) as uow:
        (row,) = (await uow.session.scalars(sa.select(RoomConnection))).all()
    assert row.left_at is not None


# -- pieces ---------------------------------------------------------------------------------------


def test_networks_are_the_slash_24_and_the_slash_48() -> None:
    assert network_of("203.0.113.77") == "203.0.113.0/24"
    assert network_of("::ffff:203.0.113.77") == "203.0.113.0/24"
    assert network_of("2001:db8:abcd:12::1") == "2001:db8:abcd::/48"
    assert network_of("testclient") == ""


def test_forwarded_for_is_believed_only_from_a_trusted_proxy() -> None:
    trusted = frozenset({"127.0.0.1"})
    assert forwarded_client("127.0.0.1", "198.51.100.7", trusted) == "198.51.100.7"
    assert forwarded_client("127.0.0.1", "1.2.3.4, 198.51.100.7", trusted) == "198.51.100.7"  # the nearest
    assert forwarded_client("203.0.113.5", "198.51.100.7", trusted) == "203.0.113.5"  # not a proxy of ours
    assert forwarded_client("127.0.0.1", None, trusted) == "127.0.0.1"


async def test_playing_is_accepted_without_a_reply_and_pings_still_pong() -> None:
    journal = Journal(FailingFirst(lambda: None, fail=0), flush_s=3600)  # type: ignore[arg-type,return-value]
    entry = journal.open(1, None, {}, "10.0.0.1", SESSION_VIEWER)
    messages = ClientMessages(lambda likes, flowers: None, entry)
    assert messages.handle('{"type": "playing"}', 0.0) is None
    assert messages.handle('"ping"', 0.0) == PONG
    assert messages.handle('{"type": "like", "count": 50}', 0.0) is None  # 20 granted in the first second
    assert (entry.heartbeats, entry.likes, entry.playing_at is not None) == (1, 20, True)
    assert ClientMessages(lambda likes, flowers: None).handle('{"type": "playing"}', 0.0) is None
    await journal.close()


async def test_heartbeats_of_an_open_socket_are_written_at_the_first_and_then_every_tenth(app: Any) -> None:
    journal = Journal(app.state.ctx.uow, flush_s=3600)
    entry = journal.open(43, None, {}, "10.0.0.1", SESSION_VIEWER)
    assert await journal.flush()
    entry.heartbeat()
    assert journal.pending == 1  # the first: the rules must know it ever heartbeated
    assert await journal.flush()
    for _ in range(9):
        entry.heartbeat()
    assert journal.pending == 0  # 2nd..10th: kept in memory
    entry.heartbeat()
    assert journal.pending == 1  # the 11th writes the running count
    await journal.close()  # the close writes the rest
    async with app.state.ctx.uow(write=False) as uow:
        (row,) = (await uow.session.scalars(sa.select(RoomConnection))).all()
    assert row.heartbeats == 11 and row.left_at is not None
