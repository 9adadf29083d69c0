"""The buyer's cart: SKUs saved from storefronts, product pages and live rooms, priced afresh on
every read, and grouped by supplier (one order per supplier, all paid in one payment).

A line added from a live room keeps that room: while the room is live, the SKU on its shelf and
its flash sale started, the line costs the live price; otherwise the SKU's own price. Nothing is
reserved by a cart: checkout does that. A buyer's writes lock their user row (as addresses do),
so the line limit holds and one SKU from one room stays one line."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.accounts.models import Organisation, User
from fieldcast.accounts.permissions import require_user
from fieldcast.catalog.models import Product, ProductImage, ProductStatus, Sku, Supplier
from fieldcast.catalog.queries import media_url
from fieldcast.commerce import errors as e
from fieldcast.commerce import schemas as s
from fieldcast.commerce.models import CART_LINES_MAX, QUANTITY_MAX, CartLine
from fieldcast.db.base import utcnow
from fieldcast.db.locks import lock_row
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import NotFound
from fieldcast.i18n import N_
from fieldcast.live.models import LiveSession, SessionState, ShelfItem

# A room whose shelf a line may keep: one that is on or still to come.
OPEN_ROOM_STATES = (SessionState.SCHEDULED, SessionState.LIVE)


def _check_quantity(quantity: int) -> None:
    if not 1 <= quantity <= QUANTITY_MAX:
        raise e.NotOnSale(N_("Buy between 1 and %(n)s of one item."), field="quantity", n=QUANTITY_MAX)


async def _lock_buyer(uow: UnitOfWork, actor: User | None) -> User:
    user = require_user(actor)
    await lock_row(uow.session, User, user.id)
    return user


async def _line_of(uow: UnitOfWork, user: User, line_id: int) -> CartLine:
    line = await uow.session.get(CartLine, line_id)
    if line is None or line.user_id != user.id:
        raise NotFound(N_("This item is no longer in your cart."))
    return line


async def _room_to_keep(uow: UnitOfWork, sku_id: int, session_id: int) -> int | None:
    """The room, if the SKU is on its shelf and the room is on or to come; None for a room that
    has ended (the line is then the storefront's, at the usual price)."""
    row = (
        await uow.session.execute(
            sa.select(LiveSession.state)
            .join(ShelfItem, ShelfItem.session_id == LiveSession.id)
            .where(LiveSession.id == session_id, ShelfItem.sku_id == sku_id)
        )
    ).first()
    if row is None:
        raise e.NotOnSale(N_("This item is not on this show's shelf."), field="session_id")
    return session_id if row[0] in OPEN_ROOM_STATES else None


async def add_to_cart(
    uow: UnitOfWork, actor: User | None, sku_id: int, quantity: int = 1, session_id: int | None = None
) -> CartLine:
    """Put a SKU in the cart, or add to the line it already has (same SKU, same room)."""
    user = await _lock_buyer(uow, actor)
    _check_quantity(quantity)
    found = (
        await uow.session.execute(
            sa.select(Sku.is_active, Product.status).join(Product, Product.id == Sku.product_id).where(Sku.id == sku_id)
        )
    ).first()
    if found is None or not found[0] or found[1] != ProductStatus.PUBLISHED:
        raise e.NotOnSale(N_("This item is not on sale."), field="sku_id")
    room = await _room_to_keep(uow, sku_id, session_id) if session_id is not None else None
    same_room = CartLine.session_id.is_(None) if room is None else CartLine.session_id == room
    line = await uow.session.scalar(
        sa.select(CartLine).where(CartLine.user_id == user.id, CartLine.sku_id == sku_id, same_room)
    )
    if line is not None:
        _check_quantity(line.quantity + quantity)
        line.quantity += quantity
    else:
        count = await uow.session.scalar(sa.select(sa.func.count(CartLine.id)).where(CartLine.user_id == user.id)) or 0
        if count >= CART_LINES_MAX:
            raise e.CartFull(
                N_("Your cart holds at most %(n)s items: check out or remove some first."), n=CART_LINES_MAX
            )
        line = CartLine(user_id=user.id, sku_id=sku_id, session_id=room, quantity=quantity)
        uow.session.add(line)
    await uow.session.flush()
    return line


async def set_quantity(uow: UnitOfWork, actor: User | None, line_id: int, quantity: int) -> CartLine:
    user = await _lock_buyer(uow, actor)
    _check_quantity(quantity)
    line = await _line_of(uow, user, line_id)
    line.quantity = quantity
    await uow.session.flush()
    return line


async def remove_line(uow: UnitOfWork, actor: User | None, line_id: int) -> None:
    user = await _lock_buyer(uow, actor)
    await uow.session.delete(await _line_of(uow, user, line_id))
    await uow.session.flush()


async def clear_lines(uow: UnitOfWork, user_id: int, sku_ids: Iterable[int]) -> int:
    """Remove what was just checked out from the buyer's cart (every room's line of those SKUs);
    checkout calls it in its own transaction. Returns how many lines went."""
    wanted = sorted(set(sku_ids))
    if not wanted:
        return 0
    result = await uow.session.execute(
        sa.delete(CartLine)
        .where(CartLine.user_id == user_id, CartLine.sku_id.in_(wanted))
        .execution_options(synchronize_session="fetch")
    )
    return int(getattr(result, "rowcount", 0) or 0)


# -- reading the cart -----------------------------------------------------------------------------


def _priced(
    line: CartLine,
    sku: Sku,
    product: Product,
    item: ShelfItem | None,
    live: LiveSession | None,
    now: datetime,
) -> tuple[s.CartLineStatus, str, int, int]:
    """(status, price source, unit price, units available) of a line now."""
    at_live_price = (
        item is not None
        and live is not None
        and live.state == SessionState.LIVE
        and (item.flash_starts_at is None or item.flash_starts_at <= now)
    )
    if item is not None and at_live_price:
        available = item.session_available if item.session_stock is not None else sku.available
        source, price = "live", item.live_price_fen
    else:
        available, source, price = sku.available, "list", sku.price_fen
    status: s.CartLineStatus = "available"
    if product.status != ProductStatus.PUBLISHED or not sku.is_active:
        status = "not_on_sale"
    elif available <= 0:
        status = "sold_out"
    return status, source, price, max(available, 0)


async def cart_of(session: AsyncSession, user_id: int, now: datetime | None = None) -> s.CartOut:
    """The cart priced now, grouped by supplier: two queries whatever its size."""
    moment = now or utcnow()
    rows = (
        await session.execute(
            sa.select(CartLine, Sku, Product, Supplier, Organisation, ShelfItem, LiveSession)
            .join(Sku, Sku.id == CartLine.sku_id)
            .join(Product, Product.id == Sku.product_id)
            .join(Supplier, Supplier.id == Product.supplier_id)
            .join(Organisation, Organisation.id == Product.organisation_id)
            .outerjoin(ShelfItem, sa.and_(ShelfItem.session_id == CartLine.session_id, ShelfItem.sku_id == Sku.id))
            .outerjoin(LiveSession, LiveSession.id == CartLine.session_id)
            .where(CartLine.user_id == user_id)
            .order_by(CartLine.id)
        )
    ).all()
    thumbs: dict[int, str] = {}
    product_ids = {row[2].id for row in rows}
    if product_ids:
        for image in await session.scalars(
            sa.select(ProductImage)
            .where(ProductImage.product_id.in_(product_ids))
            .order_by(ProductImage.position, ProductImage.id)
        ):
            thumbs.setdefault(image.product_id, media_url(image.thumb_path))
    groups: dict[int, s.CartGroupOut] = {}
    by_supplier: dict[int, list[s.CartLineOut]] = defaultdict(list)
    for line, sku, product, supplier, org, item, live in rows:
        status, source, price, available = _priced(line, sku, product, item, live, moment)
        by_supplier[supplier.id].append(
            s.CartLineOut(
                id=line.id,
                sku_id=sku.id,
                product_id=product.id,
                title=product.title,
                spec_label=sku.spec_label,
                thumb_url=thumbs.get(product.id),
                quantity=line.quantity,
                session_id=line.session_id,
                session_title=live.title if live is not None else None,
                price_source="live" if source == "live" else "list",
                unit_price_fen=price,
                list_price_fen=sku.price_fen,
                line_total_fen=price * line.quantity,
                flash_starts_at=item.flash_starts_at if item is not None else None,
                status=status,
                available_units=available,
                supplier_id=supplier.id,
                supplier_name=supplier.name,
                organisation_slug=org.slug,
                organisation_name=org.name,
            )
        )
        groups.setdefault(
            supplier.id,
            s.CartGroupOut(
                supplier_id=supplier.id,
                supplier_name=supplier.name,
                organisation_slug=org.slug,
                organisation_name=org.name,
                lines=[],
                subtotal_fen=0,
            ),
        )
    for supplier_id, group in groups.items():
        group.lines = by_supplier[supplier_id]
        group.subtotal_fen = sum(x.line_total_fen for x in group.lines if x.status == "available")
    return s.CartOut(
        groups=list(groups.values()),
        lines_count=len(rows),
        total_fen=sum(g.subtotal_fen for g in groups.values()),
    )
