"""Demo fulfilment: the ended demo show has orders that were shipped with tracking numbers, one on
its way, one signed for and awaiting the buyer's confirmation (shipped late against its 48-hour
deadline), one confirmed by the buyer.

The orders go through the real checkout and the in-process provider like the buyer's other demo
orders (demo/shop.py), then through the real fulfilment actions as the organisation's owner and
the buyer. Two things only the demo does, since a show that ended cannot take orders any more:
the orders are put in the ended show (its session and host) and their times moved back into it.
Everything is marked demo; a second seed finds the shipments and adds nothing."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from fieldcast.accounts.models import Membership, Role, User
from fieldcast.catalog.models import Product, Sku
from fieldcast.commerce import fulfilment
from fieldcast.commerce import orders as order_actions
from fieldcast.commerce.checkout import Wanted
from fieldcast.commerce.models import Order, OrderState, Shipment, TrackingStatus
from fieldcast.demo.shop import (
    Shop,
    apply_sent_notification,
    back_date,
    ensure_demo_address,
    pay_at_provider,
    place,
)
from fieldcast.errors import DomainError
from fieldcast.live.models import LiveSession, SessionHost, SessionState
from fieldcast.payments.models import NotificationOutcome, PaymentOrder

log = logging.getLogger(__name__)

ENDED_ROOM = "镇平锦鲤 鱼塘边直播（回放）"
PRODUCT = "镇平观赏锦鲤 单尾发货"
SHIP_WITHIN = timedelta(hours=48)


@dataclass(frozen=True)
class _Parcel:
    spec: str  # the SKU's spec label
    carrier: str
    tracking_no: str
    outcome: str  # delivered (and confirmed) | signed (awaiting the buyer) | in_transit
    shipped_after: timedelta  # after payment; more than SHIP_WITHIN is late against the deadline
    delivered_after: timedelta | None = None  # after shipping


PARCELS = (
    _Parcel("红白 体长15–20厘米 1尾", "SF", "SF1402263418820", "delivered", timedelta(hours=3), timedelta(hours=26)),
    # Shipped two and a half days after payment: late against the 48-hour deadline (the report shows it).
    _Parcel("红白 体长15–20厘米 1尾", "EMS", "EA402263418CN", "signed", timedelta(hours=60), timedelta(hours=40)),
    _Parcel("大正三色 体长25–30厘米 1尾", "SF", "SF1402263418837", "in_transit", timedelta(hours=20)),
)


async def seed_fulfilment(shop: Shop, buyer: User) -> int:
    """Shipped and delivered orders in the ended demo show, once; how many were shipped."""
    if not shop.can_pay:
        return 0
    async with shop.new_uow() as uow:
        room = await uow.session.scalar(
            sa.select(LiveSession).where(
                LiveSession.title == ENDED_ROOM, LiveSession.is_demo.is_(True), LiveSession.state == SessionState.ENDED
            )
        )
        if room is None or room.started_at is None:
            return 0
        if await uow.session.scalar(
            sa.select(Shipment.id)
            .join(Order, Order.id == Shipment.order_id)
            .where(Order.session_id == room.id)
            .limit(1)
        ):
            return 0
        shipper_id = await uow.session.scalar(
            sa.select(Membership.user_id)
            .where(Membership.organisation_id == room.organisation_id, Membership.role.in_((Role.SUPPLIER, Role.OWNER)))
            .order_by(Membership.role.desc(), Membership.id)
            .limit(1)
        )
        host_id = await uow.session.scalar(
            sa.select(SessionHost.user_id).where(SessionHost.session_id == room.id).limit(1)
        )
        await ensure_demo_address(uow, buyer, 0)
        skus = {
            spec: sku_id
            for spec, sku_id in await uow.session.execute(
                sa.select(Sku.spec_label, Sku.id)
                .join(Product, Product.id == Sku.product_id)
                .where(Product.title == PRODUCT, Product.is_demo.is_(True))
            )
        }
        room_id, started_at = room.id, room.started_at
    if shipper_id is None:
        return 0
    shipped = 0
    for n, parcel in enumerate(PARCELS):
        sku_id = skus.get(parcel.spec)
        if sku_id is None:
            continue
        try:
            payment = await place(shop, buyer, [Wanted(sku_id, 1)])
        except DomainError as exc:  # an old demo database may have sold it out: the demo still starts
            log.warning("the demo's fulfilment order was refused: %s", exc.code)
            continue
        out_trade_no = await pay_at_provider(shop, buyer, payment.id)
        if await apply_sent_notification(shop, out_trade_no) != NotificationOutcome.APPLIED:
            continue
        paid_at = started_at + timedelta(minutes=20 + 15 * n)
        async with shop.new_uow() as uow:
            order_id = await uow.session.scalar(
                sa.select(PaymentOrder.order_id).where(PaymentOrder.payment_id == payment.id)
            )
            order = await uow.session.get(Order, order_id) if order_id is not None else None
            if order is None or order.state != OrderState.PAID:
                continue
            # Only the demo: bought in the show (now ended), at the show's time.
            back_date(order, paid_at, session_id=room_id, host_id=host_id)
            order.ship_by = paid_at + SHIP_WITHIN
            shipper = await uow.session.get(User, shipper_id)
            await fulfilment.ship_with_tracking(uow, shipper, order.id, parcel.carrier, parcel.tracking_no)
            shipped_at = paid_at + parcel.shipped_after
            order.shipped_at = shipped_at
            shipment = await fulfilment.shipment_of_order(uow, order.id)
            if shipment is not None:
                shipment.shipped_at = shipment.status_at = shipped_at
            if parcel.outcome == "in_transit":
                await fulfilment.update_tracking(uow, shipper, order.id, TrackingStatus.IN_TRANSIT, "郑州转运中心")
            else:
                await fulfilment.update_tracking(uow, shipper, order.id, TrackingStatus.DELIVERED, "已签收")
                if parcel.outcome == "delivered":
                    await order_actions.confirm_delivery(uow, buyer, order)
                # signed for: the buyer confirms, or the clock does after order_auto_confirm_days
                if parcel.delivered_after is not None:
                    order.delivered_at = shipped_at + parcel.delivered_after
                    if shipment is not None:
                        shipment.status_at = order.delivered_at
            shipped += 1
    return shipped
