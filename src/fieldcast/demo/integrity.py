"""Demo integrity: the ended koi show carries the pattern of a forced quota (摊派), and the rules
flag it in the show's integrity report and on its public ledger.

What the 2020 notices did: a county office told each of its cadres to spend at least 50 yuan in
a show. Here six invented cadres of the county's offices each buy one jade pendant in the ended
show at 50.22 yuan, as
`demo/shop.buy_in_ended_show` buys there; then every integrity rule runs over the show, as it
does when a show ends. Nothing is inserted behind the actions' backs; everything is marked demo,
and the people are invented."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

import sqlalchemy as sa

from fieldcast.accounts import actions as accounts
from fieldcast.accounts import queries as q
from fieldcast.accounts.models import User
from fieldcast.accounts.schemas import SignUpIn
from fieldcast.catalog.models import Product, Sku
from fieldcast.commerce.checkout import Wanted
from fieldcast.commerce.models import Order
from fieldcast.demo.shop import Shop, buy_in_ended_show, ensure_demo_address
from fieldcast.integrity.actions import run_rules
from fieldcast.integrity.rules import Thresholds
from fieldcast.live.models import LiveSession, SessionState, ShelfItem

log = logging.getLogger(__name__)

QUOTA_SHOW = "镇平锦鲤 鱼塘边直播（回放）"
QUOTA_PRODUCT = "镇平玉雕 平安扣挂件"
CADRE_EMAIL = "zhenping-cadre-{n}@demo.example.org"
# Invented people: a family name and the office that "assigned" them, never a real person.
CADRES = tuple(f"县直机关干部 小{name}" for name in "钱孙郑冯褚卫")
QUOTA_BOUGHT_AFTER = timedelta(minutes=62)


async def _show_and_sku(shop: Shop) -> tuple[LiveSession, int] | None:
    async with shop.new_uow(write=False) as uow:
        row = (
            await uow.session.execute(
                sa.select(LiveSession, ShelfItem.sku_id)
                .join(ShelfItem, ShelfItem.session_id == LiveSession.id)
                .join(Sku, Sku.id == ShelfItem.sku_id)
                .join(Product, Product.id == Sku.product_id)
                .where(
                    LiveSession.title == QUOTA_SHOW,
                    LiveSession.is_demo.is_(True),
                    LiveSession.state == SessionState.ENDED,
                    Product.title == QUOTA_PRODUCT,
                )
                .limit(1)
            )
        ).first()
    return (row[0], row[1]) if row is not None else None


async def _cadre(shop: Shop, n: int, name: str) -> User:
    async with shop.new_uow() as uow:
        email = CADRE_EMAIL.format(n=n)
        user = await q.user_by_email(uow.session, email)
        if user is None:
            # Nobody signs in as a cadre: a password no one knows.
            user = await accounts.sign_up(
                uow, SignUpIn(email=email, display_name=name, password=secrets.token_urlsafe(18)), is_demo=True
            )
        await ensure_demo_address(uow, user, 200 + n)
    return user


async def seed_quota_show(shop: Shop) -> bool:
    """Once: the cadres' purchases in the ended show, then the rules over it. False when it was
    done before, or cannot be (no sandbox provider, no such show)."""
    if not shop.can_pay:
        return False
    found = await _show_and_sku(shop)
    if found is None:
        return False
    live, sku_id = found
    async with shop.new_uow(write=False) as uow:
        first = await q.user_by_email(uow.session, CADRE_EMAIL.format(n=1))
        if first is not None and await uow.session.scalar(
            sa.select(Order.id).where(Order.buyer_id == first.id, Order.session_id == live.id).limit(1)
        ):
            return False
    bought = 0
    for n, name in enumerate(CADRES, start=1):
        cadre = await _cadre(shop, n, name)
        # The cadres buy one after another, within minutes, late in the show.
        at = live.started_at + QUOTA_BOUGHT_AFTER + timedelta(minutes=n) if live.started_at else None
        bought += len(await buy_in_ended_show(shop, cadre, live, [Wanted(sku_id, 1, live.id)], at=at))
    async with shop.new_uow() as uow:
        alerts = await run_rules(uow, live.id, Thresholds.from_settings(shop.settings))
    log.info("demo integrity: %s quota orders in show %s; rules raised %s", bought, live.id, [a.rule for a in alerts])
    return True
