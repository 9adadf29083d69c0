"""Tables of commerce: buyers' addresses, carts, orders and their lines, and per-buyer tallies.

An order keeps what was bought as it was bought (title, spec, unit price, quantity, the session
it came from and the host explaining it then): later edits to the catalog never change it. Money
is integer fen; one order per supplier (drop-shipping), several paid in one payment."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from fieldcast.db.base import Base, IdType, Timestamped, utcnow
from fieldcast.db.types import str_enum

RECIPIENT_MAX = 40
PHONE_MAX = 20
STREET_MAX = 200
REGION_CODE_LEN = 6
ADDRESSES_MAX = 20  # per buyer
CART_LINES_MAX = 50
QUANTITY_MAX = 999  # units of one SKU in one order line
TITLE_MAX = 60
SPEC_MAX = 40
PROVINCE_MAX = 20
NOTE_MAX = 200
CANCEL_REASON_MAX = 200


class OrderState(StrEnum):
    """pending_payment → paid → shipped → delivered → completed; or cancelled / expired before
    payment. Refunds and after-sales (next) add their own states on top of these."""

    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class RefundStatus(StrEnum):
    """Money back on an order, kept beside its state (not in it): a partly refunded order still
    ships and completes. none → refunding (a refund is on its way) → partially_refunded |
    refunded (all of the order's money went back). Written by after-sales through refunds.py."""

    NONE = "none"
    REFUNDING = "refunding"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


OPEN_ORDER_STATES = (OrderState.PENDING_PAYMENT,)
# States in which the units count as taken by the buyer (for stock and per-buyer limits).
HOLDING_STATES = (
    OrderState.PENDING_PAYMENT,
    OrderState.PAID,
    OrderState.SHIPPED,
    OrderState.DELIVERED,
    OrderState.COMPLETED,
)


class Address(Timestamped, Base):
    """Where a buyer wants goods sent. One of them is the default; the phone is shown masked to
    everyone but the buyer and the supplier shipping an order to it."""

    __tablename__ = "addresses"

    user_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    recipient: Mapped[str] = mapped_column(sa.String(RECIPIENT_MAX))
    phone: Mapped[str] = mapped_column(sa.String(PHONE_MAX))
    region_code: Mapped[str] = mapped_column(sa.String(REGION_CODE_LEN))  # county level
    street: Mapped[str] = mapped_column(sa.String(STREET_MAX))
    is_default: Mapped[bool] = mapped_column(default=False)
    is_demo: Mapped[bool] = mapped_column(default=False)


class CartLine(Timestamped, Base):
    """A SKU in a buyer's cart (storefronts and product pages), optionally at a session's live
    price when it was added from a room."""

    __tablename__ = "cart_lines"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "sku_id", "session_id", name="uq_cart_line"),
        sa.CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    user_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    sku_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("skus.id", ondelete="CASCADE"))
    session_id: Mapped[int | None] = mapped_column(
        IdType, sa.ForeignKey("live_sessions.id", ondelete="SET NULL"), default=None
    )
    quantity: Mapped[int] = mapped_column(default=1)


class Order(Timestamped, Base):
    __tablename__ = "orders"
    __table_args__ = (
        sa.CheckConstraint("total_fen >= 0", name="total_not_negative"),
        sa.Index("ix_orders_state_pay_by", "state", "pay_by"),
        sa.Index("ix_orders_state_ship_by", "state", "ship_by"),
        # The analytics roll-up: what moved since its mark, and a show's orders minute by minute.
        sa.Index("ix_orders_updated_at", "updated_at"),
        sa.Index("ix_orders_session_id_created_at", "session_id", "created_at"),
    )

    # The orders of one checkout share it (they are paid together).
    checkout_ref: Mapped[str] = mapped_column(sa.String(32), index=True)
    buyer_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    organisation_id: Mapped[int] = mapped_column(
        IdType, sa.ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    supplier_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("suppliers.id", ondelete="RESTRICT"), index=True)
    session_id: Mapped[int | None] = mapped_column(
        IdType, sa.ForeignKey("live_sessions.id", ondelete="SET NULL"), index=True, default=None
    )
    # The host who was explaining (had pinned) what was bought when the order was placed.
    host_id: Mapped[int | None] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="SET NULL"), default=None)
    state: Mapped[OrderState] = mapped_column(str_enum(OrderState), default=OrderState.PENDING_PAYMENT)
    total_fen: Mapped[int] = mapped_column(sa.BigInteger)  # what the buyer pays: the lines less the discount
    # The coupon taken off this order (commerce/coupons) and how much it took off, in fen.
    discount_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    coupon_claim_id: Mapped[int | None] = mapped_column(
        IdType, sa.ForeignKey("coupon_claims.id", ondelete="SET NULL"), default=None
    )
    units: Mapped[int] = mapped_column(default=0)
    pay_by: Mapped[datetime]
    paid_at: Mapped[datetime | None] = mapped_column(default=None)
    # The supplier's promise, fixed at payment (paid_at + the organisation's shipping deadline).
    ship_by: Mapped[datetime | None] = mapped_column(default=None)
    shipped_at: Mapped[datetime | None] = mapped_column(default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)  # cancelled or expired
    close_reason: Mapped[str] = mapped_column(sa.String(CANCEL_REASON_MAX), default="")
    # Where it goes, as it was when ordered.
    recipient: Mapped[str] = mapped_column(sa.String(RECIPIENT_MAX))
    phone: Mapped[str] = mapped_column(sa.String(PHONE_MAX))
    region_code: Mapped[str] = mapped_column(sa.String(REGION_CODE_LEN))
    street: Mapped[str] = mapped_column(sa.String(STREET_MAX))
    province: Mapped[str] = mapped_column(sa.String(PROVINCE_MAX), default="")  # shown in the room, nothing finer
    note: Mapped[str] = mapped_column(sa.String(NOTE_MAX), default="")
    is_demo: Mapped[bool] = mapped_column(default=False)
    # After-sales (commerce/refunds.py): the refund status and the fen refunded so far.
    refund_status: Mapped[RefundStatus] = mapped_column(
        str_enum(RefundStatus), default=RefundStatus.NONE, server_default=RefundStatus.NONE.value
    )
    refunded_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (
        sa.CheckConstraint("quantity > 0", name="quantity_positive"),
        sa.CheckConstraint("unit_price_fen > 0", name="unit_price_positive"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    sku_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("skus.id", ondelete="RESTRICT"), index=True)
    # The show pool the units came from, when bought at a session's live price.
    shelf_item_id: Mapped[int | None] = mapped_column(
        IdType, sa.ForeignKey("shelf_items.id", ondelete="SET NULL"), index=True, default=None
    )
    product_id: Mapped[int] = mapped_column(IdType)
    title: Mapped[str] = mapped_column(sa.String(TITLE_MAX))
    spec_label: Mapped[str] = mapped_column(sa.String(SPEC_MAX))
    unit_price_fen: Mapped[int] = mapped_column(sa.BigInteger)
    quantity: Mapped[int]
    line_total_fen: Mapped[int] = mapped_column(sa.BigInteger)


class BuyerTally(Base):
    """Units a buyer holds (ordered and not cancelled or expired) of one limited thing: a SKU
    with a per-buyer limit, or a shelf item's flash sale. A guarded upsert keeps it under the
    limit, so two concurrent orders of one buyer cannot both pass it."""

    __tablename__ = "buyer_tallies"
    __table_args__ = (
        sa.UniqueConstraint("scope", "user_id", name="uq_buyer_tally"),
        sa.CheckConstraint("units >= 0", name="units_not_negative"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(sa.String(40))  # "sku:<id>" or "shelf:<id>"
    user_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="CASCADE"))
    units: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# -- fulfilment (drop-shipping by the supplier: commerce/fulfilment.py) ---------------------------

TRACKING_NO_MAX = 40
CARRIER_CODE_MAX = 12
TRACKING_NOTE_MAX = 200


class TrackingStatus(StrEnum):
    """Where a parcel is, as the carrier (or the supplier for it) says."""

    SHIPPED = "shipped"  # handed to the carrier
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"  # the carrier says so; the buyer (or the clock) still confirms
    EXCEPTION = "exception"  # lost, damaged, refused, held


class ShippingPolicy(Base):
    """An organisation's shipping deadline; without a row the configured default applies."""

    __tablename__ = "shipping_policies"

    organisation_id: Mapped[int] = mapped_column(
        IdType, sa.ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    ship_within_hours: Mapped[int]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Shipment(Timestamped, Base):
    """One parcel per order: the carrier, its tracking number and the latest tracking status."""

    __tablename__ = "shipments"
    __table_args__ = (sa.UniqueConstraint("order_id", name="uq_shipment_order"),)

    order_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("orders.id", ondelete="CASCADE"))
    organisation_id: Mapped[int] = mapped_column(
        IdType, sa.ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    carrier: Mapped[str] = mapped_column(sa.String(CARRIER_CODE_MAX))
    tracking_no: Mapped[str] = mapped_column(sa.String(TRACKING_NO_MAX), index=True)
    shipped_by: Mapped[int | None] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="SET NULL"))
    shipped_at: Mapped[datetime]
    status: Mapped[TrackingStatus] = mapped_column(str_enum(TrackingStatus), default=TrackingStatus.SHIPPED)
    status_at: Mapped[datetime]
    is_demo: Mapped[bool] = mapped_column(default=False)


class TrackingEvent(Base):
    """A parcel's history, one row per status reported (typed in, uploaded, or from a carrier)."""

    __tablename__ = "tracking_events"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    shipment_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("shipments.id", ondelete="CASCADE"), index=True)
    status: Mapped[TrackingStatus] = mapped_column(str_enum(TrackingStatus))
    note: Mapped[str] = mapped_column(sa.String(TRACKING_NOTE_MAX), default="")
    source: Mapped[str] = mapped_column(sa.String(20))  # "manual", "upload", or a tracker's name
    happened_at: Mapped[datetime]
