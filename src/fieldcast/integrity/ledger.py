"""The public ledger of one show: what anyone may check about it. Read only; nothing on it is
private (figures are sums, never a buyer's order)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.accounts.models import User
from fieldcast.accounts.queries import badges_for
from fieldcast.accounts.schemas import BadgesOut
from fieldcast.catalog.models import InspectionStatus, Product, Sku
from fieldcast.catalog.queries import inspection_status as status_of
from fieldcast.catalog.queries import latest_inspections, today_local
from fieldcast.draws.models import LuckyDraw
from fieldcast.integrity.gmv import Gmv, session_gmv, standing_alerts
from fieldcast.integrity.rules import OFFICIALS_RULES
from fieldcast.live.models import LiveSession, SessionHost, ShelfItem


@dataclass(frozen=True)
class LedgerItem:
    product_id: int
    title: str
    spec_label: str
    inspection: InspectionStatus


@dataclass(frozen=True)
class LedgerHost:
    user_id: int
    display_name: str
    badges: BadgesOut


@dataclass(frozen=True)
class LedgerDraw:
    id: int
    prize_title: str
    state: str


@dataclass(frozen=True)
class Ledger:
    session: LiveSession
    gmv: Gmv
    alerts_standing: int
    items: list[LedgerItem]
    hosts: list[LedgerHost]
    draws: list[LedgerDraw]
    has_official: bool
    officials_alert: bool

    @property
    def all_inspected(self) -> bool:
        return bool(self.items) and all(i.inspection == InspectionStatus.PASSED for i in self.items)

    @property
    def officials_took_no_pay(self) -> bool:
        """Stated only for a public-welfare show with an official host and no standing alert about
        officials."""
        return self.has_official and self.session.is_public_welfare and not self.officials_alert


async def ledger(s: AsyncSession, live: LiveSession) -> Ledger:
    rows = (
        await s.execute(
            sa.select(Product.id, Product.title, Sku.spec_label)
            .select_from(ShelfItem)
            .join(Sku, Sku.id == ShelfItem.sku_id)
            .join(Product, Product.id == Sku.product_id)
            .where(ShelfItem.session_id == live.id)
            .order_by(ShelfItem.position, ShelfItem.id)
        )
    ).all()
    latest = await latest_inspections(s, [r.id for r in rows])
    today = today_local()
    items = [LedgerItem(r.id, r.title, r.spec_label, status_of(latest.get(r.id), today)) for r in rows]
    host_rows = (
        await s.execute(
            sa.select(User.id, User.display_name)
            .join(SessionHost, SessionHost.user_id == User.id)
            .where(SessionHost.session_id == live.id)
            .order_by(SessionHost.position, User.id)
        )
    ).all()
    badges = await badges_for(s, [h.id for h in host_rows])
    hosts = [LedgerHost(h.id, h.display_name, badges[h.id]) for h in host_rows]
    draws = [
        LedgerDraw(d.id, d.prize_title, d.state.value)
        for d in await s.scalars(sa.select(LuckyDraw).where(LuckyDraw.session_id == live.id).order_by(LuckyDraw.id))
    ]
    alerts = await standing_alerts(s, live.id)
    return Ledger(
        session=live,
        gmv=await session_gmv(s, live.id),
        alerts_standing=len(alerts),
        items=items,
        hosts=hosts,
        draws=draws,
        has_official=any(h.badges.official for h in hosts),
        officials_alert=any(a.rule in OFFICIALS_RULES for a in alerts),
    )
