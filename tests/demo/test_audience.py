"""The demo's simulated audience goes through the real room socket and the real chat action, and
says it is a demo: its accounts are marked demo and named as demo viewers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from fieldcast.accounts.models import User
from fieldcast.chat.models import ChatMessage
from fieldcast.demo.audience import DemoAudience, ensure_audience
from fieldcast.live.models import LiveSession
from tests.factories import live_session, make_live_org
from tests.media.conftest import Served, fresh_app, media_settings, serve, wait_for

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
async def served(database_url: str, tmp_path: Path) -> AsyncIterator[Served]:
    settings = media_settings(database_url, tmp_path)
    app = await fresh_app(settings)
    async with serve(app, settings) as s:
        yield s


async def test_the_audience_watches_likes_and_comments_through_the_real_paths(served: Served) -> None:
    org = await make_live_org(served.app, served.client, "audience")
    sid = await live_session(org)
    ctx = served.app.state.ctx
    async with ctx.uow() as uow:
        await uow.session.execute(sa.update(LiveSession).where(LiveSession.id == sid).values(is_demo=True))

    users = await ensure_audience(ctx, size=3)
    assert all(u.is_demo and u.display_name.startswith("演示观众") for u in users)
    audience = DemoAudience(ctx, served.base_url.replace("http://", "ws://"))
    try:
        await audience.step(users)

        async def counted() -> bool:
            totals = await ctx.room_hub.counters.totals(sid)
            return totals.viewers >= 6 and totals.likes > 0

        await wait_for(counted, within_s=10, what="the audience's sockets and likes in the counters")
        async with ctx.uow() as uow:
            authors = (
                await uow.session.scalars(
                    sa.select(User)
                    .join(ChatMessage, ChatMessage.user_id == User.id)
                    .where(ChatMessage.session_id == sid)
                )
            ).all()
        assert authors and all(a.is_demo for a in authors)
    finally:
        await audience.close()
    assert len(await ensure_audience(ctx, size=3)) == 3  # made once, found again
