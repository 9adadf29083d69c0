"""API shapes for live rooms."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, model_validator

from fieldcast.accounts.schemas import BadgesOut
from fieldcast.inputs import Id
from fieldcast.live import models as m
from fieldcast.web.api import In, Out, text

Slug = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        min_length=3,
        max_length=m.EVENT_SLUG_MAX,
        pattern=r"^[a-z0-9][a-z0-9-]*[a-z0-9]$",
    ),
]
PriceFen = Annotated[int, Field(gt=0, le=m.MAX_LIVE_PRICE_FEN)]
SessionStock = Annotated[int, Field(ge=0, le=m.MAX_SESSION_STOCK)]


PerBuyer = Annotated[int, Field(gt=0, le=m.MAX_PER_BUYER)]


class ShelfItemIn(In):
    sku_id: Id
    live_price_fen: PriceFen
    # Units set aside for the show (its pool); a flash sale's quantity.
    session_stock: SessionStock | None = None
    # A flash sale (秒杀): buying opens at this time, by the server's clock.
    flash_starts_at: datetime | None = None
    per_buyer_limit: PerBuyer | None = None


class ShelfItemPatch(In):
    live_price_fen: PriceFen | None = None
    session_stock: SessionStock | None = None
    flash_starts_at: datetime | None = None
    per_buyer_limit: PerBuyer | None = None
    position: Annotated[int, Field(ge=0, le=10_000)] | None = None


class SessionIn(In):
    organisation_id: Id
    title: text(2, m.TITLE_MAX, one_line=True)  # type: ignore[valid-type]
    description: text(0, m.DESCRIPTION_MAX) = ""  # type: ignore[valid-type]
    scheduled_at: datetime
    host_ids: Annotated[list[Id], Field(min_length=1, max_length=m.MAX_HOSTS)]
    event_id: Id | None = None
    # None: decided by the hosts (on when any host is an official, else off).
    is_public_welfare: bool | None = None
    shelf: Annotated[list[ShelfItemIn], Field(default_factory=list, max_length=m.MAX_SHELF_ITEMS)]
    title_override_reason: text(0, m.REASON_MAX) = ""  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _aware(self) -> SessionIn:
        if self.scheduled_at.tzinfo is None:
            raise ValueError("scheduled_at needs a time zone (e.g. 2026-06-18T19:30:00+08:00)")
        if len(set(self.host_ids)) != len(self.host_ids):
            raise ValueError("host_ids lists a host twice")
        return self


class SessionPatch(In):
    title: text(2, m.TITLE_MAX, one_line=True) | None = None  # type: ignore[valid-type]
    description: text(0, m.DESCRIPTION_MAX) | None = None  # type: ignore[valid-type]
    scheduled_at: datetime | None = None
    host_ids: Annotated[list[Id], Field(min_length=1, max_length=m.MAX_HOSTS)] | None = None
    event_id: Id | None = None
    is_public_welfare: bool | None = None
    title_override_reason: text(0, m.REASON_MAX) | None = None  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _aware(self) -> SessionPatch:
        if self.scheduled_at is not None and self.scheduled_at.tzinfo is None:
            raise ValueError("scheduled_at needs a time zone (e.g. 2026-06-18T19:30:00+08:00)")
        return self


class HostRef(BaseModel):
    id: int
    display_name: str
    badges: BadgesOut


class OrgRef(BaseModel):
    id: int
    slug: str
    name: str


class ShelfItemOut(BaseModel):
    id: int
    session_id: int
    sku_id: int
    product_id: int
    product_title: str
    spec_label: str
    image_url: str | None
    list_price_fen: int
    live_price_fen: int
    session_stock: int | None
    # Units left to buy here now: the show pool's, else the SKU's.
    available: int
    flash_starts_at: datetime | None
    per_buyer_limit: int | None
    position: int


class MarkOut(BaseModel):
    id: int
    sku_id: int
    product_id: int
    product_title: str
    offset_s: float
    marked_at: datetime


class CoStreamOut(Out):
    id: int
    inviter_session_id: int
    invitee_session_id: int
    state: m.CoStreamState
    accepted_at: datetime | None
    ended_at: datetime | None
    created_at: datetime


class PartnerOut(BaseModel):
    """The other room of an active co-stream, as shown beside this one."""

    co_stream_id: int
    session_id: int
    title: str
    state: m.SessionState
    hls_url: str | None
    hosts: list[HostRef]


class SessionOut(BaseModel):
    id: int
    state: m.SessionState
    title: str
    description: str
    event_id: int | None
    hls_url: str | None
    replay_url: str | None
    replay_state: m.ReplayState
    organisation: OrgRef
    hosts: list[HostRef]
    scheduled_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    is_public_welfare: bool
    cover_url: str | None
    pinned_sku_id: int | None
    page_url: str


class SessionCard(SessionOut):
    """A room in a list of rooms (home, /live, an event, a storefront): while it is live, its
    newest still (cache-busted) and how many watch it now."""

    still_url: str | None = None
    viewers: int | None = None


class SessionDetail(SessionOut):
    shelf: list[ShelfItemOut]
    marks: list[MarkOut]
    co_stream: PartnerOut | None
    # The other room's shelf while a co-stream is active (buyable from this room too).
    partner_shelf: list[ShelfItemOut]


class StreamKeyOut(BaseModel):
    """Returned once, when the key is made or rotated: the key itself is never shown again."""

    session_id: int
    stream_key: str
    rtmp_url: str | None
    prefix: str
    # What to type into OBS's "Stream key" field: the session's stream name with ?key=<stream_key>.
    obs_stream_key: str
    # The whole RTMP URL to publish to (rtmp_url + "/" + obs_stream_key), when RTMP ingest runs.
    publish_url: str | None


class StreamKeyInfo(BaseModel):
    session_id: int
    prefix: str | None
    created_at: datetime | None
    rtmp_url: str | None


class PinIn(In):
    sku_id: Id


class CancelIn(In):
    # Optional, for the audit log; the rule is cancel_session's, with the same limit.
    reason: text(0, m.REASON_MAX) = ""  # type: ignore[valid-type]


class EventIn(In):
    organisation_id: Id
    slug: Slug
    title: text(2, m.TITLE_MAX, one_line=True)  # type: ignore[valid-type]
    description: text(0, m.DESCRIPTION_MAX) = ""  # type: ignore[valid-type]
    starts_at: datetime
    ends_at: datetime

    @model_validator(mode="after")
    def _order(self) -> EventIn:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("starts_at and ends_at need a time zone")
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class EventTotals(BaseModel):
    rooms: int
    live_rooms: int
    products_on_shelves: int
    # Filled in when the real-time room and commerce land; null until then, never invented.
    viewers: int | None = None
    orders: int | None = None
    gmv_fen: int | None = None
    # Beside the paid sales, never instead of them (integrity): every order placed (raw), refunded,
    # under a standing alert (flagged), and verified = paid − refunded − flagged.
    raw_gmv_fen: int | None = None
    refunded_fen: int | None = None
    flagged_fen: int | None = None
    verified_gmv_fen: int | None = None


class EventOut(Out):
    id: int
    slug: str
    title: str
    description: str
    organisation_id: int
    starts_at: datetime
    ends_at: datetime


class EventDetail(EventOut):
    sessions: list[SessionOut]
    totals: EventTotals


class CoStreamIn(In):
    invitee_session_id: Id


class FollowIn(In):
    host_id: Id | None = None
    organisation_id: Id | None = None

    @model_validator(mode="after")
    def _one(self) -> FollowIn:
        if (self.host_id is None) == (self.organisation_id is None):
            raise ValueError("give exactly one of host_id and organisation_id")
        return self


class FollowOut(Out):
    id: int
    host_id: int | None
    organisation_id: int | None
    created_at: datetime


class NotificationOut(BaseModel):
    id: int
    kind: m.NotificationKind
    session_id: int | None
    session_title: str | None
    text: str
    url: str | None
    created_at: datetime
    read_at: datetime | None


class NotificationsRead(In):
    ids: Annotated[list[Id], Field(max_length=500)] | None = None
