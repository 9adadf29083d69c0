"""The show's clips page (its operators cut, unpublish and delete there, without script), the cut
asked for once under a retried Idempotency-Key, and a cut that fails: tried again, then failed
with the reason, never stuck."""

from __future__ import annotations

import re
import shutil

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.clips.models import CUT_ATTEMPTS_MAX, Clip, ClipState
from fieldcast.clips.queries import clip_figures
from tests.clips.conftest import EndedShow
from tests.conftest import QueryCounter
from tests.factories import MakeClient


async def csrf_of(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


async def test_the_clips_page_cuts_refuses_with_the_message_and_manages(app: FastAPI, ended_show: EndedShow) -> None:
    host = ended_show.org["host"]
    path = f"/live/{ended_show.session_id}/clips"
    token = await csrf_of(host, path)
    # Too short: the form again, 422, the message beside the end field, what was typed kept.
    refused = await host.post(path, data={"csrf_token": token, "start_s": "3", "end_s": "4", "published": "true"})
    assert refused.status_code == 422
    assert 'data-testid="error-end_s"' in refused.text and 'value="3"' in refused.text
    # Around the mark, one click.
    done = await host.post(path, data={"csrf_token": token, "mark_id": str(ended_show.mark_id), "published": "true"})
    assert done.status_code == 303, done.text
    listed = await host.get(path)
    assert 'data-state="pending"' in listed.text and 'data-waiting="y"' in listed.text
    assert await app.state.ctx.clip_cutter.cut_next()
    listed = await host.get(path)
    assert 'data-state="ready"' in listed.text
    async with app.state.ctx.uow() as uow:
        clip = await uow.session.scalar(sa.select(Clip))
        assert clip is not None and clip.state == ClipState.READY
        slug, video = clip.slug, app.state.ctx.settings.resolved_media_dir / clip.video_path
    assert video.is_file()
    # Unpublish: gone for the public; publish again; delete: gone, files too.
    anonymous = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    async with anonymous:
        assert (await anonymous.get(f"/clips/{slug}")).status_code == 200
        hide = await host.post(f"/clips/{slug}/publish", data={"csrf_token": token, "published": "false"})
        assert hide.status_code == 303
        assert (await anonymous.get(f"/clips/{slug}")).status_code == 404
        assert (await host.get(f"/clips/{slug}")).status_code == 200  # its operators still see it
        await host.post(f"/clips/{slug}/publish", data={"csrf_token": token, "published": "true"})
        assert (await anonymous.get(f"/clips/{slug}")).status_code == 200
        gone = await host.post(f"/clips/{slug}/delete", data={"csrf_token": token})
        assert gone.status_code == 303
        assert (await anonymous.get(f"/clips/{slug}")).status_code == 404
    assert not video.exists()


async def test_only_operators_open_the_clips_page_or_manage(
    app: FastAPI, make_client: MakeClient, ended_show: EndedShow
) -> None:
    path = f"/live/{ended_show.session_id}/clips"
    assert (await ended_show.org["outsider"].get(path)).status_code == 403
    assert (await ended_show.org["supplier"].get(path)).status_code == 403
    anonymous = make_client()
    assert (await anonymous.get(path)).status_code == 303  # to sign in
    # An outsider cannot unpublish, change or delete someone's clip over the API either.
    made = await ended_show.org["host"].post(
        path.replace("/live/", "/api/v1/sessions/"), json={"mark_id": ended_show.mark_id}
    )
    assert made.status_code == 201
    clip_url = f"/api/v1/clips/{made.json()['id']}"
    outsider = ended_show.org["outsider"]
    assert (await outsider.patch(clip_url, json={"published": False})).status_code == 403
    assert (await outsider.delete(clip_url)).status_code == 403
    # Pending (not yet public): 404 for anyone but its operators.
    assert (await outsider.get(clip_url)).status_code == 404
    assert (await ended_show.org["organiser"].get(clip_url)).json()["state"] == "pending"


async def test_a_retried_cut_asks_for_one_clip(app: FastAPI, ended_show: EndedShow) -> None:
    url = f"/api/v1/sessions/{ended_show.session_id}/clips"
    body = {"start_s": 1.0, "end_s": 9.0}
    first = await ended_show.org["host"].post(url, json=body, headers={"Idempotency-Key": "cut-once"})
    again = await ended_show.org["host"].post(url, json=body, headers={"Idempotency-Key": "cut-once"})
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"] and again.headers.get("idempotent-replayed") == "true"
    async with app.state.ctx.uow() as uow:
        assert await uow.session.scalar(sa.select(sa.func.count(Clip.id))) == 1


async def test_a_cut_that_fails_is_retried_then_failed_with_the_reason(app: FastAPI, ended_show: EndedShow) -> None:
    made = await ended_show.org["host"].post(
        f"/api/v1/sessions/{ended_show.session_id}/clips", json={"start_s": 1.0, "end_s": 9.0}
    )
    assert made.status_code == 201
    # The replay's files are gone (a disk restored without them, say).
    shutil.rmtree(app.state.ctx.settings.resolved_hls_dir / "replay" / ended_show.stream_name)
    cutter = app.state.ctx.clip_cutter
    for attempt in range(1, CUT_ATTEMPTS_MAX + 1):
        assert await cutter.cut_next()
        async with app.state.ctx.uow() as uow:
            clip = await uow.session.get(Clip, made.json()["id"])
            assert clip is not None and clip.attempts == attempt and "no replay" in clip.error
            assert clip.state == (ClipState.FAILED if attempt == CUT_ATTEMPTS_MAX else ClipState.PENDING)
    assert not await cutter.cut_next()  # nothing left waiting
    shown = (await ended_show.org["host"].get(f"/api/v1/clips/{made.json()['id']}")).json()
    assert shown["state"] == "failed" and shown["video_url"] is None


async def test_odd_keys_are_not_found(make_client: MakeClient) -> None:
    client = make_client()
    for key in ("²", "9" * 30, "no-such-slug", "0"):
        assert (await client.get(f"/api/v1/clips/{key}")).status_code == 404
        assert (await client.get(f"/clips/{key}")).status_code == 404


async def test_the_figures_take_three_queries_however_many_clips(
    app: FastAPI, ended_show: EndedShow, queries: QueryCounter
) -> None:
    url = f"/api/v1/sessions/{ended_show.session_id}/clips"
    for start in (0.0, 5.0, 10.0):
        made = await ended_show.org["host"].post(
            url, json={"start_s": start, "end_s": start + 6, "sku_id": ended_show.org.inspected_sku}
        )
        assert made.status_code == 201
    async with app.state.ctx.uow() as uow, queries.counting() as statements:
        figures = await clip_figures(uow.session, ended_show.session_id)
    assert len(figures.clips) == 3
    assert len(statements) == 3, statements  # the clips, their views, their orders (grouped)
