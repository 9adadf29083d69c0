"""The integrity scenario player (issue #18, "Must show"): shows played against a real server, each
honest or carrying one abuse, with parameters drawn from a seeded random.Random, then judged by the
alerts the server raised.

Everything people do goes through the real HTTP API of a uvicorn serving the app on a loopback port
(tests/media/conftest.serve): sign-ups, the cooperative and its members (tests/factories.make_org;
roles granted with the membership action, as the factories do), a product with a passing inspection
by the county's verified market-supervision office, the show scheduled and started by its host,
checkout and payment (the sandbox provider's confirm; its signed notification comes back through
the outbox relay), chat and its moderation, refund requests, credits. Only the regular buyers'
sign-up dates are written directly (the API has no door to an account's age; see set_stage).
Viewers are real WebSocket connections to /ws/rooms/<id>: honest ones from their own addresses
(X-Forwarded-For, trusted from loopback as behind the deployment's nginx), pinging and saying
`{"type": "playing"}` once the video plays; bots from one address, in a burst, silent but for likes.

The show ends through the API (the host's End), so the outbox consumer runs the rules
(integrity/tasks.py). The week after is played the way the system plays it: the refund requests
come in through the after-sales API, then the rerun that the end scheduled for
ended_at + integrity_refund_window_days is made due now (the week passes) and delivered by the
relay, which runs every rule again (integrity/tasks.session_endings). Only the alerts the API
returns are judged: an abuse is detected when one of its expected rules raised an alert on the show
whose evidence names the abuse (evidence_fits); an honest show is a false positive when it raised
any alert at all."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import json
import math
import random
import re
import ssl
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import sqlalchemy as sa
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from fieldcast.accounts.models import Role, User
from fieldcast.db.base import utcnow
from fieldcast.db.outbox import OutboxMessage, OutboxStuck
from fieldcast.integrity import rules as integrity_rules
from fieldcast.integrity.tasks import TOPIC_INTEGRITY
from tests.commerce.buyers import add_address
from tests.factories import (
    Member,
    Org,
    create_product,
    make_admin,
    make_authority,
    make_org,
    sign_up,
    soon,
)
from tests.media.conftest import Served

API = "/api/v1"
HONEST = "honest"
KINDS = ("honest", "bots", "quota", "refund_wave", "restaged", "official_credited", "negative_removed")
# The rules that find each abuse; an abuse is detected when any of them raised an alert on the show.
EXPECTED: dict[str, tuple[str, ...]] = {
    HONEST: (),
    "bots": ("sockets_without_playback", "join_burst", "viewers_unsupported", "inhuman_like_rate"),
    "quota": (integrity_rules.ROUND_QUOTA,),
    "refund_wave": (integrity_rules.REFUNDS_AFTER_SHOW,),
    "restaged": ("restaged_orders",),
    "official_credited": ("official_credited",),
    "negative_removed": ("negative_removed",),
}
PUBLIC_MAIL = ("qq.com", "163.com", "126.com", "sina.com", "foxmail.com", "139.com", "outlook.com", "yeah.net")
REGIONS = ("220622", "370281", "420506", "110101")  # 靖宇, 胶州, 宜昌西陵, 北京东城
STREETS = ("江边路", "人民路", "建设街", "解放路", "滨河路", "文化街", "新华路", "友谊路", "北山路", "胜利街")
SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗"
HOST_LINES = (
    "欢迎大家来到直播间，今天的山货都是村里合作社自己收的",
    "这批木耳是今年秋天晒的，泡发前可以先看看颜色",
    "下单后三天内从靖宇发货，冷链的会单独打包",
    "有问题可以在评论区问，我们一个一个回答",
)


def registered_rule_ids() -> frozenset[str]:
    """The rule ids that fieldcast.integrity.rules.RULES can raise: each rule function's name and
    the id constants (upper-case module strings) its source names, e.g. member_buyers raises
    MEMBER_BUYER = "member_of_selling_organisation"."""
    ids: set[str] = set()
    for rule in integrity_rules.RULES:
        ids.add(rule.__name__)
        source = inspect.getsource(rule)
        for name, value in rule.__globals__.items():
            if name.isupper() and isinstance(value, str) and re.search(rf"\b{name}\b", source):
                ids.add(value)
    return frozenset(ids)


def missing_rules(kind: str, registered: frozenset[str] | None = None) -> tuple[str, ...]:
    """The expected rules of `kind` not registered; all of them when none is (the kind cannot be
    judged yet), else () — one registered rule of the kind is enough to judge it."""
    have = registered_rule_ids() if registered is None else registered
    expected = EXPECTED[kind]
    return () if not expected or any(r in have for r in expected) else expected


# -- parameters ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """A set of scenarios: how many runs of each kind, the seed they are drawn from, and the
    parameter ranges and chat texts the runs draw from."""

    name: str
    seed: str
    runs: dict[str, int]
    ranges: dict[str, Any]
    texts: dict[str, list[str]]

    def seeds(self, kind: str) -> list[str]:
        return [f"{self.seed}:{kind}:{i}" for i in range(self.runs.get(kind, 0))]


# The tuning part: edited freely while the player and the rules are worked on. The held-out part
# (heldout.json) was written before any tuning and is never edited.
TUNING = Part(
    name="tuning",
    seed="tuning-1",
    runs={
        "honest": 8,
        "bots": 4,
        "quota": 4,
        "refund_wave": 4,
        "restaged": 4,
        "official_credited": 4,
        "negative_removed": 4,
    },
    ranges={
        "viewers": [10, 20],
        "viewer_join_spread_s": [0.4, 1.0],
        "honest_buyers": [6, 12],
        "shelf_items": [2, 3],
        "price_points_fen": [990, 1280, 1990, 2680, 2990, 3580, 3990, 4980, 5980, 6800, 7900, 8800, 9900, 12800],
        "units_per_line": [1, 3],
        "lines_per_buyer": [1, 2],
        "official_host_share": 0.3,
        "honest_refund_share_max": 0.15,
        "honest_spam_removed_share": 0.3,
        "honest_likes_per_viewer": [0, 3],
        "bots": [20, 40],
        "bot_burst_s": [0.05, 0.3],
        "bot_liker_share": [0.2, 0.6],
        "bot_like_messages": [2, 6],
        "quota_fen": 5000,
        "quota_cadres": [5, 9],
        "quota_overspend_max": 0.06,
        "quota_honest_buyers": [0, 5],
        "refund_share": [0.4, 0.8],
        "restaged_buyers": [2, 4],
        "restage_times": [1, 3],
        "gift_fen": [20000, 100000],
        "negative_comments": [1, 2],
    },
    texts={
        "positive": [
            "蓝莓看着很新鲜，已下单",
            "支持家乡农产品！",
            "第一书记讲得真实在",
            "去年买过，味道很好",
            "已经分享给家里人了",
            "冷链发货放心",
        ],
        "negative": [
            "收到的蓝莓都坏了，差评",
            "上次买的木耳全是碎渣，退货还不给退",
            "包装破了，东西洒了一半，差评",
            "和描述完全不符，大家别上当",
        ],
        "spam": ["加V信低价代购", "刷单兼职日结，私聊"],
    },
)

HELDOUT_FILE = Path(__file__).with_name("heldout.json")


def heldout_part(path: Path = HELDOUT_FILE) -> Part:
    data = json.loads(path.read_text("utf-8"))
    return Part("heldout", str(data["seed"]), dict(data["runs"]), dict(data["ranges"]), dict(data["texts"]))


def between(rng: random.Random, bounds: Sequence[float]) -> int:
    low, high = bounds
    return rng.randint(int(low), int(high))


def uniform(rng: random.Random, bounds: Sequence[float]) -> float:
    low, high = bounds
    return rng.uniform(float(low), float(high))


# -- the stage: one server for many runs -----------------------------------------------------------


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json() if response.content else None


@dataclass
class Buyer:
    client: httpx.AsyncClient
    user_id: int
    address_id: int
    ip: str


@dataclass
class Stage:
    """What every run shares: the served app, the platform administrator, the county's verified
    market-supervision office (its inspector inspects each run's product) and a pool of ordinary
    buyers (public mail domains, their own addresses) who come back to show after show."""

    served: Served
    admin: httpx.AsyncClient
    inspector: httpx.AsyncClient
    pool: list[Buyer]
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def app(self) -> FastAPI:
        return self.served.app

    def client(self, ip: str | None = None) -> httpx.AsyncClient:
        return new_client(self.served, ip)


def new_client(served: Served, ip: str | None = None) -> httpx.AsyncClient:
    """A person's HTTP client (its own cookie jar), from `ip` when given. Every client shares one
    TLS context: building one per client (httpx's default) costs ~25 ms of loading CA
    certificates, for plain-HTTP loopback requests. Closed with the server.

    An idle connection is dropped by the client before uvicorn drops it (timeout_keep_alive, 5 s):
    a regular buyer comes back several shows later, and a request sent on a connection the server
    is closing fails with a ReadError."""
    c = httpx.AsyncClient(base_url=served.base_url, timeout=15.0, verify=NO_TLS, limits=KEEP_ALIVE)
    served.clients.append(c)
    if ip is not None:
        c.headers["X-Forwarded-For"] = ip
    return c


NO_TLS = ssl.create_default_context()  # the server is plain HTTP on loopback: never used to verify
KEEP_ALIVE = httpx.Limits(max_connections=10, max_keepalive_connections=2, keepalive_expiry=2.0)


def public_ip(rng: random.Random) -> str:
    """An address of a home broadband or mobile network (a person's own)."""
    first = rng.choice((36, 58, 113, 117, 120, 183, 222))
    return f"{first}.{rng.randint(1, 254)}.{rng.randint(1, 254)}.{rng.randint(1, 254)}"


async def new_buyer(stage: Stage, rng: random.Random, email: str, name: str, *, street: str, region: str) -> Buyer:
    ip = public_ip(rng)
    client = stage.client(ip)
    user = await sign_up(client, email, name)
    phone = f"1{rng.choice((38, 39, 58, 86, 36))}{rng.randint(10_000_000, 99_999_999)}"
    address = await add_address(client, recipient=name, phone=phone, region_code=region, street=street)
    return Buyer(client, int(user["id"]), int(address["id"]), ip)


async def set_stage(served: Served, pool_size: int = 45) -> Stage:
    rng = random.Random("stage")
    admin = new_client(served)
    await make_admin(served.app, admin, "admin@scenarios.example.com")
    authority = await make_authority(
        served.app, lambda: new_client(served), "jingyu-amr", admin=admin, name="靖宇县市场监督管理局"
    )
    stage = Stage(served, admin, authority["inspector"], [])
    for i in range(pool_size):
        name = f"{SURNAMES[i % len(SURNAMES)]}{'小' if i % 2 else '大'}{i}"
        email = f"buyer{i}.{uuid.uuid4().hex[:6]}@{PUBLIC_MAIL[i % len(PUBLIC_MAIL)]}"
        street = f"{STREETS[i % len(STREETS)]}{i + 3}号{rng.randint(1, 9)}单元"
        stage.pool.append(await new_buyer(stage, rng, email, name, street=street, region=REGIONS[i % len(REGIONS)]))
    # The regulars signed up long before these shows. The API has no door to an account's age,
    # so theirs is set here, the one thing the player writes behind the actions' backs.
    async with served.app.state.ctx.uow() as uow:
        for buyer in stage.pool:
            signed_up = utcnow() - timedelta(days=rng.randint(30, 900))
            await uow.session.execute(sa.update(User).where(User.id == buyer.user_id).values(created_at=signed_up))
    return stage


# -- one show --------------------------------------------------------------------------------------


@dataclass
class Outcome:
    part: str
    kind: str
    seed: str
    session_id: int
    params: dict[str, Any]
    alerts: list[dict[str, Any]]
    expected: tuple[str, ...]
    facts: dict[str, Any] = field(default_factory=dict)  # what the abuse did (ids), for evidence_fits

    @property
    def raised(self) -> list[str]:
        return sorted({a["rule"] for a in self.alerts})

    @property
    def detected(self) -> bool:
        """An expected rule raised an alert on this show with evidence that points at the abuse
        played (see evidence_fits)."""
        return any(a["rule"] in self.expected and evidence_fits(a, self.facts) for a in self.alerts)

    @property
    def false_positive(self) -> bool:
        """An honest show raised an alert (any rule)."""
        return self.kind == HONEST and bool(self.alerts)


def evidence_fits(alert: dict[str, Any], facts: dict[str, Any]) -> bool:
    """The alert's evidence names the abuse: for the rules whose evidence this checkout knows, the
    quota and every cadre who met it (round_quota), or exactly the orders refunded after the show
    (refunds_after_show); for the others, evidence that is not empty."""
    evidence = alert["evidence"]
    if not evidence:
        return False
    if alert["rule"] == integrity_rules.ROUND_QUOTA and "cadre_ids" in facts:
        named = {int(b["buyer_id"]) for b in evidence.get("buyers", [])}
        return evidence.get("quota_fen") == facts["quota_fen"] and set(facts["cadre_ids"]) <= named
    if alert["rule"] == integrity_rules.REFUNDS_AFTER_SHOW and "refunded_order_ids" in facts:
        return sorted(evidence.get("refunded_orders", [])) == sorted(facts["refunded_order_ids"])
    return True


@dataclass
class Show:
    org: Org
    session_id: int
    shelf: list[tuple[int, int]]  # (sku_id, live price)
    host_id: int
    host_kind: str


class Socket:
    """One room WebSocket held open by a task: honest ones ping and report playing, bots only
    like (or do nothing). Frames are read and dropped, as a slow client would not."""

    def __init__(
        self, url: str, headers: dict[str, str], *, honest: bool, delay_s: float, likes: int, like_count: int
    ) -> None:
        self.url, self.headers, self.honest = url, headers, honest
        self.delay_s, self.likes, self.like_count = delay_s, likes, like_count
        self.stop = asyncio.Event()
        self.opened = asyncio.Event()
        self.task = asyncio.create_task(self._run())

    async def _drain(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for _ in ws:
                pass

    async def _run(self) -> None:
        await asyncio.sleep(self.delay_s)
        async with connect(self.url, additional_headers=self.headers, open_timeout=10) as ws:
            reader = asyncio.create_task(self._drain(ws))
            self.opened.set()
            try:
                if self.honest:
                    await ws.send('"ping"')
                    await asyncio.sleep(0.05)
                    await ws.send(orjson.dumps({"type": "playing"}).decode())
                for _ in range(self.likes):
                    await ws.send(orjson.dumps({"type": "like", "count": self.like_count}).decode())
                    await asyncio.sleep(0.05 if not self.honest else 0.3)
                while not self.stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.stop.wait(), 1.0)
                    if self.honest and not self.stop.is_set():
                        await ws.send('"ping"')
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader

    async def close(self) -> None:
        self.stop.set()
        with contextlib.suppress(ConnectionClosed, OSError):
            await asyncio.wait_for(self.task, 10)


def cookie_header(client: httpx.AsyncClient) -> str:
    return "; ".join(f"{name}={value}" for name, value in client.cookies.items())


@dataclass
class Run:
    """One show being played: the run's random source, its parameters (recorded in the outcome)
    and the people and sockets it made."""

    stage: Stage
    part: Part
    kind: str
    seed: str
    rng: random.Random = field(init=False)
    params: dict[str, Any] = field(default_factory=dict)
    sockets: list[Socket] = field(default_factory=list)
    paid_orders: list[tuple[Buyer, int, int]] = field(default_factory=list)  # buyer, order id, total
    facts: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    @property
    def r(self) -> dict[str, Any]:
        return self.part.ranges

    # -- the world --

    def shelf_prices(self) -> list[int]:
        n = between(self.rng, self.r["shelf_items"])
        prices: list[int] = self.rng.sample(list(self.r["price_points_fen"]), n)
        return sorted(prices)

    async def world(self, host_kind: str, prices: list[int]) -> Show:
        stage = self.stage
        slug = f"coop-{self.part.name}-{next(stage.counter)}"
        members: list[Member] = [("organiser", Role.ORGANISER, None), ("host", Role.HOST, host_kind)]
        org = await make_org(stage.app, stage.client, slug, members=members, admin=stage.admin)
        org.clients["authority_inspector"] = stage.inspector
        skus = [
            {
                "spec_label": f"{i + 1}号装",
                "price_fen": p + 1000,
                "weight_g": 500 * (i + 1),
                "shelf_life_days": 30,
                "stock": 900,
            }
            for i, p in enumerate(prices)
        ]
        product = await create_product(
            org, "owner", inspected_by="authority_inspector", publish=True, title="靖宇山货组合", skus=skus
        )
        shelf = [(int(s["id"]), p) for s, p in zip(product["skus"], prices, strict=True)]
        body = {
            "organisation_id": org.org_id,
            "title": "靖宇山货助农直播",
            "scheduled_at": soon(),
            "host_ids": [org.ids["host"]],
            "shelf": [{"sku_id": sku, "live_price_fen": p, "session_stock": 900} for sku, p in shelf],
        }
        session_id = int(ok(await org["organiser"].post(f"{API}/sessions", json=body), 201)["id"])
        ok(await org["host"].post(f"{API}/sessions/{session_id}/start"))
        return Show(org, session_id, shelf, org.ids["host"], host_kind)

    # -- viewers --

    def ws_url(self, show: Show) -> str:
        return self.stage.served.base_url.replace("http://", "ws://") + f"/ws/rooms/{show.session_id}"

    async def honest_viewers(self, show: Show, buyers: Sequence[Buyer]) -> None:
        """The buyers' own sockets and anonymous visitors' up to `viewers`, each from its own
        address, joining over the first part of the show."""
        total = max(between(self.rng, self.r["viewers"]), len(buyers))
        spread = uniform(self.rng, self.r["viewer_join_spread_s"])
        self.params.update(viewers=total, viewer_join_spread_s=round(spread, 2))
        for i in range(total):
            if i < len(buyers):
                headers = {"Cookie": cookie_header(buyers[i].client), "X-Forwarded-For": buyers[i].ip}
            else:
                visitor = self.stage.client(public_ip(self.rng))
                ok(await visitor.get(f"{API}/auth/csrf"))  # the visitor's session, as session.js starts it
                headers = {"Cookie": cookie_header(visitor), "X-Forwarded-For": str(visitor.headers["X-Forwarded-For"])}
            likes = between(self.rng, self.r["honest_likes_per_viewer"])
            self.sockets.append(
                Socket(
                    self.ws_url(show),
                    headers,
                    honest=True,
                    delay_s=self.rng.uniform(0, spread),
                    likes=likes,
                    like_count=self.rng.randint(1, 3),
                )
            )

    async def bots(self, show: Show) -> None:
        n = between(self.rng, self.r["bots"])
        burst = uniform(self.rng, self.r["bot_burst_s"])
        likers = round(n * uniform(self.rng, self.r["bot_liker_share"]))
        messages = between(self.rng, self.r["bot_like_messages"])
        ip = f"47.{self.rng.randint(90, 120)}.{self.rng.randint(1, 254)}.{self.rng.randint(1, 254)}"  # one cloud server
        self.params.update(bots=n, bot_burst_s=round(burst, 2), bot_likers=likers, bot_like_messages=messages)
        self.facts.update(bots=n, bot_ip=ip)
        for i in range(n):
            self.sockets.append(
                Socket(
                    self.ws_url(show),
                    {"X-Forwarded-For": ip, "User-Agent": "python-requests/2.31"},
                    honest=False,
                    delay_s=self.rng.uniform(0, burst),
                    likes=messages if i < likers else 0,
                    like_count=50,
                )
            )

    # -- buying --

    async def checkout(self, show: Show, buyer: Buyer, basket: Sequence[tuple[int, int]]) -> dict[str, Any]:
        items = [{"sku_id": sku, "quantity": q, "session_id": show.session_id} for sku, q in basket]
        body = {"items": items, "address_id": buyer.address_id}
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        payment: dict[str, Any] = ok(await buyer.client.post(f"{API}/checkout", json=body, headers=headers), 201)
        return payment

    async def pay(self, buyer: Buyer, payment: dict[str, Any]) -> None:
        """Open the payment and confirm it on the sandbox's pay page (as after scanning its QR
        code in the same session: the page's form token is the session's CSRF token, so the page
        itself, whose QR code costs ~30 ms to draw, is not fetched); the signed notification
        reaches the server through the relay."""
        opened = ok(await buyer.client.post(f"{API}/payments/{payment['id']}/open"))
        path = httpx.URL(opened["pay_url"]).path
        form = {"csrf_token": str(buyer.client.headers["X-CSRF-Token"]), "return": "/"}
        confirmed = await buyer.client.post(f"{path}/confirm", data=form)
        assert confirmed.status_code == 303, confirmed.text[:300]

    async def buy(self, show: Show, buyer: Buyer, basket: Sequence[tuple[int, int]]) -> None:
        payment = await self.checkout(show, buyer, basket)
        await self.pay(buyer, payment)

        for order in payment["orders"]:
            self.paid_orders.append((buyer, int(order["id"]), int(order["total_fen"])))

    def honest_basket(self, show: Show) -> list[tuple[int, int]]:
        lines = min(between(self.rng, self.r["lines_per_buyer"]), len(show.shelf))
        chosen = self.rng.sample(show.shelf, lines)
        return [(sku, between(self.rng, self.r["units_per_line"])) for sku, _ in chosen]

    async def settle(self, done: Callable[[], Awaitable[Any]], what: str, within_s: float = 30.0) -> Any:
        """Let the relay deliver what is due until `done()` holds. A delivery that failed (a
        loaded machine: the sandbox's notification timed out) is retried by the relay after its
        back-off, as in production; only when nothing comes of it in `within_s` is the run lost."""
        ctx = self.stage.app.state.ctx
        deadline = asyncio.get_running_loop().time() + within_s
        while True:
            with contextlib.suppress(OutboxStuck):
                await ctx.relay.drain()
            result = await done()
            if result:
                return result
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"show {what}: not settled within {within_s:.0f} s")
            await asyncio.sleep(0.25)

    async def settle_payments(self, show: Show) -> None:
        """Every order bought is paid once the sandbox's notifications are delivered."""

        async def all_paid() -> bool:
            page = ok(await show.org["owner"].get(f"{API}/sessions/{show.session_id}/orders", params={"limit": 100}))
            states = {int(o["id"]): o["state"] for o in page["items"]}
            return all(states.get(order_id) == "paid" for _b, order_id, _t in self.paid_orders)

        await self.settle(all_paid, f"{show.session_id}: every order paid")

    async def rerun(self, show: Show) -> OutboxMessage | None:
        """The integrity rerun the end of the show scheduled (None until session.ended is consumed)."""
        async with self.stage.app.state.ctx.uow(write=False) as uow:
            found: OutboxMessage | None = await uow.session.scalar(
                sa.select(OutboxMessage).where(
                    OutboxMessage.topic == TOPIC_INTEGRITY, OutboxMessage.key == str(show.session_id)
                )
            )
            return found

    # -- chat --

    async def say(self, show: Show, who: httpx.AsyncClient, text: str) -> int:
        return int(ok(await who.post(f"{API}/sessions/{show.session_id}/chat", json={"body": text}), 201)["id"])

    async def remove(self, show: Show, message_id: int, reason: str) -> None:
        ok(await show.org["organiser"].post(f"{API}/chat/{message_id}/remove", json={"reason": reason}))

    # -- after the show --

    async def ask_refund(self, buyer: Buyer, order_id: int, total_fen: int, reason: str) -> None:
        body = {"kind": "refund_only", "reason": reason, "amount_fen": total_fen, "note": ""}
        ok(await buyer.client.post(f"{API}/orders/{order_id}/refund-requests", json=body), 201)

    async def end(self, show: Show) -> None:
        """The host ends the show; the viewers leave; session.ended is consumed: the rules run
        and schedule their rerun."""
        ok(await show.org["host"].post(f"{API}/sessions/{show.session_id}/end"))
        await asyncio.gather(*(s.close() for s in self.sockets))
        await self.settle(lambda: self.rerun(show), f"{show.session_id}: rules run at the end")

    async def quiet(self, show: Show) -> None:
        """What a week does to the server's memory of the show: every socket of the room has
        been let go (the hub holds none), and what the app keeps of them in memory for the
        database — the room sockets' journal, where the app has one (the fake-traffic rules read
        it; it writes every few seconds) — is written."""
        ctx = self.stage.app.state.ctx

        async def let_go() -> bool:
            return bool(ctx.room_hub.watching(show.session_id) == 0)

        await self.settle(let_go, f"{show.session_id}: every socket let go")
        journal = getattr(ctx, "room_journal", None)
        if journal is not None:
            assert await journal.flush(), "the room journal could not be written"

    async def week_passes(self, show: Show) -> None:
        """The rerun that the end scheduled for ended_at + the refund window, made due now and
        delivered by the relay as it would be a week later."""
        await self.quiet(show)
        async with self.stage.app.state.ctx.uow() as uow:
            moved = await uow.session.execute(
                sa.update(OutboxMessage)
                .where(
                    OutboxMessage.topic == TOPIC_INTEGRITY,
                    OutboxMessage.key == str(show.session_id),
                    OutboxMessage.published_at.is_(None),
                )
                .values(available_at=utcnow())
            )
            assert moved.rowcount == 1, "the end of the show scheduled no rerun"

        async def delivered() -> bool:
            message = await self.rerun(show)
            return message is not None and message.published_at is not None

        await self.settle(delivered, f"{show.session_id}: rules run after the refund window")

    async def alerts(self, show: Show) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = ok(await show.org["owner"].get(f"{API}/sessions/{show.session_id}/alerts"))
        return found


# -- the kinds -------------------------------------------------------------------------------------


def baskets_within(
    shelf: Sequence[tuple[int, int]], low: int, high: int, max_units: int = 6
) -> list[list[tuple[int, int]]]:
    """Every basket of shelf items (at most `max_units` units) whose total is in [low, high]."""
    out = []
    ranges = [range(0, max_units + 1)] * len(shelf)
    for qs in itertools.product(*ranges):
        if 0 < sum(qs) <= max_units and low <= sum(q * p for q, (_, p) in zip(qs, shelf, strict=True)) <= high:
            out.append([(sku, q) for q, (sku, _) in zip(qs, shelf, strict=True) if q])
    return out


async def play(stage: Stage, part: Part, kind: str, seed: str) -> Outcome:
    """Play one show of `kind` (see KINDS) with parameters drawn from `seed` and `part`'s ranges."""
    run = Run(stage, part, kind, seed)
    rng, r, texts = run.rng, run.r, part.texts
    host_kind = (
        "official" if kind == "official_credited" or rng.random() < r["official_host_share"] else "first_secretary"
    )
    prices = run.shelf_prices()
    quota = int(r["quota_fen"])
    over = float(r["quota_overspend_max"])
    if kind == "quota":  # a shelf on which a quota can be met to within the overspend people allow themselves
        while not baskets_within(list(enumerate(prices)), quota, int(quota * (1 + over))):
            prices = run.shelf_prices()
    run.params.update(host_kind=host_kind, prices_fen=prices)
    show = await run.world(host_kind, prices)

    n_buyers = between(rng, r["quota_honest_buyers"] if kind == "quota" else r["honest_buyers"])
    buyers = rng.sample(stage.pool, n_buyers)
    run.params["honest_buyers"] = n_buyers
    await run.honest_viewers(show, buyers)
    if kind == "bots":
        await run.bots(show)

    # During the show: the host's welcome (no health claims), honest buying and chat, the abuse.
    if rng.random() < 0.5:
        await run.say(show, show.org["host"], rng.choice(HOST_LINES))
    for buyer in buyers:
        await run.buy(show, buyer, run.honest_basket(show))
        if rng.random() < 0.3:
            await run.say(show, buyer.client, rng.choice(texts["positive"]))
    if kind == HONEST and rng.random() < r["honest_spam_removed_share"]:
        spammer = stage.client(public_ip(rng))
        await sign_up(spammer, f"ad{uuid.uuid4().hex[:8]}@{rng.choice(PUBLIC_MAIL)}", "推广达人")
        message = await run.say(show, spammer, rng.choice(texts["spam"]))
        await run.remove(show, message, "广告引流，按直播间规则移除")
        run.params["spam_removed"] = True

    if kind == "quota":
        cadres = between(rng, r["quota_cadres"])
        run.params.update(quota_fen=quota, cadres=cadres, overspend_max=over)
        township = f"town{uuid.uuid4().hex[:6]}.gov.cn"
        baskets = baskets_within(show.shelf, quota, int(quota * (1 + over)))
        totals, cadre_ids = [], []
        for i in range(cadres):
            cadre = await new_buyer(
                stage,
                rng,
                f"cadre{i}@{township}",
                f"{rng.choice(SURNAMES)}干部{i}",
                street="靖宇镇人民政府院内",
                region="220622",
            )
            cadre_ids.append(cadre.user_id)
            basket = rng.choice(baskets)
            await run.buy(show, cadre, basket)
            totals.append(sum(q * p for sku, q in basket for s, p in show.shelf if s == sku))
        run.params["cadre_totals_fen"] = totals
        run.facts.update(quota_fen=quota, cadre_ids=cadre_ids)

    if kind == "restaged":
        restagers = rng.sample(buyers, min(len(buyers), between(rng, r["restaged_buyers"])))
        times = []
        for buyer in restagers:
            basket = run.honest_basket(show)
            n = between(rng, r["restage_times"])
            times.append(n)
            for _ in range(n):
                payment = await run.checkout(show, buyer, basket)
                for order in payment["orders"]:
                    ok(await buyer.client.post(f"{API}/orders/{order['id']}/cancel", json={"reason": "重新下单"}))
                await asyncio.sleep(rng.uniform(0.0, 0.2))
            await run.buy(show, buyer, basket)
        run.params.update(restaged_buyers=len(restagers), restage_times=times)
        run.facts["restaged_buyer_ids"] = [b.user_id for b in restagers]

    if kind == "negative_removed":
        n = between(rng, r["negative_comments"])
        run.params["negative_comments"] = n
        for complainer in rng.sample(stage.pool, n):
            message = await run.say(show, complainer.client, rng.choice(texts["negative"]))
            run.facts.setdefault("removed_message_ids", []).append(message)
            await asyncio.sleep(rng.uniform(0.0, 0.2))
            await run.remove(show, message, rng.choice(["恶意差评", "与本场无关", "影响直播间秩序"]))

    gift_after = rng.random() < 0.5
    if kind == "official_credited" and not gift_after:
        await credit_official(run, show)

    await run.settle_payments(show)
    await run.end(show)

    # The week after: refunds (a few on every show; a wave on one), a gift, then the rerun.
    paid = list(run.paid_orders)
    rng.shuffle(paid)
    if kind == "refund_wave":
        share = uniform(rng, r["refund_share"])
        refunds = math.ceil(share * len(paid))
        run.params["refund_share"] = round(share, 3)
    else:
        refunds = rng.randint(0, math.floor(float(r["honest_refund_share_max"]) * len(paid)))
    run.params["refunded_orders"] = refunds
    if kind == "refund_wave":
        run.facts["refunded_order_ids"] = [order_id for _b, order_id, _t in paid[:refunds]]
    for buyer, order_id, total in paid[:refunds]:
        reason = rng.choice(["changed_mind", "other"]) if kind == "refund_wave" else rng.choice(["damaged", "too_slow"])
        await run.ask_refund(buyer, order_id, total, reason)
    if kind == "official_credited" and gift_after:
        await credit_official(run, show)
    run.params["paid_orders"] = len(paid)
    await run.week_passes(show)

    alerts = await run.alerts(show)
    expected = tuple(x for x in EXPECTED[kind] if x in registered_rule_ids())
    return Outcome(part.name, kind, seed, show.session_id, run.params, alerts, expected, run.facts)


async def credit_official(run: Run, show: Show) -> None:
    """The cooperative credits the official who hosted the show with a gift."""
    amount = between(run.rng, run.r["gift_fen"])
    body = {
        "user_id": show.host_id,
        "session_id": show.session_id,
        "kind": "gift",
        "amount_fen": amount,
        "note": run.rng.choice(["感谢领导支持", "节日慰问", "辛苦费"]),
    }
    ok(await show.org["owner"].post(f"/api/v1/organisations/{show.org.slug}/credits", json=body), 201)
    run.params["gift_fen"] = amount
    run.facts.update(credited_user_id=show.host_id, gift_fen=amount)
