"""API shapes for commerce: addresses, the cart, and orders as the buyer, the supplier and the
session's organisers see them. Money is integer fen; times are UTC."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from fieldcast.commerce import models as m
from fieldcast.inputs import Id
from fieldcast.web.api import In, text

RegionCode = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\d{6}$")]
# Checked and put in one spelling by commerce.addresses.normalise_phone; here only its length.
PhoneText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
Quantity = Annotated[int, Field(ge=1, le=m.QUANTITY_MAX)]

# -- addresses ------------------------------------------------------------------------------------


class AddressIn(In):
    recipient: text(1, m.RECIPIENT_MAX, one_line=True)  # type: ignore[valid-type]
    phone: PhoneText = Field(description="A mainland mobile (13812341234) or a landline with area code (0439-1234567).")
    region_code: RegionCode = Field(description="County-level division code, e.g. 220622 (see /api/v1/regions).")
    street: text(1, m.STREET_MAX)  # type: ignore[valid-type]
    is_default: bool = False


class AddressPatch(In):
    recipient: text(1, m.RECIPIENT_MAX, one_line=True) | None = None  # type: ignore[valid-type]
    phone: PhoneText | None = None
    region_code: RegionCode | None = None
    street: text(1, m.STREET_MAX) | None = None  # type: ignore[valid-type]
    is_default: bool | None = Field(None, description="true moves the default here; to move it away, set another.")


class AddressOut(BaseModel):
    id: int
    recipient: str
    phone: str
    region_code: str
    region_name: str
    street: str
    is_default: bool
    created_at: datetime


# -- cart -----------------------------------------------------------------------------------------


class CartLineIn(In):
    sku_id: Id
    quantity: Quantity = 1
    session_id: Id | None = Field(None, description="The live room it was added from: its live price while live.")


class CartQuantityIn(In):
    quantity: Quantity


CartLineStatus = Literal["available", "sold_out", "not_on_sale"]


class CartLineOut(BaseModel):
    id: int
    sku_id: int
    product_id: int
    title: str
    spec_label: str
    thumb_url: str | None
    quantity: int
    session_id: int | None
    session_title: str | None
    # "live": the room is live and the SKU on its shelf (and its flash sale started), else "list".
    price_source: Literal["live", "list"]
    unit_price_fen: int
    list_price_fen: int
    line_total_fen: int
    flash_starts_at: datetime | None
    status: CartLineStatus
    available_units: int
    supplier_id: int
    supplier_name: str
    organisation_slug: str
    organisation_name: str

    @property
    def checkout_session_id(self) -> int | None:
        """What checkout is sent for this line: the room only while its live price applies."""
        return self.session_id if self.price_source == "live" else None


class CartGroupOut(BaseModel):
    """One supplier's lines: they become one order (all the cart's orders are paid together)."""

    supplier_id: int
    supplier_name: str
    organisation_slug: str
    organisation_name: str
    lines: list[CartLineOut]
    subtotal_fen: int  # of the lines that can be bought now


class CartOut(BaseModel):
    groups: list[CartGroupOut]
    lines_count: int
    total_fen: int  # of the lines that can be bought now


# -- orders ---------------------------------------------------------------------------------------

OrderAction = Literal["cancel", "confirm_delivery", "ship"]


class OrderLineOut(BaseModel):
    sku_id: int
    product_id: int
    title: str
    spec_label: str
    unit_price_fen: int
    quantity: int
    line_total_fen: int


class ShipToOut(BaseModel):
    """Where the order goes, as it was when ordered. The phone is masked (138****1234) for
    everyone but the buyer and those who ship the order."""

    recipient: str
    phone: str
    phone_masked: bool
    region_code: str
    region_name: str
    street: str


class OrderOut(BaseModel):
    id: int
    state: m.OrderState
    total_fen: int  # what the buyer pays: the lines' total less discount_fen
    discount_fen: int = 0  # taken off by the coupon coupon_claim_id
    coupon_claim_id: int | None = None
    units: int
    created_at: datetime
    pay_by: datetime
    paid_at: datetime | None
    # When the supplier promised to ship by (set at payment, from the organisation's deadline).
    ship_by: datetime | None = None
    shipped_at: datetime | None
    delivered_at: datetime | None
    closed_at: datetime | None
    close_reason: str
    organisation_slug: str
    organisation_name: str
    supplier_id: int
    supplier_name: str
    session_id: int | None
    lines: list[OrderLineOut]
    ship_to: ShipToOut
    # What the viewer may do with it now.
    actions: list[OrderAction]


class CancelIn(In):
    reason: text(0, m.CANCEL_REASON_MAX) = ""  # type: ignore[valid-type]


class SessionOrderOut(BaseModel):
    """An order of a live room as its organisers see it: no buyer name, the province only."""

    id: int
    state: m.OrderState
    units: int
    total_fen: int
    province: str
    phone: str  # masked for supervisors
    host_id: int | None
    created_at: datetime
    paid_at: datetime | None


class SalesSummaryOut(BaseModel):
    """Orders placed (any state), and of those paid (paid, shipped, delivered, completed): how
    many, their units and their total (GMV, fen). `host_id` None in a per-host row: orders placed
    while no host was explaining what was bought."""

    host_id: int | None = None
    host_name: str = ""
    orders: int = 0
    paid_orders: int = 0
    units: int = 0
    gmv_fen: int = 0


class SessionOrdersOut(BaseModel):
    session_id: int
    summary: SalesSummaryOut
    by_host: list[SalesSummaryOut]
    items: list[SessionOrderOut]
    total: int
    limit: int
    offset: int
