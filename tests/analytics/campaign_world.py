"""Two counties in two provinces, a provincial government office, shows with hosts of different
kinds, suppliers (farmers among them) and orders written directly as checkout, payment and
delivery leave them; the people are real signed-in clients."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.accounts.models import (
    HostKind,
    HostVerification,
    Membership,
    Organisation,
    OrgKind,
    Role,
    User,
    VerificationStatus,
)
from fieldcast.catalog.models import Supplier, SupplierKind
from fieldcast.commerce.models import Order, OrderState, RefundStatus
from fieldcast.db.base import utcnow
from fieldcast.live.models import LiveEvent, LiveSession, SessionHost, SessionState
from tests.factories import sign_up

# Beijing days of the campaign: 2026-10-01 .. 2026-10-07.
DAY1 = datetime(2026, 10, 2, 2, 0, tzinfo=UTC)  # 10:00 in Beijing on 2 October
DAY2 = datetime(2026, 10, 5, 2, 0, tzinfo=UTC)
OUTSIDE = datetime(2026, 10, 20, 2, 0, tzinfo=UTC)
JILIN, JINGYU = "220000", "220622"  # province, county
HUBEI, ZIGUI = "420000", "420527"


@dataclass
class CampaignWorld:
    gov: int  # 吉林省商务厅: verified government, jurisdiction Jilin
    county_a: int  # in Jingyu county (Jilin), by its region text
    county_b: int  # in Zigui county (Hubei), by its verified jurisdiction code
    shows: dict[str, int]
    orders: dict[str, int]
    clients: dict[str, httpx.AsyncClient]
    users: dict[str, int] = field(default_factory=dict)


async def _person(
    app: FastAPI, make_client: Callable[[], httpx.AsyncClient], name: str, tag: str
) -> tuple[httpx.AsyncClient, int]:
    client = make_client()
    user = await sign_up(client, f"{name}-{tag}@campaign.example", name)
    return client, int(user["id"])


async def build(app: FastAPI, make_client: Callable[[], httpx.AsyncClient]) -> CampaignWorld:
    tag = secrets.token_hex(3)
    clients: dict[str, httpx.AsyncClient] = {}
    users: dict[str, int] = {}
    for name in ("admin", "gov_owner", "gov_supervisor", "gov_host", "a_owner", "b_owner", "outsider"):
        clients[name], users[name] = await _person(app, make_client, name, tag)
    async with app.state.ctx.uow() as uow:
        s = uow.session
        await s.execute(sa.update(User).where(User.id == users["admin"]).values(is_platform_admin=True))
        gov = Organisation(
            slug=f"jl-commerce-{tag}",
            name="吉林省商务厅",
            kind=OrgKind.GOVERNMENT,
            region="吉林省",
            verified_kind=OrgKind.GOVERNMENT,
            verified_at=utcnow(),
            jurisdiction_code=JILIN,
        )
        a = Organisation(
            slug=f"jingyu-{tag}", name="靖宇县助农合作社", kind=OrgKind.COOPERATIVE, region="吉林省白山市靖宇县"
        )
        b = Organisation(
            slug=f"zigui-{tag}",
            name="秭归县人民政府",
            kind=OrgKind.GOVERNMENT,
            region="",
            verified_kind=OrgKind.GOVERNMENT,
            verified_at=utcnow(),
            jurisdiction_code=ZIGUI,
        )
        s.add_all([gov, a, b])
        await s.flush()
        for who, org, role in (
            ("gov_owner", gov, Role.OWNER),
            ("gov_supervisor", gov, Role.SUPERVISOR),
            ("gov_host", gov, Role.HOST),
            ("a_owner", a, Role.OWNER),
            ("b_owner", b, Role.OWNER),
        ):
            s.add(Membership(organisation_id=org.id, user_id=users[who], role=role))
        suppliers = {}
        for key, org, kind in (
            ("a_farmer", a, SupplierKind.FARMER),
            ("a_coop", a, SupplierKind.COOPERATIVE),
            ("b_farmer", b, SupplierKind.FARMER),
        ):
            sup = Supplier(
                organisation_id=org.id,
                name=key,
                kind=kind,
                ship_from_region=JINGYU,
                contact_name="王",
                contact_phone="1",
            )
            s.add(sup)
            await s.flush()
            suppliers[key] = sup.id
        hosts = {}
        for key, kind in (("official", HostKind.OFFICIAL), ("farmer", HostKind.FARMER)):
            host = User(email=f"{key}-{tag}@campaign.example", display_name=key, password_hash="x")
            s.add(host)
            await s.flush()
            s.add(
                HostVerification(
                    user_id=host.id,
                    legal_name="张三",
                    id_number_hash=secrets.token_hex(32),
                    id_number_last4="1234",
                    host_kind=kind,
                    position_title="县长" if kind == HostKind.OFFICIAL else "果农",
                    jurisdiction=JINGYU,
                    evidence_note="文件",
                    status=VerificationStatus.APPROVED,
                    decided_at=utcnow(),
                    valid_until=utcnow() + timedelta(days=365),
                )
            )
            hosts[key] = host.id
        event = LiveEvent(
            organisation_id=a.id, slug=f"jingyu-blueberry-{tag}", title="靖宇蓝莓节", starts_at=DAY1, ends_at=DAY2
        )
        s.add(event)
        await s.flush()
        shows = {}
        for key, org, when, state, host in (
            ("a1", a, DAY1, SessionState.ENDED, "official"),
            ("b1", b, DAY2, SessionState.ENDED, "farmer"),
            ("a_cancelled", a, DAY2, SessionState.CANCELLED, "official"),
            ("a_later", a, OUTSIDE, SessionState.ENDED, "official"),
        ):
            live = LiveSession(
                organisation_id=org.id,
                title=f"直播 {key}",
                scheduled_at=when,
                stream_name=secrets.token_hex(8),
                state=state,
                is_public_welfare=True,
                event_id=event.id if key == "a1" else None,
            )
            s.add(live)
            await s.flush()
            s.add(SessionHost(session_id=live.id, user_id=hosts[host]))
            shows[key] = live.id
        buyer = users["outsider"]
        orders = {}
        for key, show, org, supplier, total, paid, delivered_h in (
            ("a1_farmer", "a1", a, "a_farmer", 10000, True, 48),
            ("a1_coop", "a1", a, "a_coop", 5000, True, None),
            ("a1_unpaid", "a1", a, "a_coop", 3000, False, None),
            ("b1_big", "b1", b, "b_farmer", 20000, True, 24),
            ("b1_small", "b1", b, "b_farmer", 8000, True, None),
            ("later", "a_later", a, "a_farmer", 99900, True, None),
            ("cancelled_show", "a_cancelled", a, "a_farmer", 77700, True, None),
        ):
            placed = DAY1 if show == "a1" else DAY2
            paid_at = placed + timedelta(minutes=5) if paid else None
            order = Order(
                checkout_ref=secrets.token_hex(8),
                buyer_id=buyer,
                organisation_id=org.id,
                supplier_id=suppliers[supplier],
                session_id=shows[show],
                state=OrderState.DELIVERED if delivered_h else (OrderState.PAID if paid else OrderState.EXPIRED),
                total_fen=total,
                units=1,
                pay_by=placed + timedelta(minutes=15),
                paid_at=paid_at,
                delivered_at=paid_at + timedelta(hours=delivered_h) if paid_at and delivered_h else None,
                recipient="王小明",
                phone="13800000000",
                region_code=JINGYU,
                street="江边路1号",
                created_at=placed,
            )
            s.add(order)
            await s.flush()
            orders[key] = order.id
    return CampaignWorld(gov.id, a.id, b.id, shows, orders, clients, users)


async def land_refund(app: FastAPI, order_id: int, fen: int) -> None:
    """A refund that lands after the show, as after-sales leaves the order."""
    async with app.state.ctx.uow() as uow:
        order = await uow.session.get(Order, order_id)
        assert order is not None
        order.refunded_fen = fen
        order.refund_status = RefundStatus.REFUNDED if fen == order.total_fen else RefundStatus.PARTIALLY_REFUNDED


async def order_sums(app: FastAPI, session_ids: list[int]) -> dict[str, int]:
    """The report's money straight from the order rows beneath."""
    async with app.state.ctx.uow(write=False) as uow:
        rows = (await uow.session.scalars(sa.select(Order).where(Order.session_id.in_(session_ids)))).all()
    paid = [o for o in rows if o.paid_at is not None]
    return {
        "orders": len(rows),
        "paid_orders": len(paid),
        "raw_fen": sum(o.total_fen for o in rows),
        "paid_fen": sum(o.total_fen for o in paid),
        "refunded_fen": sum(o.refunded_fen for o in paid),
        "verified_fen": sum(o.total_fen - o.refunded_fen for o in paid),
        "suppliers": len({o.supplier_id for o in paid}),
    }
