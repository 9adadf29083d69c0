"""Demo after-sales: the ended demo show has a refund, asked and decided through the real actions.

The printed buyer bought one koi in the ended show (镇平锦鲤) while it was live: the seed, which
runs before the server listens, opens that show's shelf for this one checkout (the show is live
again for the length of it, then ended again at its own end time), and pays through the sandbox as
every demo purchase does. The buyer then asks for a refund before shipping ("delivery too slow"),
and the organisation's owner approves it: the koi goes back on sale and the refund waits in the
outbox for the relay to ask the provider once the server starts. Two buyers who reviewed the
show's koi badly (demo/reviews.py) ask to send theirs back, one for a fish that arrived poorly,
one for a crushed box; their requests wait for the seller. So the show's report has after-sales
reasons to group, with the buyers' own words. Everything is marked demo."""

from __future__ import annotations

import logging
from datetime import timedelta

import sqlalchemy as sa

from fieldcast.accounts.models import Membership, Role, User
from fieldcast.aftersales import actions as refunds
from fieldcast.aftersales.models import RefundKind, RefundReason, RefundRequest
from fieldcast.commerce.checkout import Wanted
from fieldcast.commerce.models import Order, OrderState
from fieldcast.demo.reviews import reviewer_email
from fieldcast.demo.shop import Shop, buy_in_ended_show
from fieldcast.errors import DomainError
from fieldcast.live.models import LiveSession, SessionState, ShelfItem

log = logging.getLogger(__name__)

ENDED_SHOW = "镇平锦鲤 鱼塘边直播（回放）"
PRODUCT = "镇平观赏锦鲤 单尾发货"  # on its shelf
NOTE = "演示数据：鱼塘边直播后迟迟未发货，申请仅退款。"
BOUGHT_AFTER = timedelta(minutes=30)  # into the show
# (reviewer number in demo/reviews.py, reason, the buyer's note): returns of delivered koi.
RETURNS = (
    (5, RefundReason.SPOILED, "演示数据：到货时鱼已经不精神，第二天死了一尾，按客服要求拍照并寄回包装。"),
    (6, RefundReason.DAMAGED, "演示数据：泡沫箱太大，路上被压变形，充氧袋漏了一半水。"),
)


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
    at = live.started_at + BOUGHT_AFTER if live.started_at else None
    order_ids = await buy_in_ended_show(shop, buyer, live, [Wanted(sku_id, 1, live.id)], at=at)
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
    await _returns(shop, live)
    return True


async def _returns(shop: Shop, live: LiveSession) -> int:
    """The reviewers' return requests on their delivered koi of the show, left for the seller."""
    asked_for = 0
    for n, reason, note in RETURNS:
        async with shop.new_uow() as uow:
            buyer = await uow.session.scalar(sa.select(User).where(User.email == reviewer_email(n)))
            order = (
                await uow.session.scalar(
                    sa.select(Order)
                    .where(Order.buyer_id == buyer.id, Order.session_id == live.id, Order.state == OrderState.DELIVERED)
                    .limit(1)
                )
                if buyer is not None
                else None
            )
            if buyer is None or order is None:
                continue
            asked = refunds.Asked(
                RefundKind.RETURN_AND_REFUND, reason, order.total_fen, quantity=order.units, note=note
            )
            try:
                await refunds.open_request(uow, buyer, order.id, asked)
            except DomainError as exc:
                log.warning("a demo return could not be asked for: %s", exc.code)
                await uow.rollback()
                continue
        asked_for += 1
    return asked_for
