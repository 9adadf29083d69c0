"""Events coupons publish: how many coupons of a batch handed out in a live room are left (through
the outbox to the room log), so every viewer's coupon card counts down and greys when none are."""

from __future__ import annotations

from typing import ClassVar

from fieldcast.realtime.events import RoomEvent


class CouponLeft(RoomEvent):
    """The coupons of a batch still to claim in this room (state, not a delta)."""

    event_type: ClassVar[str] = "coupon.left"
    batch_id: int
    left: int
    total: int
