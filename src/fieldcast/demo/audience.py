"""The demo's simulated audience: a few demo viewers in every live demo room who watch through the
real room socket (so they count, honestly, as what they are: demo viewers), like, send flowers and
comment through the real chat action (rate limits, banned words and all), and now and then buy
from the room's shelf through the real checkout and pay through the in-process provider (some
leave the payment to expire, as buyers do); a flash sale, once open, draws a rush until it sells
out. Their names say they are demo viewers, their addresses and orders are marked demo; nothing
here runs unless `fieldcast demo` started the app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass, field

import httpx
import orjson
import sqlalchemy as sa
from websockets.asyncio.client import ClientConnection, connect

from fieldcast.accounts import actions as account_actions
from fieldcast.accounts.models import User
from fieldcast.accounts.schemas import SignUpIn
from fieldcast.bootstrap import AppContext
from fieldcast.chat import actions as chat_actions
from fieldcast.commerce.checkout import Wanted
from fieldcast.commerce.errors import LimitReached
from fieldcast.db.base import utcnow
from fieldcast.demo import shop
from fieldcast.demo.shop import Shop, ensure_demo_address
from fieldcast.errors import DomainError
from fieldcast.live.models import LiveSession, SessionState, ShelfItem
from fieldcast.payments.provider import ProviderError

log = logging.getLogger(__name__)

AUDIENCE_DOMAIN = "audience.demo.example.org"
AUDIENCE_SIZE = 22  # a province each, and enough buyers to sell out the flash sale (30 units, 2 per buyer)
SOCKETS_PER_ROOM = 6
STEP_S = 3.0
BUY_CHANCE = 0.3  # per live room and step: a viewer buys the pinned item, or another on the shelf
PINNED_CHANCE = 0.7  # of those purchases, how many are of the item being explained
FLASH_RUSH = 3  # viewers who try an open flash sale with units left, per room and step
ABANDON_CHANCE = 0.2  # checkouts left unpaid, to expire

# Where the demo viewers live: the stories' places and the big cities, one province after another,
# so the buyers of the event fill the map (the event's big screen, the post-show report).
AUDIENCE_COUNTIES = (
    "110101",  # 北京 东城区
    "310101",  # 上海 黄浦区
    "440106",  # 广东 广州 天河区
    "510104",  # 四川 成都 锦江区
    "330102",  # 浙江 杭州 上城区
    "320102",  # 江苏 南京 玄武区
    "420527",  # 湖北 秭归县
    "430102",  # 湖南 长沙 芙蓉区
    "370281",  # 山东 胶州市
    "360981",  # 江西 丰城市
    "500103",  # 重庆 渝中区
    "610102",  # 陕西 西安 新城区
    "230102",  # 黑龙江 哈尔滨 道里区
    "350102",  # 福建 福州 鼓楼区
    "411324",  # 河南 镇平县
    "530102",  # 云南 昆明 五华区
    "220622",  # 吉林 靖宇县
    "450102",  # 广西 南宁 兴宁区
    "140431",  # 山西 沁源县
    "632324",  # 青海 河南县
    "210102",  # 辽宁 沈阳 和平区
    "340102",  # 安徽 合肥 瑶海区
)

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
    """The demo viewer accounts, made once through the real sign-up action, marked as demo, each
    with a demo address to buy with (演示观众NN, a 1380000xxxx phone, a county of AUDIENCE_COUNTIES:
    a province each, the stories' own among them)."""
    users: list[User] = []
    async with ctx.uow() as uow:
        for n in range(1, size + 1):
            email = audience_email(n)
            user = await uow.session.scalar(sa.select(User).where(User.email == email))
            if user is None:
                data = SignUpIn(email=email, display_name=f"演示观众{n:02d}", password=f"demo-audience-{n:02d}-pw")
                user = await account_actions.sign_up(uow, data, is_demo=True)
            await ensure_demo_address(uow, user, n, AUDIENCE_COUNTIES)
            users.append(user)
    return users


@dataclass(frozen=True)
class _OnSale:
    sku_id: int
    pinned: bool
    flash: bool
    per_buyer_limit: int | None
    available: int | None  # a show pool's units left; None when the SKU's own stock counts


@dataclass
class DemoAudience:
    ctx: AppContext
    base_ws_url: str  # ws://host:port of this very app
    rng: random.Random = field(default_factory=lambda: random.Random(618))  # noqa: S311 - demo chatter, not security
    sockets: dict[int, list[ClientConnection]] = field(default_factory=dict)
    buy_chance: float = BUY_CHANCE
    abandon_chance: float = ABANDON_CHANCE
    flash_rush: int = FLASH_RUSH
    # (room, SKU, viewer) told "limit reached": that viewer stops trying for it, as a person would.
    at_limit: set[tuple[int, int, int]] = field(default_factory=set)

    @property
    def shop(self) -> Shop:
        return Shop(self.ctx.uow, self.ctx.gate, self.ctx.payment_provider, self.ctx.settings)

    async def live_rooms(self) -> list[int]:
        async with self.ctx.uow() as uow:
            rows = await uow.session.scalars(
                sa.select(LiveSession.id).where(LiveSession.is_demo.is_(True), LiveSession.state == SessionState.LIVE)
            )
            return list(rows)

    async def _watch(self, room_id: int) -> list[ClientConnection]:
        """Keep a few viewers' sockets open in the room (they read and drop what they receive).
        Each loads the room page first, then starts its session as the page's script does
        (static/session.js): the viewer cookie without which a socket is a connection, not a
        viewer (realtime/counters.py)."""
        open_ = [ws for ws in self.sockets.get(room_id, []) if ws.state.name == "OPEN"]
        while len(open_) < SOCKETS_PER_ROOM:
            page_base = "http" + self.base_ws_url.removeprefix("ws")
            async with httpx.AsyncClient(base_url=page_base, timeout=15) as browser:
                await browser.get(f"/live/{room_id}")
                await browser.get("/api/v1/auth/csrf")
                cookie = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
            headers = {"Cookie": cookie} if cookie else None
            ws = await connect(f"{self.base_ws_url}/ws/rooms/{room_id}", open_timeout=5, additional_headers=headers)
            asyncio.get_running_loop().create_task(_drain(ws))
            open_.append(ws)
        self.sockets[room_id] = open_
        return open_

    async def step(self, users: list[User]) -> None:
        """One round in every live demo room: likes and maybe flowers from the sockets, one
        comment, maybe a purchase, and a rush on an open flash sale."""
        for room_id in await self.live_rooms():
            sockets = await self._watch(room_id)
            for ws in self.rng.sample(sockets, k=min(3, len(sockets))):
                await ws.send(orjson.dumps({"type": "like", "count": self.rng.randint(1, 8)}).decode())
            if self.rng.random() < 0.3:
                await self.rng.choice(sockets).send('{"type": "flower", "count": 1}')
            await self.comment(room_id, self.rng.choice(users))
            await self.shop_in(room_id, users)

    async def on_sale(self, room_id: int) -> list[_OnSale]:
        """The room's shelf as a buyer can buy from it now (flash sales once they started)."""
        async with self.ctx.uow(write=False) as uow:
            pinned = await uow.session.scalar(sa.select(LiveSession.pinned_sku_id).where(LiveSession.id == room_id))
            items = await uow.session.scalars(
                sa.select(ShelfItem)
                .where(
                    ShelfItem.session_id == room_id,
                    sa.or_(ShelfItem.flash_starts_at.is_(None), ShelfItem.flash_starts_at <= utcnow()),
                )
                .order_by(ShelfItem.position, ShelfItem.id)
            )
            return [
                _OnSale(
                    sku_id=x.sku_id,
                    pinned=x.sku_id == pinned,
                    flash=x.flash_starts_at is not None,
                    per_buyer_limit=x.per_buyer_limit,
                    available=x.session_available if x.session_stock is not None else None,
                )
                for x in items
            ]

    async def shop_in(self, room_id: int, users: list[User]) -> None:
        """A few viewers try an open flash sale while it has units; now and then one buys the item
        being explained, or another on the shelf."""
        if not self.shop.can_pay or not users:
            return
        items = await self.on_sale(room_id)
        for item in items:
            if item.flash and (item.available is None or item.available > 0):
                keen = [u for u in users if (room_id, item.sku_id, u.id) not in self.at_limit]
                for user in self.rng.sample(keen, k=min(self.flash_rush, len(keen))):
                    quantity = self.rng.randint(1, item.per_buyer_limit or 1)
                    # A flash buyer pays at once (and a demo restart then finds no units waiting
                    # for payment, so the sale can start a new round).
                    await self.buy(room_id, user, item.sku_id, quantity, may_abandon=False)
        if items and self.rng.random() < self.buy_chance:
            pinned = [x for x in items if x.pinned]
            item = pinned[0] if pinned and self.rng.random() < PINNED_CHANCE else self.rng.choice(items)
            await self.buy(room_id, self.rng.choice(users), item.sku_id, 1, may_abandon=not item.flash)

    async def buy(
        self, room_id: int, user: User, sku_id: int, quantity: int, *, may_abandon: bool = True
    ) -> int | None:
        """Check out in the room and pay through the provider, or (now and then, if `may_abandon`)
        leave the payment to expire. The shop's refusals (sold out, over the limit) are a buyer's
        bad luck, not an error. Returns the payment's id when the checkout went through."""
        wanted = [Wanted(sku_id, quantity, room_id)]
        try:
            payment = await shop.place(self.shop, user, wanted)
        except DomainError as exc:
            log.info("demo buyer %s did not get %s: %s", user.display_name, shop.what(wanted), exc.code)
            if isinstance(exc, LimitReached):
                self.at_limit.add((room_id, sku_id, user.id))
            return None
        if may_abandon and self.rng.random() < self.abandon_chance:
            log.info("demo buyer %s left payment %s unpaid (it expires)", user.display_name, payment.id)
            return payment.id
        try:
            await shop.pay_at_provider(self.shop, user, payment.id)
        except (DomainError, ProviderError) as exc:
            log.info("demo buyer %s could not pay payment %s: %r", user.display_name, payment.id, exc)
        return payment.id

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
            except Exception:  # a failed round (the database busy, say) must not end the audience
                log.exception("demo audience round failed")
            await asyncio.sleep(every_s)
    finally:
        await audience.close()
