"""A paid order to ask refunds of: the commerce test shop (tests/commerce/shop.py), a buyer who
checked out through payments and paid at the sandbox provider, and the people around the order
(a supplier-role member, an organiser, an outsider, another buyer), all written directly."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.accounts.models import Membership, Organisation, Role, User
from fieldcast.catalog.models import Sku
from fieldcast.commerce.checkout import Wanted
from fieldcast.commerce.models import Order, OrderLine
from fieldcast.db.base import utcnow
from fieldcast.live.models import ShelfItem
from fieldcast.payments import actions
from fieldcast.payments.models import NotificationOutcome, SandboxState, SandboxTransaction
from fieldcast.payments.provider import Notification
from tests.commerce.shop import Shop, open_shop


@dataclass
class Deal:
    shop: Shop
    order_id: int
    payment_id: int
    buyer: int
    other_buyer: int
    supplier: int  # supplier role in the shop's organisation
    organiser: int  # organiser role there
    outsider: int


async def user(app: FastAPI, user_id: int) -> User:
    async with app.state.ctx.uow(write=False) as uow:
        found = await uow.session.get(User, user_id)
        assert found is not None
        return found


async def paid_deal(app: FastAPI, *, pool_units: int = 2, plain_units: int = 0) -> Deal:
    """The buyer bought `pool_units` from the show's pool (and `plain_units` of the SKU sold
    from its stock alone) and paid; the provider's notification was applied."""
    ctx = app.state.ctx
    async with ctx.uow() as uow:
        # open_shop names its organisation by the second: a second shop in it gets another name.
        await uow.session.execute(
            sa.update(Organisation).where(Organisation.slug.like("shop%")).values(slug=Organisation.slug + "x")
        )
        shop = await open_shop(uow, sku_stock=10, pool=5, per_buyer_limit=3, buyers=2)
        people = [
            User(email=f"{name}{shop.org_id}@shop.example", display_name=name, password_hash="x")
            for name in ("supplier", "organiser", "outsider")
        ]
        uow.session.add_all(people)
        await uow.session.flush()
        uow.session.add(Membership(organisation_id=shop.org_id, user_id=people[0].id, role=Role.SUPPLIER))
        uow.session.add(Membership(organisation_id=shop.org_id, user_id=people[1].id, role=Role.ORGANISER))
    buyer = await user(app, shop.buyers[0])
    wanted = [Wanted(shop.skus[0], pool_units, shop.session_id)]
    if plain_units:
        wanted.append(Wanted(shop.skus[1], plain_units, None))
    async with ctx.uow() as uow:
        done = await actions.checkout(
            uow, ctx.gate, ctx.payment_provider, buyer, wanted, shop.addresses[buyer.id], pay_minutes=15
        )
    payment = await actions.open_payment(ctx.uow, ctx.payment_provider, buyer, done.payment.id, "http://x/notify")
    async with ctx.uow() as uow:
        txn = await uow.session.scalar(
            sa.select(SandboxTransaction).where(SandboxTransaction.out_trade_no == payment.out_trade_no)
        )
        assert txn is not None
        txn.trade_state, txn.paid_at = SandboxState.SUCCESS, utcnow()
        notification = Notification(
            notification_id=f"paid-{payment.id}",
            event_type="TRANSACTION.SUCCESS",
            out_trade_no=payment.out_trade_no,
            transaction_id=txn.transaction_id,
            amount_fen=payment.amount_fen,
            paid_at=utcnow(),
            body={},
        )
    async with ctx.uow() as uow:
        outcome = await actions.apply_notification(uow, ctx.gate, ctx.payment_provider.name, notification)
    assert outcome == NotificationOutcome.APPLIED
    await ctx.relay.drain()
    (order,) = done.placed.orders
    return Deal(shop, order.id, payment.id, shop.buyers[0], shop.buyers[1], people[0].id, people[1].id, people[2].id)


@dataclass(frozen=True)
class Stock:
    """The pool SKU's and the pool's numbers, and the buyer's tally of the pool."""

    sku: tuple[int, int, int, int]  # sold, reserved, available, stock
    pool: tuple[int, int, int, int]
    plain: tuple[int, int, int, int]  # the SKU sold from its stock alone


async def stock(app: FastAPI, deal: Deal) -> Stock:
    async with app.state.ctx.uow(write=False) as uow:
        s = uow.session
        sku = await s.get(Sku, deal.shop.skus[0], populate_existing=True)
        plain = await s.get(Sku, deal.shop.skus[1], populate_existing=True)
        item = await s.get(ShelfItem, deal.shop.shelf_item_id, populate_existing=True)
        assert sku is not None and plain is not None and item is not None
        for k in (sku, plain):  # the invariant, whatever happened
            assert k.sold + k.reserved + k.available == k.stock
        assert item.session_stock is not None
        assert item.session_sold + item.session_reserved + item.session_available == item.session_stock
        return Stock(
            (sku.sold, sku.reserved, sku.available, sku.stock),
            (item.session_sold, item.session_reserved, item.session_available, item.session_stock),
            (plain.sold, plain.reserved, plain.available, plain.stock),
        )


async def order_of(app: FastAPI, order_id: int) -> Order:
    async with app.state.ctx.uow(write=False) as uow:
        order = await uow.session.get(Order, order_id)
        assert order is not None
        return order


async def lines(app: FastAPI, order_id: int) -> list[OrderLine]:
    async with app.state.ctx.uow(write=False) as uow:
        rows = await uow.session.scalars(
            sa.select(OrderLine).where(OrderLine.order_id == order_id).order_by(OrderLine.id)
        )
        return list(rows)
