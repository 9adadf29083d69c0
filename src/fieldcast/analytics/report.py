"""A show's series and totals, read from its minutes, with the verified GMV of integrity beside
the raw figure; and its shelf ranked by sales and sales by host (one grouped query each)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.accounts.models import User
from fieldcast.analytics.models import SessionMinute
from fieldcast.analytics.rollup import COUNTED, SAMPLED
from fieldcast.catalog.models import Product, Sku
from fieldcast.commerce.models import Order, OrderLine
from fieldcast.integrity.gmv import Gmv, session_gmv
from fieldcast.live.models import ShelfItem


@dataclass
class Totals:
    counted: dict[str, int] = field(default_factory=dict)
    peak_viewers: int = 0
    unique_viewers: int = 0
    views: int = 0
    likes: int = 0
    flowers: int = 0
    watch_s: float = 0.0
    buyers: int = 0

    @property
    def conversion(self) -> float:
        """Buyers ÷ unique viewers (0 when nobody was counted)."""
        return self.buyers / self.unique_viewers if self.unique_viewers else 0.0

    @property
    def avg_watch_s(self) -> float:
        return self.watch_s / self.unique_viewers if self.unique_viewers else 0.0


@dataclass(frozen=True)
class ProductSales:
    sku_id: int
    title: str
    spec_label: str
    units: int
    paid_fen: int
    available: int | None  # left in the show's pool (or the SKU's stock when it has no pool)


@dataclass(frozen=True)
class HostSales:
    host_id: int | None  # who was explaining what was bought; None: nobody was
    display_name: str
    orders: int
    paid_fen: int


@dataclass
class SessionReport:
    session_id: int
    minutes: list[dict[str, Any]]
    totals: Totals
    gmv: Gmv
    products: list[ProductSales]
    hosts: list[HostSales]


async def products_sold(s: AsyncSession, session_id: int) -> list[ProductSales]:
    """The shelf ranked by paid sales (units, then money), with what is left of each."""
    paid = (
        await s.execute(
            sa.select(
                OrderLine.sku_id,
                sa.func.max(OrderLine.title),
                sa.func.max(OrderLine.spec_label),
                sa.func.sum(OrderLine.quantity),
                sa.func.sum(OrderLine.line_total_fen),
            )
            .join(Order, Order.id == OrderLine.order_id)
            .where(Order.session_id == session_id, Order.paid_at.is_not(None))
            .group_by(OrderLine.sku_id)
        )
    ).all()
    sold = {int(r[0]): (str(r[1]), str(r[2]), int(r[3] or 0), int(r[4] or 0)) for r in paid}
    shelf = (
        await s.execute(
            sa.select(
                ShelfItem.sku_id,
                ShelfItem.session_stock,
                ShelfItem.session_available,
                Sku.available,
                Sku.spec_label,
                Product.title,
            )
            .join(Sku, Sku.id == ShelfItem.sku_id)
            .join(Product, Product.id == Sku.product_id)
            .where(ShelfItem.session_id == session_id)
        )
    ).all()
    out: dict[int, ProductSales] = {}
    for r in shelf:
        sku_id = int(r.sku_id)
        title, _spec, units, fen = sold.get(sku_id, (r.title, r.spec_label, 0, 0))
        left = r.session_available if r.session_stock is not None else r.available
        out[sku_id] = ProductSales(sku_id, title, r.spec_label, units, fen, int(left))
    for sku_id, (title, spec, units, fen) in sold.items():  # taken off the shelf since
        out.setdefault(sku_id, ProductSales(sku_id, title, spec, units, fen, None))
    return sorted(out.values(), key=lambda p: (-p.units, -p.paid_fen, p.sku_id))


async def hosts_sold(s: AsyncSession, session_id: int) -> list[HostSales]:
    """Paid sales by the host who was explaining what was bought when it was ordered."""
    # Summed by host first, then named: the join touches a row per host, not one per order.
    by_host = (
        sa.select(Order.host_id, sa.func.count(Order.id).label("n"), sa.func.sum(Order.total_fen).label("fen"))
        .where(Order.session_id == session_id, Order.paid_at.is_not(None))
        .group_by(Order.host_id)
        .subquery()
    )
    rows = (
        await s.execute(
            sa.select(by_host.c.host_id, User.display_name, by_host.c.n, by_host.c.fen).outerjoin(
                User, User.id == by_host.c.host_id
            )
        )
    ).all()
    hosts = [HostSales(r[0], r[1] or "", int(r[2]), int(r[3] or 0)) for r in rows]
    return sorted(hosts, key=lambda h: (-h.paid_fen, h.host_id or 0))


def _minute_out(m: SessionMinute) -> dict[str, Any]:
    out: dict[str, Any] = {"minute": m.minute}
    out.update({name: getattr(m, name) for name in (*SAMPLED, *COUNTED)})
    return out


async def session_report(s: AsyncSession, session_id: int, since: datetime | None = None) -> SessionReport:
    where = [SessionMinute.session_id == session_id]
    rows = list((await s.scalars(sa.select(SessionMinute).where(*where).order_by(SessionMinute.minute))).all())
    totals = Totals(counted={name: sum(getattr(m, name) for m in rows) for name in COUNTED})
    for m in rows:
        totals.peak_viewers = max(totals.peak_viewers, m.viewers)
        totals.unique_viewers = max(totals.unique_viewers, m.unique_viewers)
        totals.views = max(totals.views, m.views)
        totals.likes = max(totals.likes, m.likes)
        totals.flowers = max(totals.flowers, m.flowers)
        totals.watch_s = max(totals.watch_s, m.watch_s)
    # Distinct buyers do not add up across minutes: one indexed count over the show's paid orders.
    # (Grouped, then counted: a hash aggregate, where COUNT(DISTINCT) sorts every paid order.)
    buyers = (
        sa.select(Order.buyer_id)
        .where(Order.session_id == session_id, Order.paid_at.is_not(None))
        .group_by(Order.buyer_id)
        .subquery()
    )
    totals.buyers = int(await s.scalar(sa.select(sa.func.count()).select_from(buyers)) or 0)
    shown = [m for m in rows if since is None or m.minute >= since]
    return SessionReport(
        session_id,
        [_minute_out(m) for m in shown],
        totals,
        await session_gmv(s, session_id),
        await products_sold(s, session_id),
        await hosts_sold(s, session_id),
    )
