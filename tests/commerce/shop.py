"""A small shop for commerce tests that need many fresh databases (property tests, concurrency):
one organisation and supplier, a published product with two SKUs, a live show whose shelf has a
flash-sale pool, buyers with addresses. Rows are written directly for speed: what is under test is
checkout and the order actions, which run as in production."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from fieldcast.accounts.models import ApiToken, Organisation, OrgKind, User
from fieldcast.accounts.security import hash_token
from fieldcast.catalog.models import Category, Product, ProductStatus, Sku, Supplier, SupplierKind
from fieldcast.commerce.models import Address, BuyerTally, Order, OrderLine, OrderState
from fieldcast.db.base import utcnow
from fieldcast.db.uow import UnitOfWork
from fieldcast.live.models import LiveSession, SessionState, ShelfItem

HOLDING = (OrderState.PENDING_PAYMENT, OrderState.PAID, OrderState.SHIPPED, OrderState.DELIVERED, OrderState.COMPLETED)
SOLD = (OrderState.PAID, OrderState.SHIPPED, OrderState.DELIVERED, OrderState.COMPLETED)


@dataclass
class Shop:
    org_id: int
    session_id: int
    skus: list[int]  # skus[0] is on the shelf with a pool, skus[1] sells from its stock alone
    shelf_item_id: int
    buyers: list[int]
    addresses: dict[int, int]  # buyer -> address id


async def open_shop(
    uow: UnitOfWork,
    *,
    sku_stock: int = 10,
    pool: int | None = 6,
    per_buyer_limit: int | None = 3,
    sku_limit: int | None = None,
    buyers: int = 3,
) -> Shop:
    s = uow.session
    org = Organisation(slug=f"shop{utcnow().timestamp():.0f}", name="靖宇县助农合作社", kind=OrgKind.COOPERATIVE)
    s.add(org)
    await s.flush()
    supplier = Supplier(
        organisation_id=org.id,
        name="山货合作社",
        kind=SupplierKind.COOPERATIVE,
        ship_from_region="220622",
        contact_name="王",
        contact_phone="0439-1234567",
    )
    s.add(supplier)
    await s.flush()
    product = Product(
        organisation_id=org.id,
        supplier_id=supplier.id,
        title="靖宇蓝莓",
        category=Category.FRESH_PRODUCE,
        origin_region="220622",
        status=ProductStatus.PUBLISHED,
        published_at=utcnow(),
    )
    s.add(product)
    await s.flush()
    skus = []
    for label, price in (("5斤装", 7900), ("2斤装", 3900)):
        sku = Sku(
            product_id=product.id,
            spec_label=label,
            price_fen=price,
            weight_g=2500,
            shelf_life_days=7,
            stock=sku_stock,
            available=sku_stock,
            reserved=0,
            sold=0,
            per_buyer_limit=sku_limit,
        )
        s.add(sku)
        skus.append(sku)
    host = User(email=f"host{org.id}@shop.example", display_name="主播", password_hash="x")
    s.add(host)
    await s.flush()
    live = LiveSession(
        organisation_id=org.id,
        title="靖宇蓝莓助农直播",
        scheduled_at=utcnow(),
        stream_name=f"s{org.id:015d}",
        state=SessionState.LIVE,
        started_at=utcnow(),
    )
    s.add(live)
    await s.flush()
    item = ShelfItem(
        session_id=live.id,
        sku_id=skus[0].id,
        live_price_fen=6900,
        session_stock=pool,
        session_available=pool or 0,
        session_reserved=0,
        session_sold=0,
        flash_starts_at=utcnow() - timedelta(minutes=1),
        per_buyer_limit=per_buyer_limit,
    )
    s.add(item)
    people = [
        User(email=f"buyer{n}-{org.id}@shop.example", display_name=f"买家{n}", password_hash="x") for n in range(buyers)
    ]
    s.add_all(people)
    await s.flush()
    addresses = {}
    for person in people:
        address = Address(
            user_id=person.id,
            recipient="王小明",
            phone="13812341234",
            region_code="420506",  # 湖北省宜昌市夷陵区
            street="江边路1号",
            is_default=True,
        )
        s.add(address)
        await s.flush()
        addresses[person.id] = address.id
    return Shop(org.id, live.id, [k.id for k in skus], item.id, [p.id for p in people], addresses)


@dataclass
class Crowd:
    """Many buyers at once, each with an address (and an API token for HTTP)."""

    user_ids: list[int]
    address_ids: list[int]
    tokens: list[str]


async def crowd(uow: UnitOfWork, size: int, *, tokens: bool = False) -> Crowd:
    """`size` buyers written in bulk, each with a default address and, when asked, an API token
    (last used just now, so using it writes nothing)."""
    tag = secrets.token_hex(3)
    people = [
        User(email=f"crowd{n}-{tag}@example.com", display_name=f"观众{n}", password_hash="x") for n in range(size)
    ]
    uow.session.add_all(people)
    await uow.session.flush()
    addresses = [
        Address(
            user_id=p.id, recipient="买家", phone="13812341234", region_code="420527", street="1号", is_default=True
        )
        for p in people
    ]
    uow.session.add_all(addresses)
    secrets_ = [secrets.token_urlsafe(24) for _ in people] if tokens else []
    uow.session.add_all(
        ApiToken(user_id=p.id, name="crowd", token_hash=hash_token(t), prefix=t[:8], last_used_at=utcnow())
        for p, t in zip(people, secrets_, strict=False)
    )
    await uow.session.flush()
    return Crowd([p.id for p in people], [a.id for a in addresses], secrets_)


async def check_invariants(uow: UnitOfWork, shop: Shop) -> None:
    """sold + reserved + available = stock for every SKU and the pool; reserved and sold equal
    what the orders hold; tallies equal what each buyer holds and stay within the limit."""
    s = uow.session
    lines = (
        await s.execute(
            sa.select(Order.state, Order.buyer_id, OrderLine.sku_id, OrderLine.shelf_item_id, OrderLine.quantity).join(
                OrderLine, OrderLine.order_id == Order.id
            )
        )
    ).all()
    for sku in await s.scalars(sa.select(Sku).where(Sku.id.in_(shop.skus)).execution_options(populate_existing=True)):
        assert min(sku.available, sku.reserved, sku.sold) >= 0, sku
        assert sku.sold + sku.reserved + sku.available == sku.stock, (sku.sold, sku.reserved, sku.available, sku.stock)
        assert sku.reserved == sum(q for st, _b, k, _i, q in lines if k == sku.id and st == OrderState.PENDING_PAYMENT)
        assert sku.sold == sum(q for st, _b, k, _i, q in lines if k == sku.id and st in SOLD)
    item = await s.get(ShelfItem, shop.shelf_item_id, populate_existing=True)
    assert item is not None
    if item.session_stock is not None:
        assert min(item.session_available, item.session_reserved, item.session_sold) >= 0
        assert item.session_sold + item.session_reserved + item.session_available == item.session_stock
        assert item.session_reserved == sum(
            q for st, _b, _k, i, q in lines if i == item.id and st == OrderState.PENDING_PAYMENT
        )
        assert item.session_sold == sum(q for st, _b, _k, i, q in lines if i == item.id and st in SOLD)
    tallies = {(t.scope, t.user_id): t.units for t in await s.scalars(sa.select(BuyerTally))}
    if item.per_buyer_limit:
        for buyer in shop.buyers:
            held = sum(q for st, b, _k, i, q in lines if i == item.id and b == buyer and st in HOLDING)
            assert tallies.get((f"shelf:{item.id}", buyer), 0) == held
            assert held <= item.per_buyer_limit
