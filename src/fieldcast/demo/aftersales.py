"""Demo after-sales: the ended demo show has a refund, asked and decided through the real actions.

The printed buyer bought one koi in the ended show (镇平锦鲤) while it was live: the seed, which
runs before the server listens, opens that show's shelf for this one checkout (the show is live
again for the length of it, then ended again at its own end time), and pays through the sandbox as
every demo purchase does. The buyer then asks for a refund before shipping ("delivery too slow"),
and the organisation's owner approves it: the koi goes back on sale and the refund waits in the
outbox for the relay to ask the provider once the server starts. Everything is marked demo."""

from __future__ import annotations

import logging

import sqlalchemy as sa

from fieldcast.accounts.models import Membership, Role, User
from fieldcast.aftersales import actions as refunds
from fieldcast.aftersales.models import RefundKind, RefundReason, RefundRequest
from fieldcast.commerce.checkout import Wanted
from fieldcast.commerce.models import Order
from fieldcast.demo.shop import Shop, buy_in_ended_show
from fieldcast.live.models import LiveSession, SessionState, ShelfItem

log = logging.getLogger(__name__)

ENDED_SHOW = "镇平锦鲤 鱼塘边直播（回放）"
PRODUCT = "镇平观赏锦鲤 单尾发货"  # on its shelf
NOTE = "演示数据：鱼塘边直播后迟迟未发货，申请仅退款。"


async def _ended_show(shop: Shop) -> tuple[LiveSession, int] | None:
    async with shop.new_uow(write=False) as uow:
        live = await uow.session.scalar(
            sa.select(LiveSession).where(
                LiveSession.title == ENDED_SHOW, LiveSession.is_demo.is_(True), LiveSession.state == SessionState.ENDED
            )
        )
        if live is None:
            return None
        sku_id = await uow.session.scalar(
            sa.select(ShelfItem.sku_id).where(ShelfItem.session_id == live.id).order_by(ShelfItem.id).limit(1)
        )
    return (live, sku_id) if sku_id is not None else None


async def _bought_in_show(shop: Shop, buyer: User, live: LiveSession, sku_id: int) -> int | None:
    """The buyer's order in the ended show, paid; None when the shop said no."""
    order_ids = await buy_in_ended_show(shop, buyer, live, [Wanted(sku_id, 1, live.id)])
    return order_ids[0] if order_ids else None


async def seed_aftersales(shop: Shop, buyer: User) -> bool:
    """Once: the ended show's refund (asked, approved, on its way). False when there is already
    one, or nothing to refund with (no sandbox provider, no ended demo show)."""
    if not shop.can_pay:
        return False
    async with shop.new_uow(write=False) as uow:
        if await uow.session.scalar(sa.select(RefundRequest.id).where(RefundRequest.is_demo.is_(True)).limit(1)):
            return False
    found = await _ended_show(shop)
    if found is None:
        return False
    live, sku_id = found
    order_id = await _bought_in_show(shop, buyer, live, sku_id)
    if order_id is None:
        return False
    async with shop.new_uow() as uow:
        order = await uow.session.get(Order, order_id)
        if order is None:
            return False
        asked = refunds.Asked(
            RefundKind.REFUND_ONLY, RefundReason.TOO_SLOW, order.total_fen, quantity=order.units, note=NOTE
        )
        request = await refunds.open_request(uow, buyer, order_id, asked)
        owner_id = await uow.session.scalar(
            sa.select(Membership.user_id)
            .where(Membership.organisation_id == order.organisation_id, Membership.role == Role.OWNER)
            .order_by(Membership.id)
            .limit(1)
        )
        owner = await uow.session.get(User, owner_id) if owner_id is not None else None
        if owner is not None:
            await refunds.approve(uow, shop.gate, owner, request.id)
    log.info("demo after-sales: order %s in the ended show refunded (request %s)", order_id, request.id)
    return True
