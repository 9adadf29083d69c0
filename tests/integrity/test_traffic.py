"""The fake-traffic rules (integrity/rules_traffic.py): over journal rows written as the room
sockets leave them, each rule finds what it is about with its evidence and holds at its
threshold's boundary; and over a show played with real sockets through the app, scripted viewers
(a burst from one address, no heartbeat, no playback, likes at the socket caps) raise the four
alerts when the show ends, while people watching (heartbeats, playback, a few taps, each from
their own address) raise none."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect

from fieldcast.integrity import rules as r
from fieldcast.integrity import rules_traffic as rt
from fieldcast.integrity.models import IntegrityAlert, Severity, SubjectKind
from fieldcast.realtime.models import RoomConnection, RoomFigures
from tests.factories import LiveOrg, live_session, make_live_org
from tests.integrity.world import World, show, world
from tests.media.conftest import Served, fresh_app, media_settings, serve, wait_for

ON_BOTH_BACKENDS = True
pytestmark = pytest.mark.timeout(120)

T = r.Thresholds()  # the defaults: the boundaries below are the settings' defaults


async def findings(app: FastAPI, w: World, rule: r.Rule, t: r.Thresholds = T) -> list[r.Finding]:
    live = await show(app, w)
    async with app.state.ctx.uow(write=False) as uow:
        return await rule(uow.session, live, t)


def connection(
    w: World,
    *,
    at_s: float = -600.0,
    lived_s: float | None = 300.0,
    ip: str = "203.0.113.10",
    device: str | None = None,
    viewer: str | None = None,
    heartbeats: int = 10,
    playing: bool = True,
    likes: int = 0,
) -> RoomConnection:
    """A journal row of the world's show: joined `at_s` seconds from its end, for `lived_s` seconds
    (None: never closed)."""
    joined = w.ended_at + timedelta(seconds=at_s)
    return RoomConnection(
        session_id=w.session_id,
        viewer=viewer,
        device=device,
        ip=ip,
        ip_net=".".join(ip.split(".")[:3]) + ".0/24",
        joined_at=joined,
        left_at=None if lived_s is None else joined + timedelta(seconds=lived_s),
        heartbeats=heartbeats,
        playing_at=joined + timedelta(seconds=1) if playing else None,
        likes=likes,
    )


async def add(app: FastAPI, *rows: RoomConnection | RoomFigures) -> None:
    async with app.state.ctx.uow() as uow:
        uow.session.add_all(rows)


def honest(w: World, n: int, **overrides: Any) -> list[RoomConnection]:
    """n people: each from their own network and device, heartbeating and playing."""
    values: dict[str, Any] = {"heartbeats": 10, "playing": True}
    values.update(overrides)
    return [
        connection(w, ip=f"10.{i}.7.2", device=f"dev{i}", viewer=f"a:dev{i}", at_s=-600 + i * 7, **values)
        for i in range(n)
    ]


# -- sockets without playback or heartbeat --------------------------------------------------------


async def test_silent_sockets_above_the_share_are_found_with_their_rows(app: FastAPI) -> None:
    w = await world(app, buyers=1)
    await add(app, *honest(w, 5))
    await add(app, *[connection(w, ip="198.51.100.7", heartbeats=0, playing=False) for _ in range(5)])
    assert await findings(app, w, rt.sockets_without_playback) == []  # 5 of 10: at the share, not above
    await add(app, connection(w, ip="198.51.100.7", heartbeats=0, playing=False))
    (f,) = await findings(app, w, rt.sockets_without_playback)
    assert (f.rule, f.severity, f.subject_kind, f.subject_id) == (
        rt.SOCKETS_WITHOUT_PLAYBACK,
        Severity.MEDIUM,
        SubjectKind.SESSION,
        w.session_id,
    )
    ev = f.evidence
    assert (ev["connections"], ev["suspect_connections"], ev["no_playback"], ev["no_heartbeat"]) == (11, 6, 6, 6)
    assert ev["threshold"] == 0.5 and ev["heartbeat_grace_s"] == 30.0
    assert {row["ip"] for row in ev["sample"]} == {"198.51.100.7"} and len(ev["sample"]) == 6


async def test_a_short_connection_is_judged_on_playback_alone(app: FastAPI) -> None:
    w = await world(app, buyers=1)
    t = r.Thresholds(silent_share=0.0, silent_min_connections=1)
    # Playing, no heartbeat yet, gone after 29.9 s: a person who left before the first ping.
    await add(app, connection(w, lived_s=29.9, heartbeats=0))
    assert await findings(app, w, rt.sockets_without_playback, t) == []
    await add(app, connection(w, lived_s=30.0, heartbeats=0))  # 30 s without a heartbeat: silent
    (f,) = await findings(app, w, rt.sockets_without_playback, t)
    assert (f.evidence["no_heartbeat"], f.evidence["no_playback"]) == (1, 0)


async def test_too_few_connections_are_not_judged(app: FastAPI) -> None:
    w = await world(app, buyers=1)
    await add(app, *[connection(w, heartbeats=0, playing=False) for _ in range(9)])
    assert await findings(app, w, rt.sockets_without_playback) == []


async def test_a_connection_still_open_lasts_until_the_end_and_later_joins_are_not_the_show(app: FastAPI) -> None:
    w = await world(app, buyers=1)
    t = r.Thresholds(silent_share=0.0, silent_min_connections=1)
    await add(app, connection(w, at_s=-20, lived_s=None, heartbeats=0))  # open, 20 s before the end
    await add(app, connection(w, at_s=+60, lived_s=None, heartbeats=0, playing=False))  # after the end
    assert await findings(app, w, rt.sockets_without_playback, t) == []
    await add(app, connection(w, at_s=-31, lived_s=None, heartbeats=0))
    (f,) = await findings(app, w, rt.sockets_without_playback, t)
    assert f.evidence["connections"] == 2 and f.evidence["no_heartbeat"] == 1


# -- join bursts ------------------------------------------------------------------------------------


async def test_a_burst_from_one_address_is_found_and_one_join_fewer_is_not(app: FastAPI) -> None:
    w = await world(app, buyers=1)
    burst = [connection(w, ip="198.51.100.7", at_s=-300 + i * 0.5) for i in range(14)]  # 14 in 6.5 s
    await add(app, *burst, *honest(w, 40))
    assert await findings(app, w, rt.join_burst) == []
    await add(app, connection(w, ip="198.51.100.7", at_s=-290))  # the 15th, 10 s after the first
    (f,) = await findings(app, w, rt.join_burst)
    assert (f.rule, f.severity, f.subject_id) == (rt.JOIN_BURST, Severity.HIGH, w.session_id)
    by_key = {(b["key"], b["value"]): b for b in f.evidence["bursts"]}
    assert set(by_key) == {("ip", "198.51.100.7"), ("ip_net", "198.51.100.0/24")}
    ip = by_key[("ip", "198.51.100.7")]
    assert (ip["joins"], ip["window_s"], ip["all_joins"]) == (15, 10.0, 15)
    assert ip["first_at"] == burst[0].joined_at.isoformat()
    assert ip["last_at"] == (w.ended_at + timedelta(seconds=-290)).isoformat()


async def test_joins_spread_past_the_window_are_no_burst(app: FastAPI) -> None:
    w = await world(app, buyers=1)
    await add(app, *[connection(w, ip="198.51.100.7", at_s=-300 + i * (10.5 / 14)) for i in range(15)])
    assert await findings(app, w, rt.join_burst) == []  # 15 joins over 10.5 s


async def test_a_burst_from_one_network_or_one_device_is_found(app: FastAPI) -> None:
    w = await world(app, buyers=1)
    await add(app, *[connection(w, ip=f"198.51.100.{i + 1}", at_s=-300 + i * 0.1) for i in range(15)])
    (f,) = await findings(app, w, rt.join_burst)
    assert [(b["key"], b["value"]) for b in f.evidence["bursts"]] == [("ip_net", "198.51.100.0/24")]
    w2 = await world(app, buyers=1)
    await add(app, *[connection(w2, ip=f"10.{i}.0.1", device="same", at_s=-300 + i * 0.1) for i in range(15)])
    (f2,) = await findings(app, w2, rt.join_burst)
    assert [(b["key"], b["value"]) for b in f2.evidence["bursts"]] == [("device", "same")]


# -- viewer figures the journal does not back ------------------------------------------------------


async def test_published_viewers_beyond_the_journal_are_found(app: FastAPI) -> None:
    w = await world(app, buyers=1)
    figures = RoomFigures(session_id=w.session_id, peak_viewers=20, unique_viewers=20, views=25)
    # 14 people watching at once, 6 sockets with cookies that neither ping nor play.
    await add(app, figures, *honest(w, 14))
    await add(app, *[connection(w, viewer=f"a:bot{i}", heartbeats=0, playing=False) for i in range(6)])
    assert await findings(app, w, rt.viewers_unsupported) == []  # 6 of 20 unbacked: 0.3, not above
    async with app.state.ctx.uow() as uow:
        await uow.session.execute(
            sa.update(RoomConnection)
            .where(RoomConnection.session_id == w.session_id, RoomConnection.viewer == "a:dev0")
            .values(heartbeats=0, playing_at=None)
        )
    (f,) = await findings(app, w, rt.viewers_unsupported)
    assert (f.rule, f.severity, f.subject_id) == (rt.VIEWERS_UNSUPPORTED, Severity.HIGH, w.session_id)
    assert {(x["figure"], x["published"], x["supported"]) for x in f.evidence["figures"]} == {
        ("peak_viewers", 20, 13),
        ("unique_viewers", 20, 13),
    }
    assert f.evidence["journal"]["supported_peak_concurrent"] == 13
    assert f.evidence["published"]["views"] == 25
    assert len(f.evidence["unsupported_sample"]) == 7


async def test_the_peak_counts_connections_open_at_once(app: FastAPI) -> None:
    w = await world(app, buyers=1)
    # 12 people, one after the other: 12 unique viewers, but never more than one at a time.
    one_by_one = [
        connection(w, viewer=f"a:p{i}", device=f"p{i}", ip=f"10.{i}.0.1", at_s=-600 + i * 40, lived_s=30)
        for i in range(12)
    ]
    await add(app, RoomFigures(session_id=w.session_id, peak_viewers=12, unique_viewers=12, views=12), *one_by_one)
    (f,) = await findings(app, w, rt.viewers_unsupported)
    assert [(x["figure"], x["supported"]) for x in f.evidence["figures"]] == [("peak_viewers", 1)]


async def test_small_figures_and_shows_without_figures_are_not_judged(app: FastAPI) -> None:
    w = await world(app, buyers=1)
    await add(app, *[connection(w, viewer=f"a:bot{i}", heartbeats=0, playing=False) for i in range(9)])
    assert await findings(app, w, rt.viewers_unsupported) == []  # no published figures
    await add(app, RoomFigures(session_id=w.session_id, peak_viewers=9, unique_viewers=9, views=9))
    assert await findings(app, w, rt.viewers_unsupported) == []  # 9: below the minimum


# -- like rates ------------------------------------------------------------------------------------


async def test_likes_faster_than_a_person_taps_are_found_at_the_boundary(app: FastAPI) -> None:
    w = await world(app, buyers=1)
    await add(app, connection(w, lived_s=60, likes=240, ip="10.1.1.1"))  # 4.0 a second: at the limit
    await add(app, connection(w, lived_s=9.9, likes=150, ip="10.1.1.2"))  # a short burst: not judged
    await add(app, *honest(w, 10, likes=30))
    assert await findings(app, w, rt.inhuman_like_rate) == []
    await add(app, connection(w, lived_s=60, likes=241, ip="198.51.100.7"))
    await add(app, connection(w, lived_s=10, likes=41, ip="198.51.100.8"))
    (f,) = await findings(app, w, rt.inhuman_like_rate)
    assert (f.rule, f.severity, f.subject_id) == (rt.INHUMAN_LIKE_RATE, Severity.MEDIUM, w.session_id)
    assert (f.evidence["fast_connections"], f.evidence["likes_from_fast"]) == (2, 282)
    assert [(x["ip"], x["likes_per_s"]) for x in f.evidence["sample"]] == [
        ("198.51.100.8", 4.1),
        ("198.51.100.7", 4.02),
    ]


async def test_the_traffic_rules_are_registered_with_stable_ids() -> None:
    names = {rule.__name__ for rule in r.RULES}
    assert {rt.SOCKETS_WITHOUT_PLAYBACK, rt.JOIN_BURST, rt.VIEWERS_UNSUPPORTED, rt.INHUMAN_LIKE_RATE} <= names


# -- a show played with real sockets ----------------------------------------------------------------


@pytest.fixture
async def served(database_url: str, tmp_path: Path) -> AsyncIterator[Served]:
    # A show of a few seconds: likes are judged on connections of 2 s or more (10 by default).
    settings = media_settings(database_url, tmp_path, integrity_like_min_s=2.0)
    app = await fresh_app(settings)
    async with serve(app, settings) as s:
        yield s


async def cookie_of(served: Served, session_id: int) -> str:
    """A browser that loaded the room page: its Cookie header (its anonymous viewer id)."""
    browser = served.client()
    assert (await browser.get(f"/live/{session_id}")).status_code == 200
    assert (await browser.get("/api/v1/auth/csrf")).status_code == 200
    return "; ".join(f"{name}={value}" for name, value in browser.cookies.items())


def room_url(served: Served, session_id: int) -> str:
    return served.base_url.replace("http://", "ws://") + f"/ws/rooms/{session_id}"


async def drain(ws: ClientConnection) -> None:
    """Read (and drop) what the room sends, so the socket keeps up."""
    with contextlib.suppress(Exception):
        async for _ in ws:
            pass


class Stage:
    """When every viewer is in, and when the show is over."""

    def __init__(self, viewers: int) -> None:
        self.viewers = viewers
        self.joined = 0
        self.all_in = asyncio.Event()
        self.stop = asyncio.Event()

    def join(self) -> None:
        self.joined += 1
        if self.joined == self.viewers:
            self.all_in.set()


async def person(served: Served, sid: int, i: int, stage: Stage) -> None:
    """Someone watching: their own address and cookie, a ping every 0.5 s, playback, two taps."""
    headers = {"Cookie": await cookie_of(served, sid), "X-Forwarded-For": f"10.{i}.3.4"}
    async with connect(room_url(served, sid), additional_headers=headers) as ws:
        reader = asyncio.create_task(drain(ws))
        stage.join()
        stop = stage.stop
        await ws.send(orjson.dumps({"type": "playing"}).decode())
        await ws.send(orjson.dumps({"type": "like", "count": 2}).decode())
        while not stop.is_set():
            await ws.send('"ping"')
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
        reader.cancel()


async def bot(served: Served, sid: int, cookie: str, liker: bool, stage: Stage) -> None:
    """A script: one address, one cookie for all, no ping, no playback; likers send flat out."""
    headers = {"Cookie": cookie, "X-Forwarded-For": "198.51.100.7"}
    async with connect(room_url(served, sid), additional_headers=headers) as ws:
        reader = asyncio.create_task(drain(ws))
        stage.join()
        stop = stage.stop
        while not stop.is_set():
            if liker:
                await ws.send(orjson.dumps({"type": "like", "count": 50}).decode())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.05)
        reader.cancel()


async def play(served: Served, org: LiveOrg, sid: int, people: int, bots: int, seconds: float) -> list[str]:
    """Play the show for `seconds` once its viewers are all in, let every socket go, end the show as its host
    does; the rules' alerts (rule ids) once the outbox has delivered the end."""
    ctx = served.app.state.ctx
    stage = Stage(people + bots)
    bot_cookie = await cookie_of(served, sid)
    tasks = [asyncio.create_task(person(served, sid, i, stage)) for i in range(people)]
    tasks += [asyncio.create_task(bot(served, sid, bot_cookie, i < 5, stage)) for i in range(bots)]
    await asyncio.wait_for(stage.all_in.wait(), 30)
    await asyncio.sleep(seconds)
    stage.stop.set()
    await asyncio.gather(*tasks)

    async def all_closed() -> bool:
        async with ctx.uow(write=False) as uow:
            rows = (await uow.session.scalars(sa.select(RoomConnection).where(RoomConnection.session_id == sid))).all()
        return len(rows) == people + bots and all(row.left_at is not None for row in rows)

    await wait_for(all_closed, within_s=20, what="every connection journalled")
    ended = await org["host"].post(f"/api/v1/sessions/{sid}/end")
    assert ended.status_code == 200, ended.text
    await ctx.relay.drain()
    async with ctx.uow(write=False) as uow:
        alerts = (await uow.session.scalars(sa.select(IntegrityAlert).where(IntegrityAlert.session_id == sid))).all()
    return sorted(a.rule for a in alerts if a.rule in {rule.__name__ for rule in rt.TRAFFIC_RULES})


async def test_a_show_with_scripted_viewers_raises_the_four_alerts(served: Served) -> None:
    org = await make_live_org(served.app, served.client, "traffic-bots")
    sid = await live_session(org)
    await served.app.state.ctx.relay.drain()
    rules = await play(served, org, sid, people=12, bots=20, seconds=3.0)
    assert rules == sorted([rt.INHUMAN_LIKE_RATE, rt.JOIN_BURST, rt.SOCKETS_WITHOUT_PLAYBACK, rt.VIEWERS_UNSUPPORTED])
    async with served.app.state.ctx.uow(write=False) as uow:
        alerts = {
            a.rule: a.evidence
            for a in (await uow.session.scalars(sa.select(IntegrityAlert).where(IntegrityAlert.session_id == sid)))
        }
    assert alerts[rt.SOCKETS_WITHOUT_PLAYBACK]["no_playback"] == 20
    assert ("ip", "198.51.100.7") in {(b["key"], b["value"]) for b in alerts[rt.JOIN_BURST]["bursts"]}
    peak = next(x for x in alerts[rt.VIEWERS_UNSUPPORTED]["figures"] if x["figure"] == "peak_viewers")
    assert peak["published"] >= 25 and peak["supported"] == 12
    assert alerts[rt.INHUMAN_LIKE_RATE]["fast_connections"] == 5
    assert {x["ip"] for x in alerts[rt.INHUMAN_LIKE_RATE]["sample"]} == {"198.51.100.7"}


async def test_a_show_watched_by_people_raises_none(served: Served) -> None:
    org = await make_live_org(served.app, served.client, "traffic-people")
    sid = await live_session(org)
    await served.app.state.ctx.relay.drain()
    assert await play(served, org, sid, people=12, bots=0, seconds=3.0) == []
    async with served.app.state.ctx.uow(write=False) as uow:
        figures = await uow.session.get(RoomFigures, sid)
    assert figures is not None and figures.peak_viewers == 12  # judged, and backed
