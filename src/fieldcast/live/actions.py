"""Writes of live rooms: scheduling, shelf, state changes from ingest and the host console,
pinning ("explaining now"), stream keys, events, co-streams, follows and notifications.

Every action checks the actor's right in the session's organisation or on the session itself,
changes state in the caller's unit of work and writes the audit log."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.accounts.models import Organisation, Role, User
from fieldcast.accounts.permissions import require_org_role, require_user
from fieldcast.accounts.queries import badges_for, roles_in_org
from fieldcast.catalog.claims import check_claims, check_fields, hits_for_log
from fieldcast.catalog.images import remove_stored, store_image
from fieldcast.catalog.models import Product, ProductStatus, Sku
from fieldcast.catalog.queries import require_public_welfare_eligible
from fieldcast.db.audit import record_audit
from fieldcast.db.base import utcnow
from fieldcast.db.locks import lock_row
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import Conflict, Invalid
from fieldcast.i18n import N_
from fieldcast.live import errors as e
from fieldcast.live import events as ev
from fieldcast.live import keys
from fieldcast.live import schemas as s
from fieldcast.live.models import (
    MAX_SHELF_ITEMS,
    REASON_MAX,
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
from fieldcast.live.stock import set_session_stock

log = logging.getLogger(__name__)

MANAGERS = (Role.OWNER, Role.ORGANISER)
# Who may be put on a session as its host: members who agreed to host for the organisation.
HOST_ROLES = (Role.HOST, Role.OWNER, Role.ORGANISER)
SCHEDULE_PAST_LIMIT = timedelta(days=1)
SCHEDULE_AHEAD_LIMIT = timedelta(days=366)
OPEN_STATES = (SessionState.SCHEDULED, SessionState.LIVE)


class MediaControl(Protocol):
    """What the actions need from the media backend (fieldcast.media.backend.MediaBackend)."""

    async def session_ended(self, session_id: int, stream_name: str) -> None: ...


def log_on_commit(uow: UnitOfWork, message: str, *args: object) -> None:
    """An INFO line for an operator, written once the change it tells of is committed (never for
    a rolled-back one). Ids and public names only: never a key, token or anything personal."""

    async def write() -> None:
        log.info(message, *args)

    uow.after_commit(write)


def audit_session(uow: UnitOfWork, actor_id: int | None, action: str, live: LiveSession, **details: object) -> None:
    record_audit(
        uow,
        actor_id=actor_id,
        action=action,
        target_type="live_session",
        target_id=live.id,
        organisation_id=live.organisation_id,
        details=dict(details),
    )


# -- room events (after commit, through the unit of work) ----------------------------------------


def emit_state(uow: UnitOfWork, live: LiveSession) -> None:
    uow.emit(
        live.id,
        ev.SessionStateChanged(
            state=live.state.value,
            replay_state=live.replay_state.value,
            started_at=live.started_at,
            ended_at=live.ended_at,
        ),
    )


def emit_costream(uow: UnitOfWork, link: CoStream) -> None:
    """Both rooms of a link hear of its change."""
    event = ev.CoStreamChanged(
        co_stream_id=link.id,
        state=link.state.value,
        inviter_session_id=link.inviter_session_id,
        invitee_session_id=link.invitee_session_id,
    )
    uow.emit(link.inviter_session_id, event)
    uow.emit(link.invitee_session_id, event)


async def _emit_shelf(uow: UnitOfWork, live: LiveSession, sku_id: int, item: ShelfItem | None) -> None:
    await uow.session.flush()
    order = await uow.session.scalars(
        sa.select(ShelfItem.sku_id).where(ShelfItem.session_id == live.id).order_by(ShelfItem.position, ShelfItem.id)
    )
    uow.emit(
        live.id,
        ev.ShelfChanged(
            sku_ids=list(order),
            sku_id=sku_id,
            live_price_fen=item.live_price_fen if item else None,
            session_stock=item.session_stock if item else None,
            removed=item is None,
        ),
    )


# -- who may do what ------------------------------------------------------------------------------


async def host_ids_of(session: AsyncSession, session_id: int) -> list[int]:
    rows = await session.scalars(
        sa.select(SessionHost.user_id).where(SessionHost.session_id == session_id).order_by(SessionHost.position)
    )
    return list(rows)


async def is_session_operator(session: AsyncSession, actor: User | None, live: LiveSession) -> bool:
    """Whether the actor runs this show now: checked against the roles held at this moment, never
    against what they held when the show was scheduled. A host listed on the session counts
    only while they still host for its organisation (HOST_ROLES): removing their role ends their
    control at once, even of a show they are listed on."""
    if actor is None or not actor.is_active:
        return False
    if actor.is_platform_admin:
        return True
    roles = await roles_in_org(session, actor.id, live.organisation_id)
    if roles & set(MANAGERS):
        return True
    return bool(roles & set(HOST_ROLES)) and actor.id in await host_ids_of(session, live.id)


async def require_session_operator(session: AsyncSession, actor: User | None, live: LiveSession) -> User:
    """The session's hosts who still hold a host role in its organisation, the organisation's
    owners and organisers, and platform admins."""
    user = require_user(actor)
    if not await is_session_operator(session, user, live):
        raise e.NotOperator(N_("Only this session's hosts and organisers may do this."))
    return user


async def _require_manager(uow: UnitOfWork, actor: User | None, org_id: int) -> User:
    user = require_user(actor)
    await require_org_role(uow.session, user, org_id, *MANAGERS)
    return user


def require_open(live: LiveSession) -> None:
    if live.state not in OPEN_STATES:
        raise e.WrongState(N_("This session has already ended or was cancelled."))


# -- hosts, public welfare and titles -------------------------------------------------------------


async def _check_hosts(uow: UnitOfWork, org_id: int, host_ids: list[int]) -> bool:
    """Every host must be a verified member who hosts for this organisation. Returns whether
    any of them is an official (which forces the public-welfare flag)."""
    badges = await badges_for(uow.session, host_ids)
    any_official = False
    for host_id in host_ids:
        user = await uow.session.get(User, host_id)
        if user is None or not user.is_active:
            raise e.HostNotEligible(N_("Host %(id)s does not exist."), field="host_ids", id=host_id)
        if not badges[host_id].verified:
            raise e.HostNotEligible(
                N_("%(name)s has no valid real-name verification and cannot host."),
                field="host_ids",
                name=user.display_name,
            )
        if not await roles_in_org(uow.session, host_id, org_id) & set(HOST_ROLES):
            raise e.HostNotEligible(
                N_("%(name)s is not a host of this organisation; invite them with the host role first."),
                field="host_ids",
                name=user.display_name,
            )
        any_official = any_official or badges[host_id].official
    return any_official


async def _any_official(uow: UnitOfWork, host_ids: list[int]) -> bool:
    """Whether an official is among hosts already on a session (not checked again: see
    update_session)."""
    badges = await badges_for(uow.session, host_ids)
    return any(badges[host_id].official for host_id in host_ids)


def _public_welfare(requested: bool | None, any_official: bool, current: bool = False) -> bool:
    if any_official:
        if requested is False:
            raise e.OfficialNeedsPublicWelfare(
                N_("An official may host only public-welfare sessions."), field="is_public_welfare"
            )
        return True
    return current if requested is None else requested


def _check_title(title: str, reason: str) -> str:
    """Titles go through the claim checker; a hit needs a written override (kept and audited)."""
    hits = check_claims(title)
    if hits and not reason.strip():
        raise e.TitleNeedsOverride(
            N_(
                "The title has wording the Advertising Law forbids (%(terms)s). Fix it, or give a reason to "
                "use it anyway."
            ),
            field="title",
            terms="、".join(h.term for h in hits),
        )
    return reason.strip() if hits else ""


def _check_schedule_time(when: datetime) -> None:
    now = utcnow()
    if when < now - SCHEDULE_PAST_LIMIT or when > now + SCHEDULE_AHEAD_LIMIT:
        raise Invalid(N_("Choose a time between yesterday and a year from now."), field="scheduled_at")


async def _event_for(uow: UnitOfWork, actor: User, event_id: int | None, org_id: int) -> LiveEvent | None:
    if event_id is None:
        return None
    event = await uow.session.get(LiveEvent, event_id)
    if event is None:
        raise Invalid(N_("No such event."), field="event_id")
    if event.organisation_id != org_id:
        # A joint event (districts broadcasting together): the actor must organise the event too.
        await require_org_role(uow.session, actor, event.organisation_id, *MANAGERS)
    return event


async def _notify_followers(uow: UnitOfWork, live: LiveSession, kind: NotificationKind, host_ids: list[int]) -> None:
    """One notification per follower of any host or of the organisation, written in one statement."""
    followers = (
        sa.select(Follow.follower_id)
        .where(sa.or_(Follow.host_id.in_(host_ids), Follow.organisation_id == live.organisation_id))
        .distinct()
        .subquery()
    )
    await uow.session.execute(
        sa.insert(Notification).from_select(
            ["user_id", "kind", "session_id", "created_at", "updated_at"],
            sa.select(
                followers.c.follower_id,
                sa.literal(kind.value),
                sa.literal(live.id),
                sa.literal(utcnow(), Notification.created_at.type),
                sa.literal(utcnow(), Notification.updated_at.type),
            ),
        )
    )


def _notify_hosts_assigned(uow: UnitOfWork, live: LiveSession, host_ids: list[int], actor_id: int) -> None:
    """Tell each host newly put on the show (the organiser who put themself on it knows)."""
    for host_id in dict.fromkeys(host_ids):
        if host_id != actor_id:
            uow.session.add(Notification(user_id=host_id, kind=NotificationKind.HOST_ASSIGNED, session_id=live.id))


# -- scheduling -----------------------------------------------------------------------------------


async def schedule_session(
    uow: UnitOfWork, actor: User | None, data: s.SessionIn, *, is_demo: bool = False
) -> LiveSession:
    """An organiser schedules a show: hosts, time, optional event and cover, and its shelf."""
    org = await uow.session.get(Organisation, data.organisation_id)
    if org is None:
        raise Invalid(N_("No such organisation."), field="organisation_id")
    user = await _require_manager(uow, actor, org.id)
    if not is_demo:
        _check_schedule_time(data.scheduled_at)
    event = await _event_for(uow, user, data.event_id, org.id)
    any_official = await _check_hosts(uow, org.id, data.host_ids)
    override = _check_title(data.title, data.title_override_reason)
    live = LiveSession(
        organisation_id=org.id,
        event_id=event.id if event else None,
        title=data.title,
        description=data.description,
        scheduled_at=data.scheduled_at,
        is_public_welfare=_public_welfare(data.is_public_welfare, any_official),
        stream_name=secrets.token_hex(8),
        title_override_reason=override,
        created_by_id=user.id,
        is_demo=is_demo,
    )
    uow.session.add(live)
    await uow.session.flush()
    for position, host_id in enumerate(data.host_ids):
        uow.session.add(SessionHost(session_id=live.id, user_id=host_id, position=position))
    shelf_claims: list[dict[str, object]] = []
    for item in data.shelf:
        await _add_to_shelf(uow, live, item)
        shelf_claims += [{"sku_id": item.sku_id, **hit} for hit in await _shelf_claims(uow, item.sku_id)]
    await uow.session.flush()
    await _notify_followers(uow, live, NotificationKind.SESSION_SCHEDULED, data.host_ids)
    _notify_hosts_assigned(uow, live, data.host_ids, user.id)
    audit_session(
        uow,
        user.id,
        "session.schedule_with_override" if override else "session.schedule",
        live,
        hosts=data.host_ids,
        public_welfare=live.is_public_welfare,
        reason=override,
        **({"shelf_claims": shelf_claims} if shelf_claims else {}),
    )
    return live


async def update_session(uow: UnitOfWork, actor: User | None, live: LiveSession, patch: s.SessionPatch) -> LiveSession:
    user = await _require_manager(uow, actor, live.organisation_id)
    require_open(live)
    changes = patch.model_dump(exclude_unset=True)
    if live.state != SessionState.SCHEDULED and {"scheduled_at", "host_ids", "event_id"} & changes.keys():
        raise e.WrongState(N_("Time, hosts and event can only change before the show starts."))
    # Only hosts being assigned must be eligible now. A host already on the show who has since
    # lost the role does not block its other fields: the organiser retitles it, or reassigns it
    # (the removed host has no control of it meanwhile: is_session_operator).
    if patch.host_ids is not None:
        any_official = await _check_hosts(uow, live.organisation_id, patch.host_ids)
    else:
        any_official = await _any_official(uow, await host_ids_of(uow.session, live.id))
    live.is_public_welfare = _public_welfare(patch.is_public_welfare, any_official, live.is_public_welfare)
    if live.is_public_welfare:
        shelf_skus = await uow.session.scalars(sa.select(ShelfItem.sku_id).where(ShelfItem.session_id == live.id))
        await require_public_welfare_eligible(uow.session, list(shelf_skus))
    if patch.scheduled_at is not None:
        _check_schedule_time(patch.scheduled_at)
        live.scheduled_at = patch.scheduled_at
    if "event_id" in changes:
        event = await _event_for(uow, user, patch.event_id, live.organisation_id)
        live.event_id = event.id if event else None
    if patch.title is not None or patch.title_override_reason is not None:
        title = patch.title if patch.title is not None else live.title
        reason = patch.title_override_reason if patch.title_override_reason is not None else live.title_override_reason
        live.title_override_reason = _check_title(title, reason)
        live.title = title
    if patch.description is not None:
        live.description = patch.description
    if patch.host_ids is not None:
        before = set(await host_ids_of(uow.session, live.id))
        await uow.session.execute(sa.delete(SessionHost).where(SessionHost.session_id == live.id))
        for position, host_id in enumerate(patch.host_ids):
            uow.session.add(SessionHost(session_id=live.id, user_id=host_id, position=position))
        # Only the hosts added now: one already on the show was told when they were put on it.
        _notify_hosts_assigned(uow, live, [h for h in patch.host_ids if h not in before], user.id)
    audit_session(uow, user.id, "session.update", live, fields=sorted(changes))
    return live


async def set_cover(
    uow: UnitOfWork, actor: User | None, live: LiveSession, data: bytes, media_dir: Path
) -> LiveSession:
    """Store a cover image (decoded, metadata stripped, re-encoded) and use it for the session."""
    user = await _require_manager(uow, actor, live.organisation_id)
    stored = await store_image(data, media_dir, f"sessions/{live.id}", uploader_id=user.id)
    uow.on_rollback(lambda: remove_stored(media_dir, stored.path, stored.thumb_path))
    old = live.cover_path
    live.cover_path = stored.path

    async def drop_old() -> None:
        remove_stored(media_dir, old)

    if old:
        uow.after_commit(drop_old)
    audit_session(uow, user.id, "session.cover", live)
    return live


async def cancel_session(uow: UnitOfWork, actor: User | None, live: LiveSession, reason: str) -> LiveSession:
    """Call off a show before it starts. The reason is optional and goes to the audit log, trimmed;
    a longer one than REASON_MAX is refused, never cut short."""
    user = await _require_manager(uow, actor, live.organisation_id)
    live = await lock_session(uow, live)
    if live.state != SessionState.SCHEDULED:
        raise e.WrongState(N_("Only a session that has not started can be cancelled."))
    reason = reason.strip()
    if len(reason) > REASON_MAX:
        raise Invalid(N_("Must be at most %(max_length)s characters."), field="reason", max_length=REASON_MAX)
    live.state = SessionState.CANCELLED
    live.ended_at = utcnow()
    await keys.revoke_keys(uow, live.id)
    await _end_links(uow, live.id, user.id)
    emit_state(uow, live)
    record_audit(
        uow,
        actor_id=user.id,
        action="session.cancel",
        target_type="live_session",
        target_id=live.id,
        organisation_id=live.organisation_id,
        reason=reason,
    )
    return live


# -- shelf ----------------------------------------------------------------------------------------


async def _shelf_claims(uow: UnitOfWork, sku_id: int) -> list[dict[str, object]]:
    """Claim-checker hits in the name an item shows on the shelf (product title, SKU label). The
    product was published past them only with an organiser's written override, so they are not
    refused here; they are recorded with the shelf entry, for the audit log."""
    sku = await uow.session.get(Sku, sku_id)
    product = await uow.session.get(Product, sku.product_id) if sku is not None else None
    if sku is None or product is None:
        return []
    fields = {"product_title": product.title, "spec_label": sku.spec_label}
    return hits_for_log(check_fields(fields, category=product.category.value))


async def _add_to_shelf(uow: UnitOfWork, live: LiveSession, data: s.ShelfItemIn) -> ShelfItem:
    sku = await uow.session.get(Sku, data.sku_id)
    product = await uow.session.get(Product, sku.product_id) if sku else None
    if sku is None or product is None or product.organisation_id != live.organisation_id:
        raise e.ShelfRefused(N_("Choose one of this organisation's products."), field="sku_id")
    if product.status != ProductStatus.PUBLISHED or not sku.is_active:
        raise e.ShelfRefused(N_("Only published products with an active SKU can go on the shelf."), field="sku_id")
    if live.is_public_welfare:
        await require_public_welfare_eligible(uow.session, [sku.id])
    count = await uow.session.scalar(sa.select(sa.func.count(ShelfItem.id)).where(ShelfItem.session_id == live.id))
    if (count or 0) >= MAX_SHELF_ITEMS:
        raise e.ShelfRefused(N_("A shelf holds at most %(n)s items."), field="sku_id", n=MAX_SHELF_ITEMS)
    exists = await uow.session.scalar(
        sa.select(ShelfItem.id).where(ShelfItem.session_id == live.id, ShelfItem.sku_id == sku.id)
    )
    if exists:
        raise Conflict(N_("This SKU is already on the shelf."), field="sku_id")
    item = ShelfItem(
        session_id=live.id,
        sku_id=sku.id,
        live_price_fen=data.live_price_fen,
        session_stock=data.session_stock,
        session_available=data.session_stock or 0,
        session_reserved=0,
        session_sold=0,
        flash_starts_at=data.flash_starts_at,
        per_buyer_limit=data.per_buyer_limit,
        position=count or 0,
    )
    uow.session.add(item)
    await uow.session.flush()
    return item


async def add_shelf_item(uow: UnitOfWork, actor: User | None, live: LiveSession, data: s.ShelfItemIn) -> ShelfItem:
    user = await _require_manager(uow, actor, live.organisation_id)
    require_open(live)
    item = await _add_to_shelf(uow, live, data)
    claims = await _shelf_claims(uow, item.sku_id)
    audit_session(
        uow,
        user.id,
        "shelf.add",
        live,
        sku_id=item.sku_id,
        live_price_fen=item.live_price_fen,
        **({"claims": claims} if claims else {}),
    )
    await _emit_shelf(uow, live, item.sku_id, item)
    return item


async def update_shelf_item(
    uow: UnitOfWork, actor: User | None, live: LiveSession, item: ShelfItem, patch: s.ShelfItemPatch
) -> ShelfItem:
    user = await _require_manager(uow, actor, live.organisation_id)
    require_open(live)
    changes = patch.model_dump(exclude_unset=True, exclude_none=True)
    if "session_stock" in changes:
        await uow.session.refresh(item)  # the pool as it is now, not as loaded
        try:
            set_session_stock(item, changes.pop("session_stock"))
        except ValueError:
            raise e.ShelfRefused(
                N_("Show stock cannot go below the units already sold or awaiting payment (%(n)s)."),
                field="session_stock",
                n=item.session_sold + item.session_reserved,
            ) from None
    for name, value in changes.items():
        setattr(item, name, value)
    audit_session(
        uow,
        user.id,
        "shelf.update",
        live,
        sku_id=item.sku_id,
        **patch.model_dump(mode="json", exclude_unset=True, exclude_none=True),
    )
    await _emit_shelf(uow, live, item.sku_id, item)
    return item


async def remove_shelf_item(uow: UnitOfWork, actor: User | None, live: LiveSession, item: ShelfItem) -> None:
    user = await _require_manager(uow, actor, live.organisation_id)
    require_open(live)
    await uow.session.refresh(item)
    if item.session_reserved:
        raise e.ShelfRefused(
            N_("Orders waiting for payment hold units of this item; remove it once they are paid or closed."),
            field="sku_id",
        )
    if live.pinned_sku_id == item.sku_id:
        live.pinned_sku_id = None
        uow.emit(live.id, ev.ProductPinned(sku_id=None))
    sku_id = item.sku_id
    await uow.session.delete(item)
    audit_session(uow, user.id, "shelf.remove", live, sku_id=sku_id)
    await _emit_shelf(uow, live, sku_id, None)


# -- stream keys ----------------------------------------------------------------------------------


async def issue_stream_key(uow: UnitOfWork, actor: User | None, live: LiveSession) -> str:
    """Make (or rotate to) a new key; the old one stops working at once. Shown once."""
    user = await require_session_operator(uow.session, actor, live)
    require_open(live)
    key = await keys.issue_key(uow, live.id, user.id)
    audit_session(uow, user.id, "session.stream_key", live, prefix=key[:8])
    log_on_commit(
        uow, "session %s: new stream key issued by user %s; the previous one no longer works", live.id, user.id
    )
    return key


# -- state: ingest and the host console -----------------------------------------------------------


async def lock_session(uow: UnitOfWork, live: LiveSession) -> LiveSession:
    """Lock the session's row until commit and read it afresh (db/locks.py): state changes
    (go live, end, cancel) from the ingest hook and the console at once happen one after the
    other, and the second sees what the first did."""
    locked = await lock_row(uow.session, LiveSession, live.id)
    if locked is None:  # deleted by a concurrent transaction: only a race gets here
        raise e.WrongState(N_("This session no longer exists."))
    return locked


async def _go_live(uow: UnitOfWork, live: LiveSession) -> LiveSession:
    live = await lock_session(uow, live)
    require_open(live)
    live.ingest_stopped_at = None
    if live.state == SessionState.SCHEDULED:
        live.state = SessionState.LIVE
        live.started_at = utcnow()
        emit_state(uow, live)
        await uow.session.flush()
        await _notify_followers(uow, live, NotificationKind.SESSION_LIVE, await host_ids_of(uow.session, live.id))
    return live


async def ingest_started(uow: UnitOfWork, live: LiveSession) -> LiveSession:
    """Ingest accepted a publish for this session (first start, or a reconnect)."""
    live = await lock_session(uow, live)
    was = live.state
    await _go_live(uow, live)
    if was == SessionState.SCHEDULED:
        audit_session(uow, None, "session.live", live, via="ingest")
        log_on_commit(uow, "session %s is live (stream %s, via ingest)", live.id, live.stream_name)
    return live


async def start_session(uow: UnitOfWork, actor: User | None, live: LiveSession) -> LiveSession:
    """The host console's Start: the room opens even before video arrives (e.g. OBS still connecting)."""
    user = await require_session_operator(uow.session, actor, live)
    live = await lock_session(uow, live)
    was = live.state
    await _go_live(uow, live)
    if was == SessionState.SCHEDULED:
        audit_session(uow, user.id, "session.live", live, via="console")
        log_on_commit(uow, "session %s is live (stream %s, started by user %s)", live.id, live.stream_name, user.id)
    return live


async def ingest_stopped(uow: UnitOfWork, live: LiveSession) -> datetime:
    """The stream dropped: remember when, so a reconnect within the grace period keeps the show on."""
    live = await lock_session(uow, live)
    stopped = utcnow()
    live.ingest_stopped_at = stopped
    return stopped


async def ingest_lost(uow: UnitOfWork, session_id: int, last_seen: datetime) -> datetime | None:
    """The ingest watchdog found no fresh video since `last_seen` and no callback said the stream
    stopped: note it as stopped then (under the row lock, only if nothing else did meanwhile), so
    the reconnect grace period runs from the last sign of video. The time noted, or None."""
    live = await lock_row(uow.session, LiveSession, session_id)
    if live is None or live.state != SessionState.LIVE or live.ingest_stopped_at is not None:
        return None
    live.ingest_stopped_at = min(last_seen, utcnow())
    return live.ingest_stopped_at


async def _end_links(uow: UnitOfWork, session_id: int, actor_id: int | None) -> None:
    links = await uow.session.scalars(
        sa.select(CoStream).where(
            sa.or_(CoStream.inviter_session_id == session_id, CoStream.invitee_session_id == session_id),
            CoStream.state.in_([CoStreamState.INVITED, CoStreamState.ACTIVE]),
        )
    )
    for link in links:
        link.state = CoStreamState.ENDED
        link.ended_at = utcnow()
        link.ended_by_id = actor_id
        emit_costream(uow, link)


async def _end(uow: UnitOfWork, live: LiveSession, actor_id: int | None, media: MediaControl) -> LiveSession:
    live = await lock_session(uow, live)
    if live.state != SessionState.LIVE:
        raise e.WrongState(N_("Only a live session can be ended."))
    live.state = SessionState.ENDED
    live.ended_at = utcnow()
    live.replay_state = ReplayState.PROCESSING
    emit_state(uow, live)
    # Capabilities above live (integrity's rules) hear of the end through the outbox.
    uow.publish(
        ev.TOPIC_SESSION,
        str(live.id),
        ev.SESSION_ENDED,
        {"session_id": live.id, "organisation_id": live.organisation_id, "ended_at": live.ended_at.isoformat()},
    )
    await keys.revoke_keys(uow, live.id)
    await _end_links(uow, live.id, actor_id)
    session_id, stream_name = live.id, live.stream_name

    async def hand_over() -> None:
        await media.session_ended(session_id, stream_name)

    uow.after_commit(hand_over)
    return live


async def end_session(
    uow: UnitOfWork, actor: User | None, live: LiveSession, media: MediaControl, *, system: bool = False
) -> LiveSession:
    """End the show: keys revoked, links ended, the recording handed over to become the replay."""
    actor_id = None if system else (await require_session_operator(uow.session, actor, live)).id
    await _end(uow, live, actor_id, media)
    via = "system" if system else "console"
    audit_session(uow, actor_id, "session.end", live, via=via)
    log_on_commit(uow, "session %s ended (via %s); its replay is being made", live.id, via)
    return live


async def end_if_still_stopped(uow: UnitOfWork, session_id: int, stopped_at: datetime, media: MediaControl) -> bool:
    """Called after the reconnect grace period: end the show unless the stream came back."""
    live = await lock_row(uow.session, LiveSession, session_id)
    if live is None or live.state != SessionState.LIVE or live.ingest_stopped_at != stopped_at:
        return False
    await _end(uow, live, None, media)
    audit_session(uow, None, "session.end", live, via="ingest_timeout")
    log_on_commit(uow, "session %s ended: its stream did not come back within the grace period", session_id)
    return True


async def replay_finished(uow: UnitOfWork, session_id: int, duration_s: float | None) -> None:
    live = await uow.session.get(LiveSession, session_id)
    if live is None:
        return
    live.replay_state = ReplayState.READY if duration_s is not None else ReplayState.FAILED
    live.replay_duration_s = duration_s
    emit_state(uow, live)
    if duration_s is not None:
        log_on_commit(uow, "session %s: replay ready (%.0f s)", session_id, duration_s)
    else:
        log_on_commit(uow, "session %s: replay failed (no playable recording)", session_id)


# -- pinning: "explaining now" --------------------------------------------------------------------


async def pin_product(uow: UnitOfWork, actor: User | None, live: LiveSession, sku_id: int) -> ProductMark:
    """Pin a shelf item as the card on screen and mark the moment for the replay."""
    user = await require_session_operator(uow.session, actor, live)
    if live.state != SessionState.LIVE:
        raise e.WrongState(N_("Products can be pinned only while the session is live."))
    on_shelf = await uow.session.scalar(
        sa.select(ShelfItem.id).where(ShelfItem.session_id == live.id, ShelfItem.sku_id == sku_id)
    )
    if on_shelf is None:
        raise Invalid(N_("Pin an item from this session's shelf."), field="sku_id")
    now = utcnow()
    live.pinned_sku_id = sku_id
    started = live.started_at or now
    mark = ProductMark(
        session_id=live.id,
        sku_id=sku_id,
        marked_at=now,
        offset_s=max(0.0, (now - started).total_seconds()),
        marked_by_id=user.id,
    )
    uow.session.add(mark)
    await uow.session.flush()
    audit_session(uow, user.id, "session.pin", live, sku_id=sku_id)
    uow.emit(live.id, ev.ProductPinned(sku_id=sku_id, offset_s=mark.offset_s))
    return mark


async def unpin_product(uow: UnitOfWork, actor: User | None, live: LiveSession) -> LiveSession:
    await require_session_operator(uow.session, actor, live)
    live.pinned_sku_id = None
    uow.emit(live.id, ev.ProductPinned(sku_id=None))
    return live


# -- events ---------------------------------------------------------------------------------------


async def create_event(uow: UnitOfWork, actor: User | None, data: s.EventIn, *, is_demo: bool = False) -> LiveEvent:
    user = await _require_manager(uow, actor, data.organisation_id)
    taken = await uow.session.scalar(sa.select(LiveEvent.id).where(LiveEvent.slug == data.slug))
    if taken:
        raise Conflict(N_("This address is taken; choose another."), field="slug")
    event = LiveEvent(created_by_id=user.id, is_demo=is_demo, **data.model_dump())
    uow.session.add(event)
    await uow.session.flush()
    record_audit(
        uow,
        actor_id=user.id,
        action="event.create",
        target_type="live_event",
        target_id=event.id,
        organisation_id=event.organisation_id,
    )
    return event
