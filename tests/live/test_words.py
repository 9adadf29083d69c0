"""Words for people: counts with a plural noun go through ngettext, claim-checker rule codes reach
hosts by their names, and the draw check is a page rather than a command line."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from typing import get_args

import httpx

from fieldcast.catalog.claims import Rule
from tests.factories import LiveOrg, create_draw, live_session

EN = {"accept-language": "en-US,en;q=0.9"}


async def test_the_console_says_1_winner_and_2_winners(live_org: LiveOrg) -> None:
    room = await live_session(live_org)
    await create_draw(live_org, room, prize_title="一等奖", winners_count=1)
    await create_draw(live_org, room, prize_title="二等奖", winners_count=2)
    en = (await live_org["host"].get(f"/live/{room}/console", headers=EN)).text
    assert re.search(r"一等奖</strong> · [^·]+ · 1 winner ·", en), en
    assert re.search(r"二等奖</strong> · [^·]+ · 2 winners ·", en)
    assert "1 winners" not in en
    zh = (await live_org["host"].get(f"/live/{room}/console")).text
    assert "1 名中奖者" in zh and "2 名中奖者" in zh


async def test_claim_rules_reach_the_room_by_their_names(live_org: LiveOrg) -> None:
    room = await live_session(live_org)
    for headers, expected in (({}, "绝对化用语"), (EN, "Absolute term")):
        page = (await live_org["host"].get(f"/live/{room}", headers=headers)).text
        found = re.search(r'data-t-rules="([^"]*)"', page)
        assert found, "the chat section carries the rule names for its warnings"
        names = json.loads(html.unescape(found.group(1)))
        assert set(names) == set(get_args(Rule))  # every code the checker can send has a name
        assert names["absolute_term"] == expected
        assert not any(code in name for code in get_args(Rule) for name in names.values())

    # The chat answer carries the code; the room script shows the name from that map.
    r = await live_org["host"].post(f"/api/v1/sessions/{room}/chat", json={"body": "全网最好的蓝莓"})
    assert r.status_code in (200, 201), r.text
    assert [w["rule"] for w in r.json()["warnings"]] == ["absolute_term"]


async def test_the_draw_check_page_shows_the_published_draw(
    live_org: LiveOrg, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    room = await live_session(live_org)
    draw = await create_draw(live_org, room)
    anonymous = make_client()
    page = await anonymous.get(f"/draws/{draw['id']}/verify")
    assert page.status_code == 200
    assert 'data-testid="verify-status"' in page.text and "/static/draw_verify.js" in page.text
    assert f"scripts/verify_draw.py --url http://testserver/api/v1/draws/{draw['id']}" in page.text  # small print
    assert (await anonymous.get("/draws/999999/verify")).status_code == 404
