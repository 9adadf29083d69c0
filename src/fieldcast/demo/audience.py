"""The demo's simulated audience: a few demo viewers in every live demo room who watch through the
real room socket (so they count, honestly, as what they are: demo viewers), like, send flowers and
comment through the real chat action (rate limits, banned words and all). Their names say they
are demo viewers; nothing here runs unless `fieldcast demo` started the app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass, field

import orjson
import sqlalchemy as sa
from websockets.asyncio.client import ClientConnection, connect

from fieldcast.accounts import actions as account_actions
from fieldcast.accounts.models import User
from fieldcast.accounts.schemas import SignUpIn
from fieldcast.bootstrap import AppContext
from fieldcast.chat import actions as chat_actions
from fieldcast.errors import DomainError
from fieldcast.live.models import LiveSession, SessionState

log = logging.getLogger(__name__)

AUDIENCE_DOMAIN = "audience.demo.example.org"
AUDIENCE_SIZE = 8
SOCKETS_PER_ROOM = 6
STEP_S = 3.0

COMMENTS = (
    "主播好！从外地来支持家乡产品",
    "检验报告能再念一遍吗？",
    "已下单，期待收货",
    "这个多久能发货？",
    "包装会不会压坏？",
    "去年买过，味道很好",
    "给老家的亲戚也推荐了",
    "冷链发货吗？",
    "价格比超市实在",
    "讲得很清楚，点赞",
    "能开发票吗？",
    "主播辛苦了",
)


def audience_email(n: int) -> str:
    return f"viewer{n:02d}@{AUDIENCE_DOMAIN}"


async def ensure_audience(ctx: AppContext, size: int = AUDIENCE_SIZE) -> list[User]:
    """The demo viewer accounts, made once through the real sign-up action, marked as demo."""
    users: list[User] = []
    async with ctx.uow() as uow:
        for n in range(1, size + 1):
            email = audience_email(n)
            user = await uow.session.scalar(sa.select(User).where(User.email == email))
            if user is None:
                data = SignUpIn(email=email, display_name=f"演示观众{n:02d}", password=f"demo-audience-{n:02d}-pw")
                user = await account_actions.sign_up(uow, data, is_demo=True)
            users.append(user)
    return users


@dataclass
class DemoAudience:
    ctx: AppContext
    base_ws_url: str  # ws://host:port of this very app
    rng: random.Random = field(default_factory=lambda: random.Random(618))  # noqa: S311 - demo chatter, not security
    sockets: dict[int, list[ClientConnection]] = field(default_factory=dict)

    async def live_rooms(self) -> list[int]:
        async with self.ctx.uow() as uow:
            rows = await uow.session.scalars(
                sa.select(LiveSession.id).where(LiveSession.is_demo.is_(True), LiveSession.state == SessionState.LIVE)
            )
            return list(rows)

    async def _watch(self, room_id: int) -> list[ClientConnection]:
        """Keep a few viewers' sockets open in the room (they read and drop what they receive)."""
        open_ = [ws for ws in self.sockets.get(room_id, []) if ws.state.name == "OPEN"]
        while len(open_) < SOCKETS_PER_ROOM:
            ws = await connect(f"{self.base_ws_url}/ws/rooms/{room_id}", open_timeout=5)
            asyncio.get_running_loop().create_task(_drain(ws))
            open_.append(ws)
        self.sockets[room_id] = open_
        return open_

    async def step(self, users: list[User]) -> None:
        """One round in every live demo room: likes and maybe flowers from the sockets, one comment."""
        for room_id in await self.live_rooms():
            sockets = await self._watch(room_id)
            for ws in self.rng.sample(sockets, k=min(3, len(sockets))):
                await ws.send(orjson.dumps({"type": "like", "count": self.rng.randint(1, 8)}).decode())
            if self.rng.random() < 0.3:
                await self.rng.choice(sockets).send('{"type": "flower", "count": 1}')
            await self.comment(room_id, self.rng.choice(users))

    async def comment(self, room_id: int, user: User) -> None:
        async with self.ctx.uow() as uow:
            live = await uow.session.get(LiveSession, room_id)
            author = await uow.session.get(User, user.id)
            if live is None or author is None:
                return
            try:
                await chat_actions.send_message(uow, self.ctx.chat_limiter, author, live, self.rng.choice(COMMENTS))
            except DomainError as exc:  # too fast for that viewer: skip the turn, as a person would
                await uow.rollback()
                log.debug("demo comment skipped: %s", exc)

    async def close(self) -> None:
        for sockets in self.sockets.values():
            for ws in sockets:
                with contextlib.suppress(Exception):
                    await ws.close()


async def _drain(ws: ClientConnection) -> None:
    with contextlib.suppress(Exception):
        async for _frame in ws:
            pass


async def run_demo_audience(ctx: AppContext, base_ws_url: str, every_s: float = STEP_S) -> None:
    """Until cancelled: a round of audience activity every few seconds (waits for the server)."""
    users = await ensure_audience(ctx)
    audience = DemoAudience(ctx, base_ws_url)
    try:
        while True:
            try:
                await audience.step(users)
            except (OSError, TimeoutError) as exc:  # the server is not listening yet, or restarting
                log.debug("demo audience waiting for the server: %s", exc)
            await asyncio.sleep(every_s)
    finally:
        await audience.close()
