"""Lucky draws: public terms and the prize cap, who may run and who may enter a draw, a seed that
stays secret until drawn, winners anyone can recompute with scripts/verify_draw.py (and a
tampered record that the script rejects), keyword entry from chat. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import html
import json
import random
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.accounts.models import User
from fieldcast.db.audit import AuditEntry
from fieldcast.draws import actions as draw_actions
from fieldcast.draws.events import DrawAnnounced, DrawCancelled, DrawDrawn, DrawOpened
from fieldcast.draws.models import REASON_MAX, LuckyDraw
from fieldcast.draws.verify import check_published, pick_winners
from fieldcast.i18n import N_, gettext
from fieldcast.realtime.events import event_model
from tests.factories import LiveOrg, create_draw, draw_body, live_session, make_live_org, sign_up, viewers
from tests.helpers import room_events, room_frames
from tests.live.conftest import post_form

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "verify_draw.py"


@pytest.fixture
async def org(app: FastAPI, make_client: Callable[[], httpx.AsyncClient]) -> LiveOrg:
    return await make_live_org(app, make_client, "jingyu")


async def stored_seed(app: FastAPI, draw_id: int) -> str:
    async with app.state.ctx.uow() as uow:
        seed = await uow.session.scalar(sa.select(LuckyDraw.seed).where(LuckyDraw.id == draw_id))
    assert seed
    return str(seed)


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the script as a stranger would: `-S` leaves out site-packages, so Fieldcast is not
    importable and the script must load verify.py from the checkout by path."""
    return subprocess.run(
        [sys.executable, "-S", str(SCRIPT), *args], capture_output=True, text=True, timeout=60, check=False, cwd="/"
    )


# -- terms ----------------------------------------------------------------------------------------


async def test_prize_value_is_capped_at_fifty_thousand_yuan(org: LiveOrg) -> None:
    session_id = await live_session(org, start=False)
    url = f"/api/v1/sessions/{session_id}/draws"
    r = await org["host"].post(url, json=draw_body(prize_value_fen=5_000_001))
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "prize_value_fen"
    for bad in (0, -1):
        r = await org["host"].post(url, json=draw_body(prize_value_fen=bad))
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "prize_value_fen"
    created = await create_draw(org, session_id, prize_value_fen=5_000_000)
    assert created["prize_value_fen"] == 5_000_000 and created["state"] == "announced"


async def test_keyword_rule_needs_a_short_keyword(org: LiveOrg) -> None:
    session_id = await live_session(org, start=False)
    url = f"/api/v1/sessions/{session_id}/draws"
    r = await org["host"].post(url, json=draw_body(entry_rule="keyword"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "keyword"
    r = await org["host"].post(url, json=draw_body(entry_rule="keyword", keyword="蓝" * 21))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "keyword"
    r = await org["host"].post(url, json=draw_body(winners_count=0))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "winners_count"


async def test_terms_are_public_before_the_draw_opens(
    org: LiveOrg, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    session_id = await live_session(org, start=False)
    created = await create_draw(org, session_id, entry_rule="keyword", keyword="蓝莓")
    anon = make_client()
    listed = (await anon.get(f"/api/v1/sessions/{session_id}/draws")).json()
    assert [d["id"] for d in listed] == [created["id"]]
    view = (await anon.get(f"/api/v1/draws/{created['id']}")).json()
    assert {k: view[k] for k in ("prize_title", "prize_value_fen", "winners_count", "entry_rule", "keyword")} == {
        "prize_title": "靖宇蓝莓 5斤装",
        "prize_value_fen": 7900,
        "winners_count": 3,
        "entry_rule": "keyword",
        "keyword": "蓝莓",
    }
    assert view["seed_hash"] is None and view["seed"] is None
    # Opening waits for the show to be live.
    r = await org["host"].post(f"/api/v1/draws/{created['id']}/open")
    assert r.status_code == 409, r.text


# -- who may do what ------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["supplier", "outsider", "other_host", "anonymous"])
async def test_only_session_operators_run_draws(
    org: LiveOrg, app: FastAPI, make_client: Callable[[], httpx.AsyncClient], who: str
) -> None:
    session_id = await live_session(org)
    announced = await create_draw(org, session_id)
    opened = await create_draw(org, session_id)
    assert (await org["organiser"].post(f"/api/v1/draws/{opened['id']}/open")).status_code == 200
    if who == "other_host":
        actor = (await make_live_org(app, make_client, "fusong"))["host"]
    elif who == "anonymous":
        actor = make_client()
    else:
        actor = org[who]
    expected = 401 if who == "anonymous" else 403
    r = await actor.post(f"/api/v1/sessions/{session_id}/draws", json=draw_body())
    assert r.status_code == expected, r.text
    assert (await actor.post(f"/api/v1/draws/{announced['id']}/open")).status_code == expected
    assert (await actor.post(f"/api/v1/draws/{opened['id']}/draw")).status_code == expected
    r = await actor.post(f"/api/v1/draws/{opened['id']}/cancel", json={"reason": "不想抽了"})
    assert r.status_code == expected
    assert (await org["outsider"].get(f"/api/v1/draws/{opened['id']}")).json()["state"] == "open"


@pytest.mark.parametrize("who", ["host", "organiser", "owner", "supplier", "admin"])
async def test_the_show_and_its_organisation_cannot_enter(org: LiveOrg, who: str) -> None:
    session_id = await live_session(org)
    draw = await create_draw(org, session_id)
    assert (await org["host"].post(f"/api/v1/draws/{draw['id']}/open")).status_code == 200
    r = await org[who].post(f"/api/v1/draws/{draw['id']}/enter")
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "draw_not_eligible"


async def test_anonymous_cannot_enter_and_entering_twice_is_a_no_op(
    org: LiveOrg, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    session_id = await live_session(org)
    draw = await create_draw(org, session_id)
    url = f"/api/v1/draws/{draw['id']}/enter"
    (viewer,) = await viewers(make_client, 1)
    assert (await viewer.post(url)).status_code == 409  # not open yet
    assert (await org["host"].post(f"/api/v1/draws/{draw['id']}/open")).status_code == 200
    assert (await make_client().post(url)).status_code == 401
    first = await viewer.post(url)
    assert first.status_code == 200 and first.json() == {"draw_id": draw["id"], "created": True, "label": "观**"}
    again = await viewer.post(url)
    assert again.status_code == 200 and again.json()["created"] is False
    entrants = (await viewer.get(f"/api/v1/draws/{draw['id']}/entrants")).json()
    assert entrants["count"] == 1 and len(entrants["entrants"]) == 1


async def test_the_room_tells_an_entrant_they_are_in_and_the_winners_get_a_notification(
    org: LiveOrg, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    session_id = await live_session(org)
    draw = await create_draw(org, session_id, winners_count=2)
    assert (await org["host"].post(f"/api/v1/draws/{draw['id']}/open")).status_code == 200
    people = await viewers(make_client, 3)
    entered, bystander = people[:2], people[2]
    for person in entered:
        assert (await person.post(f"/api/v1/draws/{draw['id']}/enter")).status_code == 200

    # The card says "you're in" to whoever entered (after a reload too), not to the others: the
    # page is the same for all (the text waits in it), the room's /me names the draws entered.
    card = re.compile(rf'<li class="card draw-card"[^>]*data-draw-id="{draw["id"]}"[^>]*>')
    page = (await entered[0].get(f"/live/{session_id}")).text
    assert 'data-entered="y"' not in card.search(page).group(0)  # type: ignore[union-attr]
    assert "您已参加本次抽奖" in page or "You're in this draw" in page
    me = f"/api/v1/sessions/{session_id}/me"
    assert (await entered[0].get(me)).json()["entered_draw_ids"] == [draw["id"]]
    assert (await bystander.get(me)).json()["entered_draw_ids"] == []
    assert (await make_client().get(me)).status_code == 401

    r = await org["host"].post(f"/api/v1/draws/{draw['id']}/draw")
    assert r.status_code == 200 and len(r.json()["winners"]) == 2
    # Drawing again is refused, so nobody is told twice.
    assert (await org["host"].post(f"/api/v1/draws/{draw['id']}/draw")).status_code == 409
    for person in entered:
        won = [n for n in (await person.get("/api/v1/me/notifications")).json()["items"] if n["kind"] == "draw_won"]
        assert [(n["session_id"], n["url"]) for n in won] == [(session_id, f"/live/{session_id}")]
        assert "靖宇蓝莓助农直播" in won[0]["text"]
    for other in (bystander, org["host"], org["organiser"]):
        items = (await other.get("/api/v1/me/notifications")).json()["items"]
        assert all(n["kind"] != "draw_won" for n in items)


# -- verifiability --------------------------------------------------------------------------------


async def test_seed_is_secret_until_drawn_and_the_script_verifies_the_result(
    org: LiveOrg, app: FastAPI, make_client: Callable[[], httpx.AsyncClient], tmp_path: Path
) -> None:
    session_id = await live_session(org)
    draw = await create_draw(org, session_id)
    draw_id = draw["id"]
    opened = await org["host"].post(f"/api/v1/draws/{draw_id}/open")
    assert opened.status_code == 200, opened.text
    seed = await stored_seed(app, draw_id)
    assert opened.json()["seed_hash"] == hashlib.sha256(bytes.fromhex(seed)).hexdigest()

    people = await viewers(make_client, 6)
    for person in people:
        assert (await person.post(f"/api/v1/draws/{draw_id}/enter")).status_code == 200
    anon = make_client()
    public_reads = [
        f"/api/v1/draws/{draw_id}",
        f"/api/v1/draws/{draw_id}/entrants",
        f"/api/v1/sessions/{session_id}/draws",
        f"/api/v1/sessions/{session_id}",
    ]
    raw = [opened.text, *[(await anon.get(path)).text for path in public_reads]]
    raw += [f.decode() for f in await room_frames(app, session_id)]
    for text in raw:
        assert seed not in text and seed.upper() not in text

    early = tmp_path / "early.json"
    early.write_text(
        json.dumps(
            {"draw": (await anon.get(public_reads[0])).json(), "entrants": (await anon.get(public_reads[1])).json()}
        ),
        encoding="utf-8",
    )
    not_yet = run_script("--file", str(early))
    assert not_yet.returncode == 1 and "NOT VERIFIABLE YET" in not_yet.stdout

    drawn = await org["host"].post(f"/api/v1/draws/{draw_id}/draw")
    assert drawn.status_code == 200, drawn.text
    view = (await anon.get(f"/api/v1/draws/{draw_id}")).json()
    entrants = (await anon.get(f"/api/v1/draws/{draw_id}/entrants")).json()
    assert view["state"] == "drawn" and view["seed"] == seed
    assert hashlib.sha256(bytes.fromhex(view["seed"])).hexdigest() == view["seed_hash"]
    ids = [e["user_id"] for e in entrants["entrants"]]
    assert ids == sorted(ids) and view["entrant_count"] == len(ids) == 6
    winners = [w["user_id"] for w in view["winners"]]
    assert winners == pick_winners(bytes.fromhex(seed), draw_id, ids, view["winners_count"])
    assert len(winners) == 3 and len(set(winners)) == 3 and set(winners) <= set(ids)
    assert check_published(view, entrants["entrants"]) == []

    record = tmp_path / "draw.json"
    record.write_text(json.dumps({"draw": view, "entrants": entrants}), encoding="utf-8")
    ok = run_script("--file", str(record))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.strip().endswith("OK")

    other_seed = "00" * 32
    # An added entrant need not change who wins (then the list is consistent and nothing was
    # rigged): pick one whose presence would change the winners.
    seed_bytes, listed = bytes.fromhex(view["seed"]), [e["user_id"] for e in entrants["entrants"]]
    hired = next(
        uid
        for uid in range(10**6, 10**6 + 1000)
        if pick_winners(seed_bytes, draw_id, [*listed, uid], view["winners_count"])
        != pick_winners(seed_bytes, draw_id, listed, view["winners_count"])
    )
    tampered = [
        {"draw": {**view, "seed": other_seed}, "entrants": entrants},  # a different seed
        {"draw": view, "entrants": {**entrants, "entrants": entrants["entrants"][1:]}},  # someone left out
        {  # the list swapped for one with an extra (hired) entrant who changes the result
            "draw": {**view, "entrant_count": 7},
            "entrants": {**entrants, "entrants": [*entrants["entrants"], {"user_id": hired, "label": "托**"}]},
        },
        {  # first and second prize swapped
            "draw": {
                **view,
                "winners": [{**w, "rank": 3 - w["rank"] if w["rank"] < 3 else 3} for w in view["winners"]],
            },
            "entrants": entrants,
        },
    ]
    for i, document in enumerate(tampered):
        path = tmp_path / f"tampered{i}.json"
        path.write_text(json.dumps(document), encoding="utf-8")
        bad = run_script("--file", str(path))
        assert bad.returncode == 1, (i, bad.stdout + bad.stderr)
        assert "MISMATCH" in bad.stdout, i

    # Drawing again is refused; the record does not change.
    assert (await org["host"].post(f"/api/v1/draws/{draw_id}/draw")).status_code == 409
    assert (await people[0].post(f"/api/v1/draws/{draw_id}/enter")).status_code == 409


async def test_the_script_fetches_over_http(
    org: LiveOrg, make_client: Callable[[], httpx.AsyncClient], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--url mode, with urllib answered from the app in-process (tests reach nothing beyond loopback)."""
    session_id = await live_session(org)
    draw = await create_draw(org, session_id, winners_count=1)
    await org["host"].post(f"/api/v1/draws/{draw['id']}/open")
    for person in await viewers(make_client, 2):
        await person.post(f"/api/v1/draws/{draw['id']}/enter")
    await org["host"].post(f"/api/v1/draws/{draw['id']}/draw")
    anon = make_client()
    pages = {
        f"http://testserver/api/v1/draws/{draw['id']}": (await anon.get(f"/api/v1/draws/{draw['id']}")).json(),
        f"http://testserver/api/v1/draws/{draw['id']}/entrants": (
            await anon.get(f"/api/v1/draws/{draw['id']}/entrants")
        ).json(),
    }
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import verify_draw
    finally:
        sys.path.remove(str(SCRIPT.parent))
    monkeypatch.setattr(verify_draw, "fetch_json", lambda url: pages[url])
    saved = tmp_path / "saved.json"
    assert verify_draw.main(["--url", f"http://testserver/api/v1/draws/{draw['id']}", "--save", str(saved)]) == 0
    assert run_script("--file", str(saved)).returncode == 0


async def test_a_draw_with_fewer_entrants_than_prizes_gives_each_entrant_one(
    org: LiveOrg, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    session_id = await live_session(org)
    empty = await create_draw(org, session_id, winners_count=5)
    small = await create_draw(org, session_id, winners_count=5)
    for d in (empty, small):
        assert (await org["host"].post(f"/api/v1/draws/{d['id']}/open")).status_code == 200
    for person in await viewers(make_client, 2):
        assert (await person.post(f"/api/v1/draws/{small['id']}/enter")).status_code == 200
    r = await org["host"].post(f"/api/v1/draws/{small['id']}/draw")
    assert r.status_code == 200 and len(r.json()["winners"]) == 2 == r.json()["entrant_count"]
    r = await org["host"].post(f"/api/v1/draws/{empty['id']}/draw")
    assert r.status_code == 200 and r.json()["winners"] == [] and r.json()["state"] == "drawn"


async def test_cancel_needs_a_reason_is_audited_and_reveals_an_opened_seed(org: LiveOrg, app: FastAPI) -> None:
    session_id = await live_session(org)
    draw = await create_draw(org, session_id)
    await org["host"].post(f"/api/v1/draws/{draw['id']}/open")
    seed = await stored_seed(app, draw["id"])
    r = await org["organiser"].post(f"/api/v1/draws/{draw['id']}/cancel", json={"reason": ""})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"
    r = await org["organiser"].post(f"/api/v1/draws/{draw['id']}/cancel", json={"reason": "奖品库存不足，改日再抽"})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "cancelled" and r.json()["seed"] == seed
    assert r.json()["cancel_reason"] == "奖品库存不足，改日再抽"
    assert (
        await org["organiser"].post(f"/api/v1/draws/{draw['id']}/cancel", json={"reason": "再取消"})
    ).status_code == 409
    assert (await org["host"].post(f"/api/v1/draws/{draw['id']}/draw")).status_code == 409
    async with app.state.ctx.uow() as uow:
        entries = list(
            await uow.session.scalars(
                sa.select(AuditEntry).where(AuditEntry.target_type == "lucky_draw").order_by(AuditEntry.id)
            )
        )
    assert [e.action for e in entries] == ["draw.create", "draw.open", "draw.cancel"]
    assert entries[-1].reason == "奖品库存不足，改日再抽"
    assert entries[-1].actor_id == org.ids["organiser"]


async def test_one_rule_for_a_cancel_reason_through_the_api_and_the_console(org: LiveOrg, app: FastAPI) -> None:
    """2 to 500 characters once trimmed, and the rule is cancel_draw's: the API and the console
    refuse the same reasons with the same message on the field, change nothing, and never cut a
    reason short."""
    session_id = await live_session(org)
    draw = await create_draw(org, session_id)
    api, page = f"/api/v1/draws/{draw['id']}/cancel", f"/live/{session_id}/draws/{draw['id']}/cancel"
    too_long = gettext(N_("Must be at most %(max_length)s characters."), max_length=REASON_MAX)
    missing = gettext(N_("Give a reason for cancelling the draw: it is shown in the room."))
    for reason, message in (("好" * (REASON_MAX + 1), too_long), ("   ", missing), (" x ", missing)):
        r = await org["host"].post(api, json={"reason": reason})
        assert r.status_code == 422, r.text
        assert [(e["field"], e["message"]) for e in r.json()["errors"]] == [("reason", message)]
        shown = await post_form(org["host"], page, {"reason": reason})
        assert shown.status_code == 422
        card = shown.text.split(f'data-draw-id="{draw["id"]}"', 1)[1].split("</li>", 1)[0]
        error = re.search(r'data-testid="error-reason">([^<]*)<', card)
        assert error is not None and html.unescape(error.group(1)) == message, card
        assert "<details open" in card and f'value="{reason}"' in card  # shown again, as typed
    state = (await org["host"].get(f"/api/v1/draws/{draw['id']}")).json()
    assert (state["state"], state["cancel_reason"]) == ("announced", "")
    async with app.state.ctx.uow() as uow:
        cancels = await uow.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "draw.cancel"))
        assert list(cancels) == []

    at_the_limit = "好" * REASON_MAX
    assert (await post_form(org["host"], page, {"reason": f"  {at_the_limit}  "})).status_code == 303
    state = (await org["host"].get(f"/api/v1/draws/{draw['id']}")).json()
    assert (state["state"], state["cancel_reason"]) == ("cancelled", at_the_limit)


async def test_entry_window_closes_and_the_host_cannot_draw_early(
    org: LiveOrg, app: FastAPI, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    session_id = await live_session(org)
    draw = await create_draw(org, session_id)
    r = await org["host"].post(f"/api/v1/draws/{draw['id']}/open", json={"duration_s": 60})
    assert r.status_code == 200 and r.json()["closes_at"] is not None
    early, late = await viewers(make_client, 2)
    assert (await early.post(f"/api/v1/draws/{draw['id']}/enter")).status_code == 200
    assert (await org["host"].post(f"/api/v1/draws/{draw['id']}/draw")).status_code == 409
    async with app.state.ctx.uow() as uow:
        await uow.session.execute(
            sa.update(LuckyDraw)
            .where(LuckyDraw.id == draw["id"])
            .values(closes_at=LuckyDraw.opened_at)  # as if the minute had passed
        )
    assert (await late.post(f"/api/v1/draws/{draw['id']}/enter")).status_code == 409
    r = await org["host"].post(f"/api/v1/draws/{draw['id']}/draw")
    assert r.status_code == 200 and r.json()["entrant_count"] == 1


# -- keyword entry from chat ----------------------------------------------------------------------


async def test_keyword_entry_comes_from_chat_comments(
    org: LiveOrg, app: FastAPI, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    session_id = await live_session(org)
    blueberry = await create_draw(org, session_id, entry_rule="keyword", keyword="蓝莓")
    latin = await create_draw(org, session_id, entry_rule="keyword", keyword="Fengcheng")
    presence = await create_draw(org, session_id)
    announced = await create_draw(org, session_id, entry_rule="keyword", keyword="木耳")
    for d in (blueberry, latin, presence):
        assert (await org["host"].post(f"/api/v1/draws/{d['id']}/open")).status_code == 200
    viewer = make_client()
    me = await sign_up(viewer, "fan@example.com", "李大爷")
    # The enter button does not enter a keyword draw: the comment does.
    r = await viewer.post(f"/api/v1/draws/{blueberry['id']}/enter")
    assert r.status_code == 403 and r.json()["code"] == "draw_not_eligible"

    async def comment(user_id: int, text: str) -> list[int]:
        async with app.state.ctx.uow() as uow:
            user = await uow.session.get(User, user_id)
            assert user is not None
            return await draw_actions.enter_by_comment(uow, user, session_id, text)

    assert await comment(me["id"], "主播好！") == []
    assert await comment(me["id"], "我要蓝莓，还要木耳 ＦＥＮＧＣＨＥＮＧ") == [blueberry["id"], latin["id"]]
    assert await comment(me["id"], "蓝莓蓝莓蓝莓") == []  # already in: no duplicate
    assert await comment(org.ids["host"], "蓝莓") == []  # the host's own comment enters nothing, and does not fail
    entrants = (await viewer.get(f"/api/v1/draws/{blueberry['id']}/entrants")).json()
    assert [(e["user_id"], e["label"]) for e in entrants["entrants"]] == [(me["id"], "李**")]
    assert (await viewer.get(f"/api/v1/draws/{presence['id']}/entrants")).json()["count"] == 0
    assert (await viewer.get(f"/api/v1/draws/{announced['id']}/entrants")).json()["count"] == 0


# -- the event contract ---------------------------------------------------------------------------


async def test_draw_events_follow_their_schema(
    org: LiveOrg, app: FastAPI, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    session_id = await live_session(org)
    draw = await create_draw(org, session_id)
    await org["host"].post(f"/api/v1/draws/{draw['id']}/open")
    (person,) = await viewers(make_client, 1)
    await person.post(f"/api/v1/draws/{draw['id']}/enter")
    await org["host"].post(f"/api/v1/draws/{draw['id']}/draw")
    other = await create_draw(org, session_id)
    await org["host"].post(f"/api/v1/draws/{other['id']}/cancel", json={"reason": "主持人口误"})
    events = [e for e in await room_events(app, session_id) if e["type"].startswith("draw.")]
    assert [e["type"] for e in events] == [
        "draw.announced",
        "draw.opened",
        "draw.drawn",
        "draw.announced",
        "draw.cancelled",
    ]
    models = {DrawAnnounced, DrawOpened, DrawDrawn, DrawCancelled}
    for e in events:
        model = event_model(e["type"])
        assert model in models
        model.model_validate(e["data"])
    drawn = DrawDrawn.model_validate(events[2]["data"])
    assert drawn.entrant_count == 1 and [w.label for w in drawn.winners] == ["观**"]
    assert drawn.seed_hash == DrawOpened.model_validate(events[1]["data"]).seed_hash
    assert DrawCancelled.model_validate(events[4]["data"]).seed is None  # never opened: no seed exists


# -- the algorithm itself -------------------------------------------------------------------------


@pytest.mark.parametrize("case", range(200))
def test_pick_winners_is_deterministic_distinct_and_order_free(case: int) -> None:
    rng = random.Random(case)
    seed = rng.randbytes(32)
    draw_id = rng.randint(1, 10**9)
    ids = rng.sample(range(1, 10**9), rng.randint(0, 60))
    n = rng.randint(1, 80)
    winners = pick_winners(seed, draw_id, ids, n)
    assert len(winners) == min(n, len(ids)) and len(set(winners)) == len(winners) and set(winners) <= set(ids)
    assert pick_winners(seed, draw_id, list(reversed(ids)), n) == winners
    # Rank r's winner does not depend on how many prizes come after it.
    assert pick_winners(seed, draw_id, ids, 1) == winners[:1]


def test_pick_winners_known_answer_and_duplicates() -> None:
    """Pinned output: a change to the algorithm would break every published draw's verification."""
    seed = bytes(range(32))
    assert pick_winners(seed, 7, [5, 3, 9, 1, 12], 3) == pick_winners(seed, 7, [1, 3, 5, 9, 12], 3)
    assert pick_winners(seed, 7, [1, 3, 5, 9, 12], 3) == KNOWN_ANSWER
    assert pick_winners(seed, 8, [1, 3, 5, 9, 12], 5) != pick_winners(seed, 7, [1, 3, 5, 9, 12], 5)
    with pytest.raises(ValueError, match="twice"):
        pick_winners(seed, 7, [1, 1, 2], 1)


KNOWN_ANSWER = [5, 9, 12]
