"""The room WebSocket: snapshot first, then events that match their declared schema; resume with
no gap; a fresh snapshot when too far behind; and a stalled socket never delays the others."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from fieldcast.realtime.bus import MemoryBus
from fieldcast.realtime.counters import VIEWER_REACTION_CAPS
from fieldcast.realtime.fanout import serve_fanout
from fieldcast.realtime.hub import CLOSE_TOO_SLOW, QUEUE_MAX, RoomHub, write_frames
from fieldcast.realtime.room_feed import REACTIONS_PER_S, SOCKET_REACTION_CAPS, ClientMessages
from fieldcast.realtime.room_log import MemoryRoomLog
from tests.factories import LiveOrg, live_session, make_live_org, sign_up
from tests.helpers import matches_contract, validate
from tests.media.conftest import Served, fresh_app, media_settings, serve

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(params=["app", "fanout"])
async def served(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> AsyncIterator[Served]:
    """The app; with "fanout", room sockets are served by the fan-out server (realtime/fanout.py)
    on its own port, sharing the app's room log, hub and database, as `fieldcast fanout` does
    through Redis: every test here holds for both."""
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


@pytest.fixture
async def room(served: Served) -> tuple[LiveOrg, int]:
    org = await make_live_org(served.app, served.client, "gateway")
    session_id = await live_session(org)
    await served.app.state.ctx.relay.drain()  # the room's events so far are in its log
    return org, session_id


async def page_viewer(served: Served, session_id: int) -> dict[str, str]:
    """An anonymous viewer as a browser makes one: load the room page (for a visitor without a
    session it may come from the shared cache, with no cookie), then start the session as the
    page's script does before opening the socket (static/session.js); the headers a socket of
    that viewer sends."""
    browser = served.client()
    r = await browser.get(f"/live/{session_id}")
    assert r.status_code == 200, r.text
    assert (await browser.get("/api/v1/auth/csrf")).status_code == 200
    cookie = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
    assert cookie, "the room page issued no viewer cookie"
    return {"Cookie": cookie}


def ws_url(served: Served, session_id: int, after: int | None = None) -> str:
    base = (served.ws_base or served.base_url.replace("http://", "ws://")) + f"/ws/rooms/{session_id}"
    return base if after is None else f"{base}?after={after}"


async def frames(ws: ClientConnection, n: int) -> list[dict[str, Any]]:
    """The next n frames, unpacking batches (a JSON array of frames) and skipping the volatile
    room.counters frames, which come on their own tick."""
    out: list[dict[str, Any]] = []
    while len(out) < n:
        message = orjson.loads(await asyncio.wait_for(ws.recv(), timeout=10))
        batch = message if isinstance(message, list) else [message]
        out.extend(f for f in batch if f.get("type") != "room.counters")
    return out


def apply(snapshot: dict[str, Any], frame: dict[str, Any]) -> None:
    """What a client does with each event type to keep its copy of the room current."""
    data = frame["data"]
    if frame["type"] == "session.state":
        snapshot.update({k: data[k] for k in ("state", "replay_state", "started_at", "ended_at")})
    elif frame["type"] == "session.pinned":
        snapshot["pinned_sku_id"] = data["sku_id"]
    elif frame["type"] == "shelf.changed":
        by_sku = {x["sku_id"]: x for x in snapshot["shelf"]}
        if not data["removed"]:
            by_sku.setdefault(data["sku_id"], {"sku_id": data["sku_id"]}).update(
                live_price_fen=data["live_price_fen"], session_stock=data["session_stock"]
            )
        snapshot["shelf"] = [by_sku[s] for s in data["sku_ids"]]


def room_view(detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "state": detail["state"],
        "replay_state": detail["replay_state"],
        "pinned_sku_id": detail["pinned_sku_id"],
        "shelf": [(x["sku_id"], x["live_price_fen"], x["session_stock"]) for x in detail["shelf"]],
    }


async def test_snapshot_then_events_that_keep_an_old_snapshot_current(
    served: Served, room: tuple[LiveOrg, int]
) -> None:
    org, sid = room
    async with connect(ws_url(served, sid)) as ws:
        snap = (await frames(ws, 1))[0]
        assert snap["type"] == "snapshot" and snap["data"]["state"] == "live"
        view = snap["data"]
        host, organiser = org["host"], org["organiser"]
        await host.post(f"/api/v1/sessions/{sid}/pin", json={"sku_id": org.inspected_sku})
        await organiser.post(
            f"/api/v1/sessions/{sid}/shelf", json={"sku_id": org.uninspected_sku, "live_price_fen": 1900}
        )
        item = (await organiser.get(f"/api/v1/sessions/{sid}/shelf")).json()[0]
        await organiser.patch(f"/api/v1/sessions/{sid}/shelf/{item['id']}", json={"live_price_fen": 6600})
        await host.delete(f"/api/v1/sessions/{sid}/pin")
        await host.post(f"/api/v1/sessions/{sid}/end")
        events = await frames(ws, 6)
    # pin, add to shelf, change a price, unpin, end (replay processing), replay done (here: no
    # recording, so it failed).
    assert [e["type"] for e in events] == [
        "session.pinned", "shelf.changed", "shelf.changed", "session.pinned", "session.state", "session.state"
    ]  # fmt: skip
    ids = [e["id"] for e in events]
    assert ids == sorted(ids) and ids[0] == snap["last_id"] + 1 and len(set(ids)) == len(ids)
    for event in events:
        validate(event)
        apply(view, event)
    fresh = (await org["outsider"].get(f"/api/v1/sessions/{sid}")).json()
    assert room_view(view) == room_view(fresh)
    assert view["state"] == "ended"


async def test_a_client_resumes_from_its_last_id_with_no_gap(served: Served, room: tuple[LiveOrg, int]) -> None:
    org, sid = room
    async with connect(ws_url(served, sid)) as ws:
        last = (await frames(ws, 1))[0]["last_id"]
    for _ in range(3):  # while the viewer's phone is in a tunnel
        await org["host"].post(f"/api/v1/sessions/{sid}/pin", json={"sku_id": org.inspected_sku})
    async with connect(ws_url(served, sid, after=last)) as ws:
        missed = await frames(ws, 3)
        assert [f["id"] for f in missed] == [last + 1, last + 2, last + 3]
        assert all(f["type"] == "session.pinned" for f in missed)
        await org["host"].post(f"/api/v1/sessions/{sid}/pin", json={"sku_id": org.inspected_sku})
        assert (await frames(ws, 1))[0]["id"] == last + 4


async def test_a_client_too_far_behind_gets_a_fresh_snapshot(served: Served, room: tuple[LiveOrg, int]) -> None:
    _org, sid = room
    log = served.app.state.ctx.room_log
    for _ in range(520):  # more than the kept history
        await log.append(sid, "session.pinned", {"sku_id": None, "offset_s": None})
    async with connect(ws_url(served, sid, after=1)) as ws:
        first = (await frames(ws, 1))[0]
        assert first["type"] == "snapshot" and first["last_id"] == await log.last_id(sid)


async def test_an_unknown_room_is_closed_with_4404(served: Served) -> None:
    with pytest.raises(ConnectionClosed) as closed:
        async with connect(ws_url(served, 999_999)) as ws:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4404


async def test_a_stalled_socket_never_delays_the_others() -> None:
    """Hub level: one listener's send never returns; the other still gets every frame at once,
    and the stalled one is cut off once its bounded queue is full."""
    log = MemoryRoomLog(MemoryBus())
    hub = RoomHub(log, rest=0)
    fast, stalled = await hub.join(7), await hub.join(7)
    cut_off = asyncio.Event()
    stalled.on_overflow = cut_off.set
    received: list[str] = []

    async def fast_send(text: str) -> None:
        received.append(text)

    async def stuck_send(text: str) -> None:
        await asyncio.Event().wait()

    async def never() -> int:
        raise AssertionError("no resync expected")

    writers = [
        asyncio.create_task(write_frames(fast, fast_send, never)),
        asyncio.create_task(write_frames(stalled, stuck_send, never)),
    ]
    started = time.monotonic()
    total = QUEUE_MAX + 500
    for n in range(total):
        await log.append(7, "session.pinned", {"sku_id": n, "offset_s": None})
        await asyncio.sleep(0)  # let the hub sweep and the writers run, as a busy loop would

    def unpack(text: str) -> list[dict[str, Any]]:
        data = orjson.loads(text)
        return data if isinstance(data, list) else [data]

    await asyncio.wait_for(cut_off.wait(), timeout=5)
    while sum(len(unpack(t)) for t in received) < total:
        await asyncio.sleep(0.01)
        assert time.monotonic() - started < 10, "the fast socket was held back"
    ids = [f["id"] for t in received for f in unpack(t)]
    assert ids == list(range(1, total + 1))
    assert stalled.overflowed and not fast.overflowed
    assert CLOSE_TOO_SLOW == 4008
    for w in writers:
        w.cancel()
    await hub.close()


async def test_one_sweeps_message_is_encoded_once_and_shared_by_every_socket() -> None:
    log = MemoryRoomLog(MemoryBus())
    hub = RoomHub(log, rest=0)
    a, b = await hub.join(9), await hub.join(9)
    for n in range(5):
        await log.append(9, "session.pinned", {"sku_id": n, "offset_s": None})
    first, second = await asyncio.wait_for(a.queue.get(), 2), await asyncio.wait_for(b.queue.get(), 2)
    assert first is second  # the same message object: one encoding for the room
    assert [f["id"] for f in orjson.loads(first.text)] == [1, 2, 3, 4, 5]
    await hub.close()


async def counters_until(ws: ClientConnection, check: Any, within_s: float = 10) -> dict[str, Any]:
    """Read frames until a room.counters frame satisfies `check`; returns its data."""
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        assert remaining > 0, "no matching counters frame"
        message = orjson.loads(await asyncio.wait_for(ws.recv(), timeout=remaining))
        for frame in message if isinstance(message, list) else [message]:
            if frame.get("type") == "room.counters":
                matches_contract("room.counters", frame["data"])
                assert "id" not in frame  # volatile: not in the room log, not resumed
                if check(frame["data"]):
                    return dict(frame["data"])


async def test_likes_are_counted_capped_and_sent_as_totals_not_per_click(
    served: Served, room: tuple[LiveOrg, int]
) -> None:
    _org, sid = room
    log = served.app.state.ctx.room_log
    before = await log.last_id(sid)
    viewer_a, viewer_b = await page_viewer(served, sid), await page_viewer(served, sid)
    async with (
        connect(ws_url(served, sid), additional_headers=viewer_a) as a,
        connect(ws_url(served, sid), additional_headers=viewer_b) as b,
    ):
        await frames(a, 1)
        await frames(b, 1)
        await counters_until(a, lambda d: d["viewers"] == 2)
        await a.send(orjson.dumps({"type": "like", "count": 30}).decode())  # 20 a second at most
        for _ in range(5):
            await b.send(orjson.dumps({"type": "like", "count": 1}).decode())
        await b.send(orjson.dumps({"type": "flower", "count": 2}).decode())
        await b.send('{"type": "like", "count": "lots"}')  # ignored, not an error
        await b.send("not json")
        data = await counters_until(a, lambda d: d["likes"] == 25 and d["flowers"] == 2)
        assert data["viewers"] == 2 and data["unique_viewers"] == 2 and data["views"] == 2
        assert data["unissued_connections"] == 0
        await b.send("ping")
    # Counts are broadcast on the tick: none of the clicks became a room-log event.
    assert await log.last_id(sid) == before


async def test_viewers_drop_when_a_socket_leaves(served: Served, room: tuple[LiveOrg, int]) -> None:
    _org, sid = room
    async with connect(ws_url(served, sid), additional_headers=await page_viewer(served, sid)) as stay:
        await frames(stay, 1)
        async with connect(ws_url(served, sid), additional_headers=await page_viewer(served, sid)) as leave:
            await frames(leave, 1)
            await counters_until(stay, lambda d: d["viewers"] == 2)
        data = await counters_until(stay, lambda d: d["viewers"] == 1)
        assert data["unique_viewers"] == 2  # who watched stays counted


async def test_sockets_without_an_issued_viewer_never_raise_the_viewer_counts(
    served: Served, room: tuple[LiveOrg, int]
) -> None:
    """Issue #14 item 5: a script opening sockets without ever loading the room page raised a
    room's unique viewers from 14 to 516, and the figure stayed after they closed. Such sockets
    get the room like anyone, but count as connections, reported apart, never as people."""
    _org, sid = room
    n = 40
    async with connect(ws_url(served, sid), additional_headers=await page_viewer(served, sid)) as person:
        await frames(person, 1)
        await counters_until(person, lambda d: d["viewers"] == 1 and d["unique_viewers"] == 1)
        scripted = [await connect(ws_url(served, sid)) for _ in range(n)]
        for ws in scripted:
            assert (await frames(ws, 1))[0]["type"] == "snapshot"  # they still get the room
        data = await counters_until(person, lambda d: d["unissued_connections"] == n)
        assert (data["viewers"], data["unique_viewers"], data["views"]) == (1, 1, 1)
        for ws in scripted:
            await ws.close()
        totals = await served.app.state.ctx.room_hub.counters.totals(sid)
        assert (totals.unique_viewers, totals.views, totals.unissued_connections) == (1, 1, n)


async def test_many_like_spamming_sockets_cannot_multiply_likes_beyond_the_window_caps(
    served: Served, room: tuple[LiveOrg, int]
) -> None:
    """Issue #14 item 5: fifty sockets sending likes doubled a room's likes in three seconds. Now
    every socket of one viewer draws on that viewer's allowance, and every socket without an
    issued viewer on one shared allowance: together they add at most the window caps."""
    _org, sid = room
    hub = served.app.state.ctx.room_hub
    _short_s, cap = VIEWER_REACTION_CAPS[0]
    one_viewer = await page_viewer(served, sid)
    sockets = [await connect(ws_url(served, sid), additional_headers=one_viewer) for _ in range(15)]
    sockets += [await connect(ws_url(served, sid)) for _ in range(25)]
    try:
        for ws in sockets:
            await frames(ws, 1)
        like = orjson.dumps({"type": "like", "count": REACTIONS_PER_S}).decode()
        for ws in sockets:  # each socket: a full second's worth, 800 likes in all
            await ws.send(like)
            await ws.send("ping")
        for ws in sockets:  # answered in order: its likes were counted before the pong
            while await asyncio.wait_for(ws.recv(), timeout=10) != '"pong"':
                pass
        await hub.tick()
        likes = (await hub.counters.totals(sid)).likes
    finally:
        for ws in sockets:
            await ws.close()
    # Two allowances (the viewer's, the unissued connections'), each at most `cap` per window; a
    # burst that straddles a window's boundary may draw on two windows.
    assert 2 * cap <= likes <= 4 * cap < len(sockets) * REACTIONS_PER_S


async def test_a_socket_is_held_to_its_caps_over_ten_seconds_and_a_minute() -> None:
    """Per socket: 20 likes a second, but not 20 every second for a minute."""
    granted = [0] * 60
    second = 0

    def react(likes: int, _flowers: int) -> None:
        granted[second] += likes

    messages = ClientMessages(react)
    like = orjson.dumps({"type": "like", "count": REACTIONS_PER_S}).decode()
    for second in range(60):
        messages.handle(like, 1000.0 + second)
        messages.handle(like, 1000.5 + second)  # a second message in the same second: dropped
    caps = dict(SOCKET_REACTION_CAPS)
    assert max(granted) == REACTIONS_PER_S
    assert sum(granted[:10]) == caps[10.0] and sum(granted) == caps[60.0]


async def test_chat_arrives_live_and_the_snapshot_carries_the_last_lines(
    served: Served, room: tuple[LiveOrg, int]
) -> None:
    _org, sid = room
    fan = served.client()
    await sign_up(fan, "fan@gateway.example.com", "粉丝")
    async with connect(ws_url(served, sid)) as ws:
        await frames(ws, 1)
        r = await fan.post(f"/api/v1/sessions/{sid}/chat", json={"body": "<b>蓝莓甜吗</b>"})
        assert r.status_code == 201, r.text
        posted = (await frames(ws, 1))[0]
    validate(posted)
    assert posted["type"] == "chat.posted" and posted["data"]["body"] == "<b>蓝莓甜吗</b>"
    async with connect(ws_url(served, sid)) as ws:
        snap = (await frames(ws, 1))[0]
    assert snap["chat"][-1]["body"] == "<b>蓝莓甜吗</b>"  # text, escaped by whoever renders it
    assert set(snap["counters"]) >= {
        "likes", "flowers", "viewers", "unique_viewers", "views", "avg_watch_s", "unissued_connections"
    }  # fmt: skip
