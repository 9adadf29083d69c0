"""Where tracking statuses come from: a small Protocol with one adapter now, the manual one (the
supplier types a status on the order, or uploads it in the shipments file's status column, and
nothing is fetched). A carrier's API (快递100, 菜鸟, a carrier's own) plugs in later as another
adapter, picked once in bootstrap by `FIELDCAST_TRACKING_PROVIDER`; the upkeep asks it about
shipped parcels outside any transaction and applies what it answers with
`fulfilment.record_tracking`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from fieldcast.commerce.models import TrackingStatus


@dataclass(frozen=True)
class TrackingUpdate:
    """A status a carrier reports for one parcel."""

    carrier: str
    tracking_no: str
    status: TrackingStatus
    happened_at: datetime
    note: str = ""


class Tracker(Protocol):
    name: str

    async def poll(self, parcels: Sequence[tuple[str, str]]) -> list[TrackingUpdate]:
        """News for these (carrier code, tracking number) parcels; never called under a row lock."""
        ...


class ManualTracker:
    """Statuses are entered by the supplier: there is nothing to fetch."""

    name = "manual"

    async def poll(self, parcels: Sequence[tuple[str, str]]) -> list[TrackingUpdate]:
        return []


def make_tracker(provider: str) -> Tracker:
    if provider == "manual":
        return ManualTracker()
    raise ValueError(f"unknown tracking provider {provider!r}")
