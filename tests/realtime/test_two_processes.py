"""Two app processes (two servers, each with its own app, bus, hub and counters) serve one room
through Redis and one database: a viewer on one sees the chat, the pins and the summed counts of
the other."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import connect

from fieldcast.app import create_app
from tests.conftest import REDIS_URL, redis_or_skip
from tests.factories import make_live_org, schedule_session, sign_up
from tests.helpers import validate
from tests.media.conftest import fresh_app, media_settings, serve
from tests.realtime.test_gateway import counters_until, frames, page_viewer, ws_url

pytestmark = pytest.mark.timeout(90)


async def test_a_viewer_on_one_process_sees_what_happens_on_the_other(database_url: str, tmp_path: Path) -> None:
    await redis_or_skip()
    settings = media_settings(database_url, tmp_path, redis_url=REDIS_URL)
    first_app = await fresh_app(settings)
    second_app = create_app(settings)
    async with serve(first_app, settings) as one, serve(second_app, settings) as two:
        org = await make_live_org(one.app, one.client, "twoproc")
        sid = int((await schedule_session(org))["id"])
        # Session ids restart with the database; Redis keeps rooms for days: start this room clean.
        client = aioredis.Redis.from_url(REDIS_URL)
        keys = [k async for k in client.scan_iter(f"fc:room:{sid}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
        await org["host"].post(f"/api/v1/sessions/{sid}/start")
        fan = two.client()  # signed in on the second process
        await sign_up(fan, "fan@twoproc.example.com", "粉丝")
        host_on_two = two.client()
        host_on_two.cookies.update(org["host"].cookies)
        host_on_two.headers["X-CSRF-Token"] = org["host"].headers["X-CSRF-Token"]

        # Anonymous viewers as browsers make them: the room page (on either process) issues the
        # cookie, signed with the secret both processes share.
        viewer_one, viewer_two = await page_viewer(one, sid), await page_viewer(two, sid)
        async with (
            connect(ws_url(one, sid), additional_headers=viewer_one) as on_one,
            connect(ws_url(two, sid), additional_headers=viewer_two) as on_two,
        ):
            await frames(on_one, 1)
            await frames(on_two, 1)
            # Counts: one socket on each process, summed through Redis.
            await counters_until(on_one, lambda d: d["viewers"] == 2)
            await on_two.send(orjson.dumps({"type": "like", "count": 7}).decode())
            await counters_until(on_one, lambda d: d["likes"] == 7)

            r = await fan.post(f"/api/v1/sessions/{sid}/chat", json={"body": "从另一个进程发来的评论"})
            assert r.status_code == 201, r.text
            r = await host_on_two.post(f"/api/v1/sessions/{sid}/pin", json={"sku_id": org.inspected_sku})
            assert r.status_code == 201, r.text
            seen = await frames(on_one, 2)
        for frame in seen:
            validate(frame)
        assert [f["type"] for f in seen] == ["chat.posted", "session.pinned"]
        assert seen[0]["data"]["body"] == "从另一个进程发来的评论"
        assert seen[1]["id"] == seen[0]["id"] + 1  # one id sequence for the room, across processes
