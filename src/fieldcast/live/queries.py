"""Reads of live rooms for the pages and the API. Lists load their related rows in a fixed number
of queries, however many sessions they show."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.accounts.models import Organisation, User
from fieldcast.accounts.queries import badges_for
from fieldcast.catalog.models import Product, ProductImage, ProductStatus, Sku
from fieldcast.catalog.queries import media_url
from fieldcast.i18n import N_, gettext
from fieldcast.live import schemas as s
from fieldcast.live.costreams import active_link
from fieldcast.live.keys import active_key
from fieldcast.live.models import (
    CoStream,
    CoStreamState,
    Follow,
    LiveEvent,
    LiveSession,
    Notification,
    NotificationKind,
    ProductMark,
    ReplayState,
    SessionHost,
    SessionState,
    ShelfItem,
)
from fieldcast.live.paths import live_playlist_url, replay_playlist_url

NOTIFICATION_TEXT = {
    NotificationKind.SESSION_SCHEDULED: N_("New show scheduled: %(title)s"),
    NotificationKind.SESSION_LIVE: N_("Live now: %(title)s"),
    NotificationKind.COSTREAM_INVITED: N_("Your room %(title)s is invited to a co-stream"),
    NotificationKind.HOST_NEEDED: N_("%(title)s needs a new host: its host no longer hosts for your organisation"),
    NotificationKind.HOST_ASSIGNED: N_("You host %(title)s: open its console to get ready"),
    NotificationKind.HOST_VERIFIED: N_("Your real-name host verification is approved"),
    NotificationKind.HOST_VERIFICATION_REJECTED: N_("Your real-name host verification was rejected: see why"),
    NotificationKind.DRAW_WON: N_("You won the lucky draw in %(title)s"),
}


def notification_url(kind: NotificationKind, session_id: int | None) -> str | None:
    """Where a notification leads: a host's to the show's console, a verification's to the
    account page (its reason is there), the others to the room."""
    if kind in (NotificationKind.HOST_VERIFIED, NotificationKind.HOST_VERIFICATION_REJECTED):
        return "/account"
    if session_id is None:
        return None
    if kind == NotificationKind.HOST_ASSIGNED:
        return f"/live/{session_id}/console"
    return f"/live/{session_id}"


async def load_session(session: AsyncSession, session_id: int) -> LiveSession | None:
    return await session.get(LiveSession, session_id)


async def load_session_by_stream_name(session: AsyncSession, stream_name: str) -> LiveSession | None:
    if not stream_name:
        return None
    found: LiveSession | None = await session.scalar(
        sa.select(LiveSession).where(LiveSession.stream_name == stream_name)
    )
    return found


async def dropped_live_sessions(session: AsyncSession) -> list[tuple[int, datetime]]:
    """Live sessions whose ingest dropped and has not come back: (id, when it dropped)."""
    rows = await session.execute(
        sa.select(LiveSession.id, LiveSession.ingest_stopped_at).where(
            LiveSession.state == SessionState.LIVE, LiveSession.ingest_stopped_at.is_not(None)
        )
    )
    return [(sid, stopped) for sid, stopped in rows if stopped is not None]


async def live_ingest_states(session: AsyncSession) -> list[tuple[int, str, datetime | None]]:
    """Every live session: (id, stream name, when its ingest dropped or None), for the ingest watchdog."""
    rows = await session.execute(
        sa.select(LiveSession.id, LiveSession.stream_name, LiveSession.ingest_stopped_at)
        .where(LiveSession.state == SessionState.LIVE)
        .order_by(LiveSession.id)
    )
    return [(sid, name, stopped) for sid, name, stopped in rows]


async def sessions_by_stream_name(session: AsyncSession, names: Sequence[str]) -> dict[str, LiveSession]:
    """The sessions with these stream names (for the media clean-up), by name."""
    if not names:
        return {}
    found = await session.scalars(sa.select(LiveSession).where(LiveSession.stream_name.in_(list(names))))
    return {live.stream_name: live for live in found}


async def streaming_sessions(session: AsyncSession) -> list[tuple[int, str]]:
    """Live sessions whose ingest is up: (id, stream name), the rooms whose HLS is being made."""
    rows = await session.execute(
        sa.select(LiveSession.id, LiveSession.stream_name)
        .where(LiveSession.state == SessionState.LIVE, LiveSession.ingest_stopped_at.is_(None))
        .order_by(LiveSession.id)
    )
    return [(sid, name) for sid, name in rows]


async def load_event(session: AsyncSession, key: int | str) -> LiveEvent | None:
    if isinstance(key, int) or str(key).isdigit():
        return await session.get(LiveEvent, int(key))
    found: LiveEvent | None = await session.scalar(sa.select(LiveEvent).where(LiveEvent.slug == str(key).lower()))
    return found


def hls_url(live: LiveSession, hls_base_url: str) -> str | None:
    """The playlist a player should load now: live while live, the replay once it is ready."""
    if live.state == SessionState.LIVE:
        return live_playlist_url(hls_base_url, live.stream_name)
    if live.state == SessionState.ENDED and live.replay_state == ReplayState.READY:
        return replay_playlist_url(hls_base_url, live.stream_name)
    return None


async def _hosts_by_session(session: AsyncSession, ids: list[int]) -> dict[int, list[s.HostRef]]:
    rows = (
        await session.execute(
            sa.select(SessionHost.session_id, User.id, User.display_name)
            .join(User, User.id == SessionHost.user_id)
            .where(SessionHost.session_id.in_(ids))
            .order_by(SessionHost.session_id, SessionHost.position)
        )
    ).all()
    badges = await badges_for(session, [r[1] for r in rows])
    hosts: dict[int, list[s.HostRef]] = defaultdict(list)
    for session_id, user_id, name in rows:
        hosts[session_id].append(s.HostRef(id=user_id, display_name=name, badges=badges[user_id]))
    return hosts


async def sessions_out(session: AsyncSession, lives: Sequence[LiveSession], hls_base_url: str) -> list[s.SessionOut]:
    ids = [x.id for x in lives]
    if not ids:
        return []
    hosts = await _hosts_by_session(session, ids)
    orgs = {
        o.id: o
        for o in await session.scalars(
            sa.select(Organisation).where(Organisation.id.in_({x.organisation_id for x in lives}))
        )
    }
    out = []
    for x in lives:
        org = orgs[x.organisation_id]
        out.append(
            s.SessionOut(
                id=x.id,
                state=x.state,
                title=x.title,
                description=x.description,
                event_id=x.event_id,
                hls_url=hls_url(x, hls_base_url),
                replay_url=replay_playlist_url(hls_base_url, x.stream_name)
                if x.replay_state == ReplayState.READY
                else None,
                replay_state=x.replay_state,
                organisation=s.OrgRef(id=org.id, slug=org.slug, name=org.name),
                hosts=hosts.get(x.id, []),
                scheduled_at=x.scheduled_at,
                started_at=x.started_at,
                ended_at=x.ended_at,
                is_public_welfare=x.is_public_welfare,
                cover_url=media_url(x.cover_path) or None,
                pinned_sku_id=x.pinned_sku_id,
                page_url=f"/live/{x.id}",
            )
        )
    return out


async def session_out(session: AsyncSession, live: LiveSession, hls_base_url: str) -> s.SessionOut:
    return (await sessions_out(session, [live], hls_base_url))[0]


async def shelf_of(session: AsyncSession, session_ids: Sequence[int]) -> list[s.ShelfItemOut]:
    rows = (
        await session.execute(
            sa.select(ShelfItem, Sku, Product)
            .join(Sku, Sku.id == ShelfItem.sku_id)
            .join(Product, Product.id == Sku.product_id)
            .where(ShelfItem.session_id.in_(session_ids))
            .order_by(ShelfItem.session_id, ShelfItem.position, ShelfItem.id)
        )
    ).all()
    product_ids = {p.id for _, _, p in rows}
    images: dict[int, str] = {}
    if product_ids:
        for img in await session.scalars(
            sa.select(ProductImage)
            .where(ProductImage.product_id.in_(product_ids))
            .order_by(ProductImage.position.desc(), ProductImage.id.desc())
        ):
            images[img.product_id] = media_url(img.thumb_path)  # lowest position wins (iterated last)
    return [
        s.ShelfItemOut(
            id=item.id,
            session_id=item.session_id,
            sku_id=sku.id,
            product_id=product.id,
            product_title=product.title,
            spec_label=sku.spec_label,
            image_url=images.get(product.id),
            list_price_fen=sku.price_fen,
            live_price_fen=item.live_price_fen,
            session_stock=item.session_stock,
            available=item.session_available if item.session_stock is not None else sku.available,
            flash_starts_at=item.flash_starts_at,
            per_buyer_limit=item.per_buyer_limit,
            position=item.position,
        )
        for item, sku, product in rows
    ]


async def marks_of(session: AsyncSession, session_id: int) -> list[s.MarkOut]:
    rows = (
        await session.execute(
            sa.select(ProductMark, Product.id, Product.title)
            .join(Sku, Sku.id == ProductMark.sku_id)
            .join(Product, Product.id == Sku.product_id)
            .where(ProductMark.session_id == session_id)
            .order_by(ProductMark.offset_s, ProductMark.id)
        )
    ).all()
    return [
        s.MarkOut(
            id=mark.id,
            sku_id=mark.sku_id,
            product_id=pid,
            product_title=title,
            offset_s=mark.offset_s,
            marked_at=mark.marked_at,
        )
        for mark, pid, title in rows
    ]


async def partner_of(session: AsyncSession, live: LiveSession, hls_base_url: str) -> s.PartnerOut | None:
    """The other room while a co-stream is active."""
    link = await active_link(session, live.id)
    if link is None or link.state != CoStreamState.ACTIVE:
        return None
    other_id = link.invitee_session_id if link.inviter_session_id == live.id else link.inviter_session_id
    other = await session.get(LiveSession, other_id)
    if other is None:
        return None
    out = await session_out(session, other, hls_base_url)
    return s.PartnerOut(
        co_stream_id=link.id,
        session_id=other.id,
        title=other.title,
        state=other.state,
        hls_url=out.hls_url,
        hosts=out.hosts,
    )


async def session_detail(session: AsyncSession, live: LiveSession, hls_base_url: str) -> s.SessionDetail:
    base = await session_out(session, live, hls_base_url)
    partner = await partner_of(session, live, hls_base_url)
    return s.SessionDetail(
        **base.model_dump(),
        shelf=await shelf_of(session, [live.id]),
        marks=await marks_of(session, live.id),
        co_stream=partner,
        partner_shelf=await shelf_of(session, [partner.session_id]) if partner else [],
    )


@dataclass(frozen=True)
class SessionFilter:
    state: SessionState | None = None
    event_id: int | None = None
    organisation_id: int | None = None
    host_id: int | None = None
    include_demo: bool = True


async def list_sessions(
    session: AsyncSession, flt: SessionFilter, *, limit: int = 50, offset: int = 0
) -> tuple[list[LiveSession], int]:
    """Live first, then upcoming (soonest first), then past (latest first)."""
    cond: list[sa.ColumnElement[bool]] = []
    if flt.state is not None:
        cond.append(LiveSession.state == flt.state)
    else:
        cond.append(LiveSession.state != SessionState.CANCELLED)
    if flt.event_id is not None:
        cond.append(LiveSession.event_id == flt.event_id)
    if flt.organisation_id is not None:
        cond.append(LiveSession.organisation_id == flt.organisation_id)
    if flt.host_id is not None:
        cond.append(LiveSession.id.in_(sa.select(SessionHost.session_id).where(SessionHost.user_id == flt.host_id)))
    if not flt.include_demo:
        cond.append(LiveSession.is_demo.is_(False))
    state_rank = sa.case(
        (LiveSession.state == SessionState.LIVE, 0),
        (LiveSession.state == SessionState.SCHEDULED, 1),
        else_=2,
    )
    # Upcoming soonest first; past shows latest first (negate by ordering on a second key).
    future_key = sa.case((LiveSession.state == SessionState.SCHEDULED, LiveSession.scheduled_at), else_=None)
    total = await session.scalar(sa.select(sa.func.count(LiveSession.id)).where(*cond)) or 0
    rows = await session.scalars(
        sa.select(LiveSession)
        .where(*cond)
        .order_by(state_rank, future_key.asc(), LiveSession.scheduled_at.desc(), LiveSession.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows), int(total)


async def event_detail(session: AsyncSession, event: LiveEvent, hls_base_url: str) -> s.EventDetail:
    lives, _ = await list_sessions(session, SessionFilter(event_id=event.id), limit=200)
    items = await sessions_out(session, lives, hls_base_url)
    products = await session.scalar(
        sa.select(sa.func.count(sa.distinct(Sku.product_id)))
        .select_from(ShelfItem)
        .join(Sku, Sku.id == ShelfItem.sku_id)
        .join(LiveSession, LiveSession.id == ShelfItem.session_id)
        .where(LiveSession.event_id == event.id, LiveSession.state != SessionState.CANCELLED)
    )
    return s.EventDetail(
        **s.EventOut.model_validate(event).model_dump(),
        sessions=items,
        totals=s.EventTotals(
            rooms=len(items),
            live_rooms=sum(1 for x in items if x.state == SessionState.LIVE),
            products_on_shelves=int(products or 0),
        ),
    )


async def list_events(session: AsyncSession, *, limit: int = 50) -> Sequence[LiveEvent]:
    return (await session.scalars(sa.select(LiveEvent).order_by(LiveEvent.starts_at.desc()).limit(limit))).all()


async def stream_key_info(session: AsyncSession, live: LiveSession, rtmp_url: str | None) -> s.StreamKeyInfo:
    key = await active_key(session, live.id)
    return s.StreamKeyInfo(
        session_id=live.id,
        prefix=key.prefix if key else None,
        created_at=key.created_at if key else None,
        rtmp_url=rtmp_url,
    )


async def costreams_of(session: AsyncSession, session_id: int) -> Sequence[CoStream]:
    return (
        await session.scalars(
            sa.select(CoStream)
            .where(sa.or_(CoStream.inviter_session_id == session_id, CoStream.invitee_session_id == session_id))
            .order_by(CoStream.id.desc())
        )
    ).all()


async def follows_of(session: AsyncSession, user_id: int) -> Sequence[Follow]:
    return (await session.scalars(sa.select(Follow).where(Follow.follower_id == user_id).order_by(Follow.id))).all()


async def is_following(
    session: AsyncSession, user_id: int, *, host_id: int | None = None, org_id: int | None = None
) -> bool:
    cond = Follow.host_id == host_id if host_id is not None else Follow.organisation_id == org_id
    return bool(await session.scalar(sa.select(Follow.id).where(Follow.follower_id == user_id, cond)))


async def follower_count(session: AsyncSession, *, host_id: int | None = None, org_id: int | None = None) -> int:
    cond = Follow.host_id == host_id if host_id is not None else Follow.organisation_id == org_id
    return int(await session.scalar(sa.select(sa.func.count(Follow.id)).where(cond)) or 0)


def unread_count_select(user_id: int) -> sa.Select[int]:
    """The count of a user's unread notifications, as a statement (the page header folds it into
    its one query)."""
    return sa.select(sa.func.count(Notification.id)).where(
        Notification.user_id == user_id, Notification.read_at.is_(None)
    )


async def unread_count(session: AsyncSession, user_id: int) -> int:
    return int(await session.scalar(unread_count_select(user_id)) or 0)


async def notifications_of(
    session: AsyncSession, user_id: int, *, limit: int = 50, offset: int = 0
) -> tuple[list[s.NotificationOut], int]:
    total = await session.scalar(sa.select(sa.func.count(Notification.id)).where(Notification.user_id == user_id))
    rows = (
        await session.execute(
            sa.select(Notification, LiveSession.title)
            .outerjoin(LiveSession, LiveSession.id == Notification.session_id)
            .where(Notification.user_id == user_id)
            .order_by(Notification.id.desc())
            .limit(limit)
            .offset(offset)
        )
    ).all()
    return [
        s.NotificationOut(
            id=n.id,
            kind=n.kind,
            session_id=n.session_id,
            session_title=title,
            text=gettext(NOTIFICATION_TEXT[n.kind], title=title or ""),
            url=notification_url(n.kind, n.session_id),
            created_at=n.created_at,
            read_at=n.read_at,
        )
        for n, title in rows
    ], int(total or 0)


def countdown_s(live: LiveSession, now: datetime) -> int | None:
    if live.state != SessionState.SCHEDULED:
        return None
    return max(0, int((live.scheduled_at - now).total_seconds()))


async def sessions_selling(
    session: AsyncSession, *, product_id: int | None = None, organisation_id: int | None = None, limit: int = 12
) -> list[LiveSession]:
    """Rooms whose shelf holds a SKU of this product (or of any published product of this
    organisation): live, upcoming, or past with a replay to watch. Live first, as list_sessions."""
    skus = sa.select(Sku.id).join(Product, Product.id == Sku.product_id)
    if product_id is not None:
        skus = skus.where(Sku.product_id == product_id)
    if organisation_id is not None:
        skus = skus.where(Product.organisation_id == organisation_id, Product.status == ProductStatus.PUBLISHED)
    on_shelf = sa.select(ShelfItem.session_id).where(ShelfItem.sku_id.in_(skus))
    watchable = sa.or_(
        LiveSession.state.in_((SessionState.LIVE, SessionState.SCHEDULED)),
        sa.and_(LiveSession.state == SessionState.ENDED, LiveSession.replay_state == ReplayState.READY),
    )
    state_rank = sa.case(
        (LiveSession.state == SessionState.LIVE, 0),
        (LiveSession.state == SessionState.SCHEDULED, 1),
        else_=2,
    )
    future_key = sa.case((LiveSession.state == SessionState.SCHEDULED, LiveSession.scheduled_at), else_=None)
    rows = await session.scalars(
        sa.select(LiveSession)
        .where(LiveSession.id.in_(on_shelf), watchable)
        .order_by(state_rank, future_key.asc(), LiveSession.scheduled_at.desc(), LiveSession.id.desc())
        .limit(limit)
    )
    return list(rows)
