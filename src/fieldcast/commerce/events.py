"""Events commerce publishes. Room events (through the outbox to the room log): the live stock of
a shelf item, and a purchase as the room may see it (the buyer's province, never a name). Order
events (topic "order") tell whoever follows orders (dashboards, integrity rules) what changed."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from fieldcast.realtime.events import RoomEvent

TOPIC_ORDER = "order"


class ShelfStock(RoomEvent):
    """How many units of a shelf item are left now; sold_out greys its card on every screen."""

    event_type: ClassVar[str] = "shelf.stock"
    sku_id: int
    available: int
    sold_out: bool


class Purchase(RoomEvent):
    """ "A buyer from 湖北 bought 2 boxes": province only."""

    event_type: ClassVar[str] = "room.purchase"
    sku_id: int
    title: str
    quantity: int
    province: str


class OrderChanged(BaseModel):
    """An order's state change (topic "order", keyed by order id)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    event_type: ClassVar[str] = "order.changed"

    order_id: int
    state: str
    buyer_id: int
    organisation_id: int
    supplier_id: int
    session_id: int | None
    host_id: int | None
    total_fen: int
    units: int
