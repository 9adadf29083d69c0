"""An organisation's shipping deadline: how long after payment its supplier promises to ship
(48 hours unless its owner set another). The promise is fixed on the order when it is paid, so a
later change of the deadline never moves a date a buyer was already shown."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.commerce.models import ShippingPolicy

DEFAULT_SHIP_WITHIN_HOURS = 48
SHIP_WITHIN_HOURS_MIN = 1
SHIP_WITHIN_HOURS_MAX = 30 * 24


async def ship_within_hours(session: AsyncSession, organisation_id: int) -> int:
    hours = await session.scalar(
        sa.select(ShippingPolicy.ship_within_hours).where(ShippingPolicy.organisation_id == organisation_id)
    )
    return DEFAULT_SHIP_WITHIN_HOURS if hours is None else int(hours)


async def promised_ship_by(session: AsyncSession, organisation_id: int, paid_at: datetime) -> datetime:
    return paid_at + timedelta(hours=await ship_within_hours(session, organisation_id))
