"""Shoppable clips: cut from a real replay by ffmpeg (on keyframes, no re-encode) with a poster,
limits refused with the field named, who may not cut, views counted once per viewer per window,
and an order placed from the clip's page attributed to it and counted (paid GMV)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.clips import actions as clip_actions
from fieldcast.clips.models import Clip, ClipView
from fieldcast.clips.queries import clip_figures
from fieldcast.media.clips import keyframe_offset_s, media_duration_s
from fieldcast.media.ffmpeg import ffmpeg_executable
from tests.clips.conftest import MARK_AT_S, EndedShow
from tests.commerce.buyers import make_buyer, pay
from tests.factories import MakeClient, sign_up

# Storage-touching: every test runs on SQLite and on PostgreSQL (tests/conftest.py).
ON_BOTH_BACKENDS = True
KEYFRAME_S = 1.0  # the live encoder's keyframe interval: a cut may start this much early


async def cut(app: FastAPI, client: httpx.AsyncClient, session_id: int, body: dict[str, Any]) -> dict[str, Any]:
    """Ask for a clip and let this process's cutter make it; the clip as the API then shows it."""
    r = await client.post(
        f"/api/v1/sessions/{session_id}/clips", json=body, headers={"Idempotency-Key": secrets.token_hex(8)}
    )
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "pending"  # cut off the request path
    assert await app.state.ctx.clip_cutter.cut_next()
    got = await client.get(f"/api/v1/clips/{r.json()['id']}")
    assert got.status_code == 200, got.text
    clip: dict[str, Any] = got.json()
    return clip


async def test_a_clip_between_two_points_is_cut_on_a_keyframe_with_a_poster(
    app: FastAPI, ended_show: EndedShow
) -> None:
    host = ended_show.org["host"]
    clip = await cut(app, host, ended_show.session_id, {"start_s": 6.5, "end_s": 16.0, "title": "蓝莓采摘"})
    assert clip["state"] == "ready", clip["error"]
    # Snapped to the keyframe at or before the start, never after it, and within one keyframe gap.
    assert 6.5 - KEYFRAME_S <= clip["start_s"] <= 6.5
    media = app.state.ctx.settings.resolved_media_dir
    video = media / clip["video_url"].removeprefix("/media/")
    poster = media / clip["poster_url"].removeprefix("/media/")
    measured = await media_duration_s(ffmpeg_executable(""), video)
    assert measured is not None
    # The file holds what was asked for, give or take the keyframe it starts on (and a frame).
    assert 9.5 - 0.1 <= measured <= 9.5 + KEYFRAME_S + 0.1
    assert clip["duration_s"] == pytest.approx(measured, abs=0.01)
    assert video.read_bytes()[4:8] == b"ftyp" and b"moov" in video.read_bytes()[:4096]  # faststart: index first
    assert poster.read_bytes()[:3] == b"\xff\xd8\xff"  # a JPEG
    # The clip sells what was pinned then; its page and files are served.
    assert clip["sku_id"] == ended_show.org.inspected_sku and clip["title"] == "蓝莓采摘"
    anonymous = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    async with anonymous:
        page = await anonymous.get(clip["page_url"])
        assert page.status_code == 200 and clip["video_url"] in page.text and "data:image/svg+xml" in page.text
        # Served with byte ranges (phones' players ask for them).
        part = await anonymous.get(clip["video_url"], headers={"Range": "bytes=0-99"})
        assert part.status_code == 206 and len(part.content) == 100


async def test_a_clip_around_a_mark_runs_from_before_it_to_the_set_length_after(
    app: FastAPI, ended_show: EndedShow
) -> None:
    settings = app.state.ctx.settings
    clip = await cut(app, ended_show.org["organiser"], ended_show.session_id, {"mark_id": ended_show.mark_id})
    assert clip["state"] == "ready", clip["error"]
    assert clip["mark_id"] == ended_show.mark_id and clip["sku_id"] == ended_show.org.inspected_sku
    assert clip["requested_start_s"] == pytest.approx(MARK_AT_S - settings.clip_lead_s)
    # 30 s after the mark would pass the 20 s replay's end: the clip stops at the end.
    assert clip["requested_end_s"] == pytest.approx(min(ended_show.replay_s, MARK_AT_S + settings.clip_around_length_s))
    assert MARK_AT_S - settings.clip_lead_s - KEYFRAME_S <= clip["start_s"] <= MARK_AT_S - settings.clip_lead_s


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"start_s": 2.0, "end_s": 4.0}, "end_s"),  # shorter than 5 s
        ({"start_s": 0.0, "end_s": 500.0}, "end_s"),  # past the replay's end
        ({"start_s": 25.0, "end_s": 30.0}, "start_s"),  # starts after the replay
        ({"start_s": 9.0, "end_s": 3.0}, "end_s"),  # ends before it starts
        ({"end_s": 10.0}, "start_s"),
        ({"start_s": 0.0, "end_s": 10.0, "title": "长" * 61}, "title"),
        ({"start_s": 0.0, "end_s": 10.0, "sku_id": 999_999}, "sku_id"),  # not on the shelf
        ({"start_s": 0.0, "end_s": 6.0}, "sku_id"),  # nothing pinned before 8 s: say which product
        ({"mark_id": 999_999}, "mark_id"),
        ({"start_s": -1.0, "end_s": 10.0}, "start_s"),
    ],
)
async def test_limits_are_refused_with_the_field_named(
    app: FastAPI, ended_show: EndedShow, body: dict[str, Any], field: str
) -> None:
    r = await ended_show.org["host"].post(f"/api/v1/sessions/{ended_show.session_id}/clips", json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in r.json()["errors"]] == [field]
    async with app.state.ctx.uow() as uow:
        assert await uow.session.scalar(sa.select(sa.func.count(Clip.id))) == 0


async def test_a_longer_clip_than_three_minutes_is_refused(app: FastAPI, ended_show: EndedShow) -> None:
    async with app.state.ctx.uow() as uow:  # a long show's replay
        from fieldcast.live.models import LiveSession

        live = await uow.session.get(LiveSession, ended_show.session_id)
        assert live is not None
        live.replay_duration_s = 3600.0
    r = await ended_show.org["host"].post(
        f"/api/v1/sessions/{ended_show.session_id}/clips", json={"start_s": 10.0, "end_s": 191.0}
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "end_s"


async def test_who_may_not_cut_or_see_the_figures(app: FastAPI, make_client: MakeClient, ended_show: EndedShow) -> None:
    from tests.factories import make_live_org

    other = await make_live_org(app, make_client, "otherorg")
    buyer = await make_buyer(make_client)
    anonymous = make_client()
    url = f"/api/v1/sessions/{ended_show.session_id}/clips"
    body = {"start_s": 0.0, "end_s": 10.0}
    for who, status in (
        (other["host"], 403),  # a host of another organisation
        (other["owner"], 403),  # its owner too
        (ended_show.org["supplier"], 403),  # a member of the show's organisation who runs no show
        (buyer.client, 403),
        (anonymous, 401),
    ):
        r = await who.post(url, json=body)
        assert r.status_code == status, r.text
        assert (await who.get(url)).status_code == status
    async with app.state.ctx.uow() as uow:
        assert await uow.session.scalar(sa.select(sa.func.count(Clip.id))) == 0


async def test_no_clip_before_the_replay_is_ready(app: FastAPI, make_client: MakeClient) -> None:
    from tests.factories import live_session, make_live_org

    org = await make_live_org(app, make_client, "stilllive")
    session_id = await live_session(org)
    r = await org["host"].post(f"/api/v1/sessions/{session_id}/clips", json={"start_s": 0, "end_s": 10})
    assert r.status_code == 409 and r.json()["code"] == "no_replay"


async def test_views_count_once_per_viewer_per_window(
    app: FastAPI, make_client: MakeClient, ended_show: EndedShow
) -> None:
    clip = await cut(app, ended_show.org["host"], ended_show.session_id, {"start_s": 0.0, "end_s": 10.0})
    views = f"/api/v1/clips/{clip['slug']}/views"
    viewer = make_client()
    assert (await viewer.get(clip["page_url"])).status_code == 200  # the page names the anonymous viewer
    first = await viewer.post(views)
    assert first.status_code == 200 and first.json() == {"counted": True}
    for _ in range(5):  # reloads
        await viewer.get(clip["page_url"])
        assert (await viewer.post(views)).json() == {"counted": False}
    signed_in = make_client()
    await sign_up(signed_in, "fan@example.com", "粉丝")
    signed_in.headers["X-CSRF-Token"] = (await signed_in.get("/api/v1/auth/csrf")).json()["csrf_token"]
    assert (await signed_in.post(views)).json() == {"counted": True}
    # A client that never opened the page (no viewer id, not signed in) is not a viewer.
    assert (await make_client().post(views)).json() == {"counted": False}
    # A window later the same viewer counts again.
    ctx = app.state.ctx
    async with ctx.uow() as uow:
        row = await uow.session.get(Clip, clip["id"])
        assert row is not None
        later = datetime.now(UTC) + timedelta(seconds=ctx.settings.clip_view_window_s)
        assert await clip_actions.record_view(uow, row, "u:999", window_s=ctx.settings.clip_view_window_s)
        assert await clip_actions.record_view(uow, row, "u:999", window_s=ctx.settings.clip_view_window_s, now=later)
        assert not await clip_actions.record_view(
            uow, row, "u:999", window_s=ctx.settings.clip_view_window_s, now=later
        )
    figures = (await ended_show.org["host"].get(f"/api/v1/clips/{clip['id']}")).json()
    assert figures["views"] == 4
    async with ctx.uow() as uow:
        assert await uow.session.scalar(sa.select(sa.func.count(ClipView.id))) == 4
    # An unpublished clip counts no views and is gone for the public.
    hidden = await ended_show.org["host"].patch(f"/api/v1/clips/{clip['id']}", json={"published": False})
    assert hidden.status_code == 200 and hidden.json()["published"] is False
    assert (await viewer.post(views)).json() == {"counted": False}
    assert (await viewer.get(clip["page_url"])).status_code == 404
    assert (await viewer.get(f"/api/v1/clips/{clip['slug']}")).status_code == 404


async def test_an_order_from_the_clip_is_attributed_and_counted(
    app: FastAPI, make_client: MakeClient, ended_show: EndedShow
) -> None:
    host = ended_show.org["host"]
    clip = await cut(app, host, ended_show.session_id, {"start_s": 5.0, "end_s": 15.0})
    other = await cut(
        app, host, ended_show.session_id, {"start_s": 0.0, "end_s": 6.0, "sku_id": ended_show.org.inspected_sku}
    )
    buyer = await make_buyer(make_client)
    body = {"items": [{"sku_id": ended_show.org.inspected_sku, "quantity": 2}], "address_id": buyer.address_id}
    checkout_url = f"/api/v1/clips/{clip['slug']}/checkout"
    placed = await buyer.client.post(checkout_url, json=body, headers={"Idempotency-Key": "clip-buy-1"})
    assert placed.status_code == 201, placed.text
    again = await buyer.client.post(checkout_url, json=body, headers={"Idempotency-Key": "clip-buy-1"})
    assert again.json()["id"] == placed.json()["id"]  # a retry places nothing more
    order_ids = [o["id"] for o in placed.json()["orders"]]
    assert all(o["session_id"] is None for o in placed.json()["orders"])  # the shop's price: the show ended
    # A second order, left unpaid: counted as an order, not in the paid GMV.
    unpaid = await buyer.client.post(checkout_url, json={**body, "items": [{**body["items"][0], "quantity": 1}]})
    assert unpaid.status_code == 201
    # Another product than the clip's is not sold from it.
    wrong = await buyer.client.post(
        checkout_url, json={**body, "items": [{"sku_id": ended_show.org.uninspected_sku, "quantity": 1}]}
    )
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "items"
    await pay(app, order_ids)

    figures = (await host.get(f"/api/v1/sessions/{ended_show.session_id}/clips")).json()
    by_id = {c["id"]: c for c in figures["clips"]}
    paid_total = placed.json()["amount_fen"]
    assert by_id[clip["id"]]["orders"] == 2 and by_id[clip["id"]]["paid_orders"] == 1
    assert by_id[clip["id"]]["paid_gmv_fen"] == paid_total > 0
    assert by_id[other["id"]]["orders"] == 0 and by_id[other["id"]]["paid_gmv_fen"] == 0
    assert figures["paid_gmv_fen"] == paid_total and figures["orders"] == 2
    # The query the reports read gives the same.
    async with app.state.ctx.uow() as uow:
        report = await clip_figures(uow.session, ended_show.session_id)
    assert report.model_dump(mode="json") == figures
    # Deleting the clip takes it from the public; the order stays paid and attributed in totals.
    gone = await host.delete(f"/api/v1/clips/{clip['id']}")
    assert gone.status_code == 204
    assert (await buyer.client.get(clip["page_url"])).status_code == 404
    from fieldcast.clips.queries import clip_totals

    async with app.state.ctx.uow() as uow:
        totals = (await clip_totals(uow.session, [ended_show.session_id]))[ended_show.session_id]
    assert totals.paid_fen == paid_total and totals.orders == 2


async def test_an_unpublished_clip_sells_nothing(app: FastAPI, make_client: MakeClient, ended_show: EndedShow) -> None:
    clip = await cut(
        app, ended_show.org["host"], ended_show.session_id, {"start_s": 0.0, "end_s": 8.0, "published": False}
    )
    buyer = await make_buyer(make_client)
    body = {"items": [{"sku_id": ended_show.org.inspected_sku, "quantity": 1}], "address_id": buyer.address_id}
    r = await buyer.client.post(f"/api/v1/clips/{clip['slug']}/checkout", json=body)
    assert r.status_code == 409 and r.json()["code"] == "clip_not_ready"


def test_the_keyframe_probe_reads_framecrc() -> None:
    text = (
        "#tb 0: 1/90000\n0, -90000, -90000, 3600, 10, 0x1\n0, -86400, -86400, 3600, 10, 0x1, F=0x0\n"
        "0, 0, 0, 3600, 10, 0x1, F=0x0\n0, 9000, 9000, 3600, 10, 0x1\n"
    )
    assert keyframe_offset_s(text) == -1.0
    assert keyframe_offset_s("#tb 0: 1/90000\n0, 9000, 9000, 3600, 10, 0x1\n") == 0.1
    assert keyframe_offset_s("nothing") is None
