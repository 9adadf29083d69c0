"""A show to run the integrity rules over: the commerce test shop (tests/commerce/shop.py), ended,
with its people (each role of the organisation, an outsider, a platform admin, each with an API
token) and orders written directly as the rules read them."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.accounts.models import (
    ApiToken,
    HostKind,
    HostVerification,
    Membership,
    Organisation,
    Role,
    User,
    VerificationStatus,
)
from fieldcast.accounts.security import hash_token
from fieldcast.catalog.models import Supplier
from fieldcast.commerce.models import Order, OrderState, RefundStatus
from fieldcast.db.base import utcnow
from fieldcast.db.uow import UnitOfWork
from fieldcast.live.models import LiveSession, SessionHost, SessionState
from tests.commerce.shop import Shop, open_shop

ROLES = {
    "owner": Role.OWNER,
    "organiser": Role.ORGANISER,
    "supervisor": Role.SUPERVISOR,
    "host": Role.HOST,
    "supplier": Role.SUPPLIER,
    "inspector": Role.INSPECTOR,
}


@dataclass
class World:
    shop: Shop
    supplier_id: int
    ended_at: datetime
    people: dict[str, int]  # ROLES' names, "outsider", "admin"
    headers: dict[str, dict[str, str]]

    @property
    def session_id(self) -> int:
        return self.shop.session_id


async def world(app: FastAPI, *, buyers: int = 8) -> World:
    async with app.state.ctx.uow() as uow:
        # open_shop names its organisation by the second: a second shop in it gets another name.
        await uow.session.execute(
            sa.update(Organisation).where(Organisation.slug.like("shop%")).values(slug=Organisation.slug + "x")
        )
        shop = await open_shop(uow, buyers=buyers)
        supplier_id = await uow.session.scalar(sa.select(Supplier.id).where(Supplier.organisation_id == shop.org_id))
        assert supplier_id is not None
        live = await uow.session.get(LiveSession, shop.session_id)
        assert live is not None
        ended_at = utcnow() - timedelta(hours=1)
        live.state, live.ended_at = SessionState.ENDED, ended_at
        # Ordinary buyers to the rules over who bought (rules_orders.py): accounts months old, each
        # at a public mailbox (place() sends each order to the buyer's own phone and street).
        for n, buyer_id in enumerate(shop.buyers):
            await uow.session.execute(
                sa.update(User)
                .where(User.id == buyer_id)
                .values(email=f"buyer{n}-{shop.org_id}@qq.com", created_at=utcnow() - timedelta(days=90))
            )
        people: dict[str, int] = {}
        headers: dict[str, dict[str, str]] = {}
        for name in [*ROLES, "outsider", "admin"]:
            person = User(
                email=f"{name}-{shop.org_id}@world.example",
                display_name=name,
                password_hash="x",
                is_platform_admin=name == "admin",
            )
            uow.session.add(person)
            await uow.session.flush()
            if name in ROLES:
                uow.session.add(Membership(organisation_id=shop.org_id, user_id=person.id, role=ROLES[name]))
            secret = secrets.token_urlsafe(24)
            uow.session.add(
                ApiToken(
                    user_id=person.id, name="t", token_hash=hash_token(secret), prefix=secret[:8], last_used_at=utcnow()
                )
            )
            people[name] = person.id
            headers[name] = {"Authorization": f"Bearer {secret}"}
    return World(shop, supplier_id, ended_at, people, headers)


async def place(
    uow: UnitOfWork, w: World, buyer_id: int, total_fen: int, *, paid: bool = True, refunded_fen: int = 0
) -> int:
    """An order of the show, as checkout and payment leave it (refunded_fen as a landed refund)."""
    now = utcnow()
    order = Order(
        checkout_ref=secrets.token_hex(8),
        buyer_id=buyer_id,
        organisation_id=w.shop.org_id,
        supplier_id=w.supplier_id,
        session_id=w.session_id,
        state=OrderState.PAID if paid else OrderState.PENDING_PAYMENT,
        total_fen=total_fen,
        units=1,
        pay_by=now + timedelta(minutes=15),
        paid_at=now - timedelta(hours=2) if paid else None,
        recipient="王小明",
        phone=f"138{buyer_id:08d}",
        region_code="420506",
        street=f"江边路{buyer_id}号",
        refunded_fen=refunded_fen,
        refund_status=RefundStatus.REFUNDED if refunded_fen else RefundStatus.NONE,
    )
    uow.session.add(order)
    await uow.session.flush()
    return order.id


async def show(app: FastAPI, w: World) -> LiveSession:
    async with app.state.ctx.uow(write=False) as uow:
        live = await uow.session.get(LiveSession, w.session_id)
        assert live is not None
        return live


async def refund_asked(
    uow: UnitOfWork,
    w: World,
    order_id: int,
    at: datetime,
    state: str = "refunded",
) -> None:
    """A refund request on an order, made at `at` (as after-sales stores it)."""
    from fieldcast.aftersales.models import RefundKind, RefundReason, RefundRequest, RefundRequestState

    order = await uow.session.get(Order, order_id)
    assert order is not None
    uow.session.add(
        RefundRequest(
            order_id=order_id,
            buyer_id=order.buyer_id,
            organisation_id=order.organisation_id,
            supplier_id=order.supplier_id,
            session_id=order.session_id,
            kind=RefundKind.REFUND_ONLY,
            reason=RefundReason.TOO_SLOW,
            amount_fen=order.total_fen,
            state=RefundRequestState(state),
            order_state_at_request="paid",
            seconds_after_show_end=int((at - w.ended_at).total_seconds()),
            created_at=at,
        )
    )


async def add_host(app: FastAPI, w: World, kind: HostKind) -> int:
    async with app.state.ctx.uow() as uow:
        host = User(email=f"{kind}-{w.session_id}@world.example", display_name="县长", password_hash="x")
        uow.session.add(host)
        await uow.session.flush()
        uow.session.add(SessionHost(session_id=w.session_id, user_id=host.id))
        uow.session.add(
            HostVerification(
                user_id=host.id,
                legal_name="张三",
                id_number_hash="h" * 64,
                id_number_last4="1234",
                host_kind=kind,
                position_title="副县长",
                jurisdiction="220622",
                evidence_note="任命文件",
                status=VerificationStatus.APPROVED,
                decided_at=utcnow(),
                valid_until=utcnow() + timedelta(days=365),
            )
        )
        return host.id
