"""API shapes for fulfilment: a shipment entered by hand, a tracking status, the shipping queue,
an upload's outcome, carriers and an organisation's shipping deadline. Times are UTC."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from fieldcast.commerce import models as m
from fieldcast.commerce.deadlines import SHIP_WITHIN_HOURS_MAX, SHIP_WITHIN_HOURS_MIN
from fieldcast.commerce.schemas import OrderOut
from fieldcast.web.api import In, text

# What the shipping queue shows: to ship (paid), overdue (paid and past its ship-by), or on.
QueueStatus = Literal["to_ship", "overdue", "shipped", "delivered", "all"]
QUEUE_STATUSES: tuple[QueueStatus, ...] = ("to_ship", "overdue", "shipped", "delivered", "all")


class ShipmentIn(In):
    carrier: text(1, 40, one_line=True) = Field(  # type: ignore[valid-type]
        description="A carrier code from /api/v1/carriers (SF, JD, EMS, ...)."
    )
    tracking_no: text(1, 60, one_line=True) = Field(  # type: ignore[valid-type]
        description="Checked against the carrier's format; spaces and dashes dropped."
    )
    status: m.TrackingStatus | None = Field(None, description="A first tracking status beside `shipped`, if known.")
    note: text(0, m.TRACKING_NOTE_MAX) = ""  # type: ignore[valid-type]


class TrackingIn(In):
    status: m.TrackingStatus
    note: text(0, m.TRACKING_NOTE_MAX) = ""  # type: ignore[valid-type]


class ShippingPolicyIn(In):
    ship_within_hours: int = Field(ge=SHIP_WITHIN_HOURS_MIN, le=SHIP_WITHIN_HOURS_MAX)


class ShippingPolicyOut(BaseModel):
    ship_within_hours: int
    is_default: bool


class CarrierOut(BaseModel):
    code: str
    name_zh: str
    name_en: str
    example: str = Field(description="A tracking number of the accepted shape.")


class TrackingEventOut(BaseModel):
    status: m.TrackingStatus
    note: str
    source: str
    happened_at: datetime


class ShipmentOut(BaseModel):
    order_id: int
    carrier: str
    carrier_name: str
    tracking_no: str
    shipped_at: datetime
    status: m.TrackingStatus
    status_at: datetime
    events: list[TrackingEventOut] = []


class FulfilmentOrderOut(BaseModel):
    order: OrderOut
    shipment: ShipmentOut | None
    overdue: bool


class UploadOut(BaseModel):
    shipped: list[int] = Field(description="Orders shipped by this file.")
    updated: list[int] = Field(description="Shipped orders whose tracking status this file updated.")
