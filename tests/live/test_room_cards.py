"""Room cards on the home page and the lists of rooms: a live room shows its newest still, else its
cover, else a placeholder drawn by CSS (never a broken image); a live room shows how many watch it
now (the room counters' presence, as the room page's counter); every card names its hosts with
their badges. However many rooms are live, the page costs the same queries. SQLite and PostgreSQL."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from fieldcast.config import Settings
from fieldcast.live.paths import still_media_path
from tests.conftest import QueryCounter
from tests.factories import LiveOrg, live_session, make_live_org, png_bytes

EN = {"accept-language": "en-US,en;q=0.9"}


@pytest.fixture
async def org(app: FastAPI, make_client: Callable[[], httpx.AsyncClient]) -> LiveOrg:
    return await make_live_org(app, make_client, "cards")


def card_of(page: str, session_id: int) -> str:
    found = re.search(rf'<li class="card session-card"[^>]*data-session-id="{session_id}".*?</li>', page, re.S)
    assert found is not None, f"no card for session {session_id}"
    return found.group(0)


def write_still(settings: Settings, session_id: int) -> Path:
    path = settings.resolved_media_dir / still_media_path(session_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8\xff\xe0 a jpeg")  # the card only asks whether there is one
    return path


async def official_on_air(org: LiveOrg, **overrides: object) -> int:
    """A show the official hosts (alone, or with the first secretary), started by the official."""
    session_id = await live_session(org, start=False, **{"host_ids": [org.ids["official"]], **overrides})
    r = await org["official"].post(f"/api/v1/sessions/{session_id}/start")
    assert r.status_code == 200, r.text
    return session_id


async def set_cover(org: LiveOrg, session_id: int) -> str:
    r = await org["organiser"].post(
        f"/api/v1/sessions/{session_id}/cover", files={"image": ("cover.png", png_bytes((640, 360)), "image/png")}
    )
    assert r.status_code == 200, r.text
    cover: str = r.json()["cover_url"]
    return cover


async def test_home_cards_show_still_cover_or_placeholder_viewers_and_hosts(
    app: FastAPI, org: LiveOrg, settings: Settings
) -> None:
    with_still = await live_session(org, title="有画面的直播间")
    with_cover = await official_on_air(org, title="有封面的直播间")
    bare = await live_session(org, title="什么都没有的直播间")
    upcoming = await live_session(org, start=False, title="明天开播")
    still = write_still(settings, with_still)
    write_still(settings, upcoming)  # a still left over: only a room on air shows one
    await set_cover(org, with_still)  # the still wins over the cover while live
    cover = await set_cover(org, with_cover)
    cover_upcoming = await set_cover(org, upcoming)
    counters = app.state.ctx.room_hub.counters
    await counters.report_presence(with_still, "proc-a", 2, 0)
    await counters.report_presence(with_still, "proc-b", 1, 0)
    await counters.report_presence(with_cover, "proc-a", 1, 0)

    page = (await org["outsider"].get("/")).text

    card = card_of(page, with_still)
    stamp = still.stat().st_mtime_ns // 1_000_000
    assert f'<img src="/media/stills/{with_still}.jpg?v={stamp}"' in card and 'data-picture="still"' in card
    assert re.search(r'data-testid="card-viewers" data-viewers="3">3 人在看<', card)
    host = (await org["outsider"].get(f"/api/v1/sessions/{with_still}")).json()["hosts"][0]
    assert f'<span data-testid="card-host">{host["display_name"]}</span>' in card
    assert 'data-testid="badge-verified"' in card and 'data-testid="badge-official"' not in card

    card = card_of(page, with_cover)
    assert f'<img src="{cover}"' in card and 'data-picture="cover"' in card
    assert 'data-viewers="1">1 人在看<' in card
    assert 'data-testid="badge-verified"' in card and 'data-testid="badge-official"' in card

    card = card_of(page, bare)
    assert "<img" not in card
    placeholder = (
        '<span class="cover placeholder" aria-hidden="true" data-testid="card-picture" data-picture="placeholder">'
    )
    assert placeholder in card
    assert 'data-viewers="0">0 人在看<' in card  # live, nobody watching yet

    card = card_of(page, upcoming)
    assert f'<img src="{cover_upcoming}"' in card and "stills/" not in card
    assert 'data-testid="card-viewers"' not in card

    english = (await org["outsider"].get("/", headers=EN)).text
    assert 'data-viewers="3">3 watching<' in card_of(english, with_still)
    # The same cards on the list of rooms.
    listed = (await org["outsider"].get("/live")).text
    assert f"/media/stills/{with_still}.jpg?v={stamp}" in card_of(listed, with_still)
    assert 'data-viewers="3"' in card_of(listed, with_still)


async def test_a_new_still_is_a_new_picture_url(org: LiveOrg, settings: Settings) -> None:
    session_id = await live_session(org)
    still = write_still(settings, session_id)
    first = re.findall(r'src="(/media/stills/[^"]+)"', card_of((await org["outsider"].get("/")).text, session_id))
    later = still.stat().st_mtime_ns + 5_000_000_000
    os.utime(still, ns=(later, later))  # the next grab, five seconds on
    second = re.findall(r'src="(/media/stills/[^"]+)"', card_of((await org["outsider"].get("/")).text, session_id))
    assert first and second and first != second


async def test_home_costs_the_same_queries_however_many_rooms_are_live(
    app: FastAPI, org: LiveOrg, settings: Settings, queries: QueryCounter
) -> None:
    async def home_queries() -> int:
        async with queries.counting() as statements:
            r = await org["outsider"].get("/")
        assert r.status_code == 200, r.text
        return len(statements)

    first = await live_session(org)
    await set_cover(org, first)
    write_still(settings, first)
    await live_session(org, start=False)
    one_live = await home_queries()

    for n in range(4):
        session_id = await official_on_air(org, host_ids=[org.ids["host"], org.ids["official"]])
        if n % 2:
            await set_cover(org, session_id)
            write_still(settings, session_id)
        await app.state.ctx.room_hub.counters.report_presence(session_id, "proc-a", n, 0)
        await live_session(org, start=False)

    page = (await org["outsider"].get("/")).text
    assert page.count('data-testid="card-viewers"') == 5
    assert await home_queries() == one_live
