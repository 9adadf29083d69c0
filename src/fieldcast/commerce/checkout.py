"""Checkout: what a buyer wants becomes orders, one per supplier, with every unit reserved.

Order of the steps, each a guard that fails early with a domain error:
1. who and what: a signed-in buyer, their address, 1-50 lines of published, active SKUs; a line
   bought in a live room comes from that room's shelf at its live price, and a flash sale only
   once it started (by the server's clock);
2. the gate (commerce/gate.py): in Redis mode a show pool's units and the buyer's limit are taken
   there first, and given back if anything later fails;
3. what the database last committed: a line whose pool or SKU has too few units left is refused
   from that plain read, without taking a lock (in a sold-out sale, almost every buyer);
4. a coupon, when the buyer chose one (commerce/coupons): taken off the one order it saves the
   most on, marked used by a guarded UPDATE (two checkouts cannot both use it);
5. the orders, their lines as bought and the audit log (`prepare_orders`). An order's total_fen
   is what the buyer pays for it: its lines less its discount_fen;
6. the reservation, last (`reserve_orders`): SKUs, then show pools, then per-buyer tallies, each
   in id order, each a guarded UPDATE (nothing is ever oversold, and concurrent checkouts cannot
   deadlock). A flash sale's SKU and pool rows are the hottest rows there are, so they are locked
   as late as possible: the caller adds what it must (the payment) before, and commits right after.
Nothing here calls a payment provider: payments/ opens the payment after this commits."""

from __future__ import annotations

import functools
import secrets
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from fieldcast.accounts.models import User
from fieldcast.accounts.permissions import require_user
from fieldcast.catalog import stock as sku_stock
from fieldcast.catalog.models import Product, ProductStatus, Sku, Supplier
from fieldcast.catalog.regions import path as region_path
from fieldcast.commerce import errors as e
from fieldcast.commerce.coupons import actions as coupons
from fieldcast.commerce.coupons import queries as coupon_queries
from fieldcast.commerce.coupons.discount import BasketLine, BasketOrder
from fieldcast.commerce.coupons.schemas import QuoteOut
from fieldcast.commerce.events import ShelfStock
from fieldcast.commerce.gate import NotLoaded, PoolState, StockGate, Taken
from fieldcast.commerce.models import (
    CART_LINES_MAX,
    QUANTITY_MAX,
    Address,
    BuyerTally,
    Order,
    OrderLine,
)
from fieldcast.commerce.orders import audit_order, emit_order
from fieldcast.db.base import utcnow
from fieldcast.db.uow import UnitOfWork
from fieldcast.i18n import N_
from fieldcast.live import stock as pool_stock
from fieldcast.live.models import LiveSession, ProductMark, SessionState, ShelfItem

PAY_MINUTES_DEFAULT = 15


@dataclass(frozen=True)
class Wanted:
    """One line of a checkout: a SKU and how many; `session_id` when bought in that live room."""

    sku_id: int
    quantity: int
    session_id: int | None = None


@dataclass
class _Line:
    wanted: Wanted
    sku: Sku
    product: Product
    item: ShelfItem | None  # the shelf item, when bought in a live room
    host_id: int | None

    @property
    def unit_price_fen(self) -> int:
        return self.item.live_price_fen if self.item is not None else self.sku.price_fen

    @property
    def pool_id(self) -> int | None:
        """The show pool the units come from (a shelf item with its own stock)."""
        return self.item.id if self.item is not None and self.item.session_stock is not None else None


@dataclass
class Placed:
    checkout_ref: str
    orders: list[Order]
    total_fen: int
    pay_by: datetime
    buyer_id: int = 0
    lines: list[_Line] = field(default_factory=list)  # what reserve_orders takes


def merge(wanted: Sequence[Wanted]) -> list[Wanted]:
    """One line per SKU and room, quantities added; the limits are checked on the result."""
    if not wanted:
        raise e.NotOnSale(N_("Choose something to buy first."), field="items")
    totals: dict[tuple[int, int | None], int] = defaultdict(int)
    for line in wanted:
        totals[(line.sku_id, line.session_id)] += line.quantity
    if len(totals) > CART_LINES_MAX:
        raise e.NotOnSale(N_("An order holds at most %(n)s different items."), field="items", n=CART_LINES_MAX)
    merged = [Wanted(sku_id, quantity, session_id) for (sku_id, session_id), quantity in totals.items()]
    for line in merged:
        if not 1 <= line.quantity <= QUANTITY_MAX:
            raise e.NotOnSale(N_("Buy between 1 and %(n)s of one item."), field="quantity", n=QUANTITY_MAX)
    return merged


async def _lines(uow: UnitOfWork, wanted: list[Wanted], now: datetime) -> list[_Line]:
    """Load what is wanted in two queries; refuse anything not on sale."""
    rows = (
        await uow.session.execute(
            sa.select(Sku, Product)
            .join(Product, Product.id == Sku.product_id)
            .where(Sku.id.in_({w.sku_id for w in wanted}))
        )
    ).all()
    by_sku = {sku.id: (sku, product) for sku, product in rows}
    in_rooms = {(w.session_id, w.sku_id) for w in wanted if w.session_id is not None}
    items: dict[tuple[int, int], tuple[ShelfItem, LiveSession]] = {}
    if in_rooms:
        found = (
            await uow.session.execute(
                sa.select(ShelfItem, LiveSession)
                .join(LiveSession, LiveSession.id == ShelfItem.session_id)
                .where(sa.tuple_(ShelfItem.session_id, ShelfItem.sku_id).in_(list(in_rooms)))
            )
        ).all()
        items = {(item.session_id, item.sku_id): (item, live) for item, live in found}
    hosts = await _explaining(uow, {w.session_id for w in wanted if w.session_id is not None})
    lines: list[_Line] = []
    for w in wanted:
        pair = by_sku.get(w.sku_id)
        if pair is None or pair[1].status != ProductStatus.PUBLISHED or not pair[0].is_active:
            raise e.NotOnSale(N_("This item is not on sale."), field="sku_id")
        sku, product = pair
        item: ShelfItem | None = None
        host_id: int | None = None
        if w.session_id is not None:
            found_item = items.get((w.session_id, w.sku_id))
            if found_item is None:
                raise e.NotOnSale(N_("This item is not on this show's shelf."), field="sku_id")
            item, live = found_item
            if live.state != SessionState.LIVE:
                raise e.NotOnSale(
                    N_("The show has ended: buy it from the storefront at its usual price."), field="session_id"
                )
            if item.flash_starts_at is not None and now < item.flash_starts_at:
                raise e.FlashNotStarted(
                    N_("The flash sale has not started yet."),
                    field="sku_id",
                    starts_at=item.flash_starts_at.isoformat(),
                )
            pinned_sku, marker = hosts.get(w.session_id, (None, None))
            host_id = marker if pinned_sku == w.sku_id else None
        lines.append(_Line(w, sku, product, item, host_id))
    return lines


async def _explaining(uow: UnitOfWork, session_ids: set[int]) -> dict[int, tuple[int | None, int | None]]:
    """Per room: the SKU pinned now and who pinned it (the host explaining it)."""
    if not session_ids:
        return {}
    latest = (
        sa.select(ProductMark.session_id, sa.func.max(ProductMark.id).label("mark_id"))
        .where(ProductMark.session_id.in_(session_ids))
        .group_by(ProductMark.session_id)
        .subquery()
    )
    rows = await uow.session.execute(
        sa.select(LiveSession.id, LiveSession.pinned_sku_id, ProductMark.marked_by_id)
        .outerjoin(latest, latest.c.session_id == LiveSession.id)
        .outerjoin(ProductMark, ProductMark.id == latest.c.mark_id)
        .where(LiveSession.id.in_(session_ids))
    )
    return {sid: (pinned, marker if pinned is not None else None) for sid, pinned, marker in rows}


async def _address(uow: UnitOfWork, buyer: User, address_id: int) -> Address:
    address = await uow.session.get(Address, address_id)
    if address is None or address.user_id != buyer.id:
        raise e.BadAddress(N_("Choose one of your addresses."), field="address_id")
    return address


def province_of(region_code: str) -> str:
    chain = region_path(region_code)
    return chain[0].name if chain else ""


def gate_refusal(verdict: int) -> e.SoldOut | e.LimitReached | e.FlashNotStarted | None:
    """What the buyer is told when the gate refuses (a Taken or Peeked value): the same from the
    full checkout and from the flash-sale fast path (payments/fast_refusal.py)."""
    if verdict == Taken.SOLD_OUT.value:
        return e.SoldOut(N_("Sold out."), field="sku_id")
    if verdict == Taken.OVER_LIMIT.value:
        return e.LimitReached(N_("You have reached the per-buyer limit of this item."), field="quantity")
    if verdict == Taken.NOT_STARTED.value:
        return e.FlashNotStarted(N_("The flash sale has not started yet."), field="sku_id")
    return None


async def _admit(uow: UnitOfWork, gate: StockGate, wanted: list[Wanted], buyer_id: int) -> None:
    """Redis mode: each line bought in a room goes through the gate first, so a buyer who comes
    too late (sold out, over the limit, before the start) is answered without reading or locking
    anything in the database. What was taken goes back if the transaction fails."""
    for line in sorted((w for w in wanted if w.session_id is not None), key=lambda w: (w.session_id, w.sku_id)):
        session_id = line.session_id
        assert session_id is not None  # filtered above
        try:
            taken = await gate.take(session_id, line.sku_id, buyer_id, line.quantity)
        except NotLoaded:
            if not await load_pool(uow, gate, session_id, line.sku_id, replace=False):
                continue  # not on that shelf: the database says so below
            taken = await gate.take(session_id, line.sku_id, buyer_id, line.quantity)
        refusal = gate_refusal(taken.value)
        if refusal is not None:
            raise refusal
        uow.after_rollback(functools.partial(gate.give_back, session_id, line.sku_id, buyer_id, line.quantity))


async def load_pool(uow: UnitOfWork, gate: StockGate, session_id: int, sku_id: int, *, replace: bool = True) -> bool:
    """Put a shelf item's database numbers into the gate (first use, or a repair); False when
    the SKU is not on that show's shelf."""
    item = await uow.session.scalar(
        sa.select(ShelfItem).where(ShelfItem.session_id == session_id, ShelfItem.sku_id == sku_id)
    )
    if item is None:
        return False
    await gate.load(session_id, sku_id, await pool_state(uow, item), replace=replace)
    return True


async def pool_state(uow: UnitOfWork, item: ShelfItem) -> PoolState:
    """A shelf item as the gate should hold it, from the database."""
    tallies = await uow.session.execute(
        sa.select(BuyerTally.user_id, BuyerTally.units).where(
            BuyerTally.scope == f"shelf:{item.id}", BuyerTally.units > 0
        )
    )
    return PoolState(
        item.session_available if item.session_stock is not None else None,
        {uid: units for uid, units in tallies},
        item.per_buyer_limit,
        item.flash_starts_at,
    )


async def _tally(uow: UnitOfWork, scope: str, user_id: int, units: int, limit: int) -> bool:
    """Add units to the buyer's tally of a limited thing, unless that passes the limit (one
    guarded upsert: two concurrent orders of one buyer cannot both pass)."""
    insert = pg_insert if uow.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert(BuyerTally)
        .values(scope=scope, user_id=user_id, units=units, updated_at=utcnow())
        .on_conflict_do_update(
            index_elements=["scope", "user_id"],
            set_={"units": BuyerTally.units + units, "updated_at": utcnow()},
            where=BuyerTally.units + units <= limit,
        )
    )
    if units > limit:
        return False
    result = await uow.session.execute(stmt)
    return int(getattr(result, "rowcount", 0) or 0) == 1


def _refuse_what_is_gone(lines: list[_Line]) -> None:
    """A line whose pool or SKU had too few units at the last commit is sold out now: say so from
    the plain read, before any lock. (Units that come back later, from an expired order, sell to
    whoever asks then; a read that says "enough" is only a hint: the guarded UPDATE decides.)"""
    for line in lines:
        left = line.item.session_available if line.pool_id is not None and line.item else line.sku.available
        if left < line.wanted.quantity:
            raise e.SoldOut(N_("Sold out."), field="sku_id", sku_id=line.sku.id)


async def _reserve(uow: UnitOfWork, lines: list[_Line], buyer_id: int) -> dict[tuple[str, int], int]:
    """The database's reservation: SKUs, then show pools, then tallies, each in id order. Returns
    the units left after it, per ("sku" | "pool", id)."""
    per_sku: dict[int, int] = defaultdict(int)
    per_pool: dict[int, int] = defaultdict(int)
    tallies: dict[str, tuple[int, int]] = {}
    for line in lines:
        per_sku[line.sku.id] += line.wanted.quantity
        if line.pool_id is not None:
            per_pool[line.pool_id] += line.wanted.quantity
        if line.item is not None and line.item.per_buyer_limit:
            scope = f"shelf:{line.item.id}"
            tallies[scope] = (tallies.get(scope, (0, 0))[0] + line.wanted.quantity, line.item.per_buyer_limit)
        if line.sku.per_buyer_limit:
            scope = f"sku:{line.sku.id}"
            tallies[scope] = (tallies.get(scope, (0, 0))[0] + line.wanted.quantity, line.sku.per_buyer_limit)
    left: dict[tuple[str, int], int] = {}
    for sku_id in sorted(per_sku):
        after = await sku_stock.reserve(uow.session, sku_id, per_sku[sku_id])
        if after is None:
            raise e.SoldOut(N_("Sold out."), field="sku_id", sku_id=sku_id)
        left[("sku", sku_id)] = after
    for item_id in sorted(per_pool):
        after = await pool_stock.reserve(uow.session, item_id, per_pool[item_id])
        if after is None:
            raise e.SoldOut(N_("Sold out."), field="sku_id", shelf_item_id=item_id)
        left[("pool", item_id)] = after
    for scope in sorted(tallies):
        units, limit = tallies[scope]
        if not await _tally(uow, scope, buyer_id, units, limit):
            raise e.LimitReached(N_("You can buy at most %(n)s of this."), field="quantity", n=limit)
    return left


def _basket(lines: list[_Line], suppliers: dict[int, Supplier]) -> list[BasketOrder]:
    """The orders about to be placed, as a coupon sees them (one per supplier)."""
    by_supplier: dict[int, list[BasketLine]] = defaultdict(list)
    for x in lines:
        session_id = x.wanted.session_id if x.item is not None else None
        by_supplier[x.product.supplier_id].append(
            BasketLine(x.product.id, session_id, x.unit_price_fen * x.wanted.quantity)
        )
    return [
        BasketOrder(supplier_id, suppliers[supplier_id].organisation_id, group)
        for supplier_id, group in sorted(by_supplier.items())
    ]


async def _suppliers(uow: UnitOfWork, lines: list[_Line]) -> dict[int, Supplier]:
    return {
        s.id: s
        for s in await uow.session.scalars(
            sa.select(Supplier).where(Supplier.id.in_({x.product.supplier_id for x in lines}))
        )
    }


async def basket(uow: UnitOfWork, wanted: Sequence[Wanted], now: datetime | None = None) -> list[BasketOrder]:
    """What these lines would cost now, as orders (for showing which coupons apply): nothing is
    reserved. Refuses what is not on sale, as checkout would."""
    lines = await _lines(uow, merge(wanted), now or utcnow())
    return _basket(lines, await _suppliers(uow, lines))


async def coupon_quote(uow: UnitOfWork, actor: User | None, wanted: Sequence[Wanted]) -> QuoteOut:
    """Which of the buyer's coupons apply to these lines (priced now, as checkout would), best
    first; nothing is reserved or written."""
    user = require_user(actor)
    return await coupon_queries.quote_orders(uow.session, user.id, await basket(uow, wanted))


async def place_orders(
    uow: UnitOfWork,
    gate: StockGate,
    actor: User | None,
    wanted: Sequence[Wanted],
    address_id: int,
    *,
    pay_minutes: int = PAY_MINUTES_DEFAULT,
    is_demo: bool = False,
    coupon_claim_id: int | None = None,
) -> Placed:
    """Reserve and order: one order per supplier, all due by the same time; with the buyer's
    coupon `coupon_claim_id` taken off the order it saves the most on."""
    placed = await prepare_orders(
        uow,
        gate,
        actor,
        wanted,
        address_id,
        pay_minutes=pay_minutes,
        is_demo=is_demo,
        coupon_claim_id=coupon_claim_id,
    )
    await reserve_orders(uow, placed)
    return placed


async def prepare_orders(
    uow: UnitOfWork,
    gate: StockGate,
    actor: User | None,
    wanted: Sequence[Wanted],
    address_id: int,
    *,
    pay_minutes: int = PAY_MINUTES_DEFAULT,
    is_demo: bool = False,
    coupon_claim_id: int | None = None,
) -> Placed:
    """Everything of an order but the reservation: the caller must `reserve_orders` before it
    commits (and should add anything else it writes before that, to lock the stock rows last)."""
    buyer = require_user(actor)
    now = utcnow()
    merged = merge(wanted)
    await _admit(uow, gate, merged, buyer.id)
    address = await _address(uow, buyer, address_id)
    lines = await _lines(uow, merged, now)
    _refuse_what_is_gone(lines)

    suppliers = await _suppliers(uow, lines)
    redeemed = None
    if coupon_claim_id is not None:
        redeemed = await coupons.redeem(uow, buyer.id, coupon_claim_id, _basket(lines, suppliers), now)
    checkout_ref = secrets.token_hex(16)
    pay_by = now + timedelta(minutes=pay_minutes)
    province = province_of(address.region_code)
    by_supplier: dict[int, list[_Line]] = defaultdict(list)
    for line in lines:
        by_supplier[line.product.supplier_id].append(line)
    orders: list[Order] = []
    for supplier_id in sorted(by_supplier):
        group = by_supplier[supplier_id]
        sessions = {x.wanted.session_id for x in group}
        hosts = {x.host_id for x in group if x.host_id is not None}
        subtotal_fen = sum(x.unit_price_fen * x.wanted.quantity for x in group)
        coupon = redeemed if redeemed is not None and redeemed.order_key == supplier_id else None
        discount_fen = coupon.discount_fen if coupon is not None else 0
        order = Order(
            checkout_ref=checkout_ref,
            buyer_id=buyer.id,
            organisation_id=suppliers[supplier_id].organisation_id,
            supplier_id=supplier_id,
            session_id=next(iter(sessions)) if len(sessions) == 1 else None,
            host_id=next(iter(hosts)) if len(hosts) == 1 else None,
            total_fen=subtotal_fen - discount_fen,
            discount_fen=discount_fen,
            coupon_claim_id=coupon.claim_id if coupon is not None else None,
            units=sum(x.wanted.quantity for x in group),
            pay_by=pay_by,
            recipient=address.recipient,
            phone=address.phone,
            region_code=address.region_code,
            street=address.street,
            province=province,
            is_demo=is_demo,
        )
        uow.session.add(order)
        await uow.session.flush()
        for x in group:
            uow.session.add(
                OrderLine(
                    order_id=order.id,
                    sku_id=x.sku.id,
                    shelf_item_id=x.item.id if x.item is not None else None,
                    product_id=x.product.id,
                    title=x.product.title,
                    spec_label=x.sku.spec_label,
                    unit_price_fen=x.unit_price_fen,
                    quantity=x.wanted.quantity,
                    line_total_fen=x.unit_price_fen * x.wanted.quantity,
                )
            )
        # The coupon's use is part of this act: the order's own entry says which and how much.
        audit_order(
            uow,
            buyer.id,
            "order.place",
            order,
            lines=len(group),
            total_fen=order.total_fen,
            discount_fen=discount_fen,
            coupon_claim_id=order.coupon_claim_id,
        )
        emit_order(uow, order)
        orders.append(order)
    return Placed(checkout_ref, orders, sum(o.total_fen for o in orders), pay_by, buyer.id, lines)


async def reserve_orders(uow: UnitOfWork, placed: Placed) -> None:
    """Take the units of prepared orders (everything pending is flushed first, so the stock rows
    stay locked only from here to the commit), and tell the rooms how many are left."""
    await uow.session.flush()
    left = await _reserve(uow, placed.lines, placed.buyer_id)
    seen: set[int] = set()
    for line in placed.lines:
        if line.item is None or line.item.id in seen:
            continue
        seen.add(line.item.id)
        available = left[("pool", line.item.id)] if line.pool_id is not None else left[("sku", line.sku.id)]
        uow.emit(line.item.session_id, ShelfStock(sku_id=line.sku.id, available=available, sold_out=available <= 0))
