"""The writes of clips: cut one (ask for it), change or unpublish it, delete it, count a view,
buy from it; and the cutter's two steps (take the next clip waiting, record how the cut went).

Rules:
- Only the show's operators cut and manage its clips (its hosts who still host for the
  organisation, the organisation's owners and organisers, platform admins: live's
  require_session_operator). Anyone may watch a published clip and buy from it.
- A clip is cut from a ready replay, 5 to 180 s long, inside the replay; around a mark it runs
  from `lead_s` before the mark to `around_s` after it (clipped to the replay). Its product is
  a SKU of the show's shelf: the one pinned at the clip's middle unless another is named.
- A view counts once per viewer per window (clips/models.ClipView); a deleted or unpublished
  clip counts none.
- An order placed from a clip's page is the storefront's (the show has ended: no live price),
  and is attributed to the clip in the checkout's own transaction (clip_orders)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from fieldcast.accounts.models import User
from fieldcast.catalog.models import Product, Sku
from fieldcast.clips import errors as e
from fieldcast.clips import schemas as s
from fieldcast.clips.models import (
    CUT_ATTEMPTS_MAX,
    ERROR_MAX,
    LENGTH_MAX_S,
    LENGTH_MIN_S,
    TITLE_MAX,
    Clip,
    ClipOrder,
    ClipState,
    ClipView,
)
from fieldcast.clips.queries import is_public
from fieldcast.commerce.checkout import Wanted
from fieldcast.commerce.gate import StockGate
from fieldcast.db.audit import record_audit
from fieldcast.db.base import utcnow
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import NotFound
from fieldcast.i18n import N_
from fieldcast.live import queries as live_queries
from fieldcast.live.actions import is_session_operator, require_session_operator
from fieldcast.live.models import LiveSession, ReplayState, SessionState
from fieldcast.live.paths import PLAYLIST
from fieldcast.live.schemas import MarkOut
from fieldcast.payments import actions as payments
from fieldcast.payments.provider import PaymentProvider

log = logging.getLogger(__name__)

CLIPS_DIR = "clips"
# The end may be read from a player a hair past the replay's last frame.
END_SLACK_S = 0.5
LEASE_S = 600.0  # a cutter that died mid-cut leaves its clip to another after this

Wake = Callable[[], Awaitable[None]]


def audit_clip(uow: UnitOfWork, actor_id: int | None, action: str, clip: Clip, **details: object) -> None:
    record_audit(
        uow,
        actor_id=actor_id,
        action=action,
        target_type="clip",
        target_id=clip.id,
        organisation_id=clip.organisation_id,
        details=dict(details),
    )


async def _cuttable_show(uow: UnitOfWork, actor: User | None, session_id: int) -> tuple[User, LiveSession, float]:
    live = await live_queries.load_session(uow.session, session_id)
    if live is None:
        raise NotFound(N_("No such session."))
    user = await require_session_operator(uow.session, actor, live)
    duration = live.replay_duration_s
    if live.state != SessionState.ENDED or live.replay_state != ReplayState.READY or not duration:
        raise e.NoReplay(N_("Clips are cut from the replay: this show has no ready replay yet."))
    return user, live, float(duration)


def _window(
    data: s.ClipIn, mark_offset_s: float | None, duration_s: float, lead_s: float, around_s: float
) -> tuple[float, float]:
    """The stretch of the replay asked for, checked against the limits (the field at fault named)."""
    if mark_offset_s is not None:
        start, end = max(0.0, mark_offset_s - lead_s), min(duration_s, mark_offset_s + around_s)
        if end - start < LENGTH_MIN_S:
            raise e.BadClip(
                N_("Too little of the replay is left around this mark for a clip of at least %(n)s s."),
                field="mark_id",
                n=int(LENGTH_MIN_S),
            )
        return round(start, 3), round(end, 3)
    if data.start_s is None:
        raise e.BadClip(N_("Set where the clip starts."), field="start_s")
    if data.end_s is None:
        raise e.BadClip(N_("Set where the clip ends."), field="end_s")
    if data.start_s >= duration_s:
        raise e.BadClip(N_("The replay is only %(n)s s long."), field="start_s", n=int(duration_s))
    if data.end_s > duration_s + END_SLACK_S:
        raise e.BadClip(N_("The replay is only %(n)s s long."), field="end_s", n=int(duration_s))
    start, end = data.start_s, min(data.end_s, duration_s)
    if end <= start:
        raise e.BadClip(N_("The end must come after the start."), field="end_s")
    if end - start < LENGTH_MIN_S:
        raise e.BadClip(N_("A clip is at least %(n)s s long."), field="end_s", n=int(LENGTH_MIN_S))
    if end - start > LENGTH_MAX_S:
        raise e.BadClip(N_("A clip is at most %(n)s s long."), field="end_s", n=int(LENGTH_MAX_S))
    return round(start, 3), round(end, 3)


async def _shelf_sku(uow: UnitOfWork, session_id: int, sku_id: int) -> str:
    """The product title of a SKU of the show's shelf; BadClip for any other SKU."""
    for item in await live_queries.shelf_of(uow.session, [session_id]):
        if item.sku_id == sku_id:
            return item.product_title
    raise e.BadClip(N_("Choose a product from this show's shelf."), field="sku_id")


def _pinned_at(marks: Sequence[MarkOut], start_s: float, end_s: float) -> int | None:
    """The SKU pinned at the clip's middle, else the first one pinned during it."""
    middle = (start_s + end_s) / 2
    before = [m for m in marks if m.offset_s <= middle]
    if before:
        return before[-1].sku_id
    during = [m for m in marks if start_s <= m.offset_s <= end_s]
    return during[0].sku_id if during else None


async def create_clip(
    uow: UnitOfWork,
    actor: User | None,
    session_id: int,
    data: s.ClipIn,
    *,
    lead_s: float,
    around_s: float,
    wake: Wake | None = None,
    is_demo: bool = False,
) -> Clip:
    """Ask for a clip: the row is written `pending` and the cutter makes it off the request path
    (`wake` tells this process's cutter after the commit)."""
    user, live, duration = await _cuttable_show(uow, actor, session_id)
    marks = await live_queries.marks_of(uow.session, live.id)
    mark = None
    if data.mark_id is not None:
        mark = next((m for m in marks if m.id == data.mark_id), None)
        if mark is None:
            raise e.BadClip(N_("Choose one of this show's marks."), field="mark_id")
    start, end = _window(data, mark.offset_s if mark else None, duration, lead_s, around_s)
    sku_id = data.sku_id or (mark.sku_id if mark else _pinned_at(marks, start, end))
    if sku_id is None:
        raise e.BadClip(N_("Nothing was pinned then: choose the product this clip sells."), field="sku_id")
    product_title = await _shelf_sku(uow, live.id, sku_id)
    clip = Clip(
        slug=secrets.token_urlsafe(9),
        session_id=live.id,
        organisation_id=live.organisation_id,
        sku_id=sku_id,
        mark_id=mark.id if mark else None,
        title=data.title or product_title[:TITLE_MAX],
        requested_start_s=start,
        requested_end_s=end,
        published=data.published,
        created_by_id=user.id,
        is_demo=is_demo or live.is_demo,
    )
    uow.session.add(clip)
    await uow.session.flush()
    audit_clip(uow, user.id, "clip.create", clip, start_s=start, end_s=end, sku_id=sku_id, mark_id=clip.mark_id)
    if wake is not None:
        uow.after_commit(wake)
    return clip


async def _managed_clip(uow: UnitOfWork, actor: User | None, clip: Clip) -> User:
    live = await live_queries.load_session(uow.session, clip.session_id)
    if live is None:
        raise NotFound(N_("No such clip."))
    return await require_session_operator(uow.session, actor, live)


async def may_manage(uow: UnitOfWork, actor: User | None, clip: Clip) -> bool:
    live = await live_queries.load_session(uow.session, clip.session_id)
    return live is not None and await is_session_operator(uow.session, actor, live)


async def update_clip(uow: UnitOfWork, actor: User | None, clip: Clip, patch: s.ClipPatch) -> Clip:
    """Change the product (another SKU of the shelf), the title, or publish / unpublish."""
    user = await _managed_clip(uow, actor, clip)
    changes: dict[str, object] = {}
    if patch.sku_id is not None and patch.sku_id != clip.sku_id:
        await _shelf_sku(uow, clip.session_id, patch.sku_id)
        clip.sku_id = changes["sku_id"] = patch.sku_id
    if patch.title is not None and patch.title != clip.title:
        clip.title = changes["title"] = patch.title
    if patch.published is not None and patch.published != clip.published:
        clip.published = changes["published"] = patch.published
    if changes:
        audit_clip(uow, user.id, "clip.update", clip, **changes)
    return clip


async def delete_clip(uow: UnitOfWork, actor: User | None, clip: Clip, *, media_dir: Path) -> None:
    """Gone for the public at once; its files are removed after the commit. The row stays
    (deleted_at) so the orders it brought keep their attribution in the reports."""
    user = await _managed_clip(uow, actor, clip)
    clip.deleted_at = utcnow()
    clip.published = False
    audit_clip(uow, user.id, "clip.delete", clip)
    files = [media_dir / p for p in (clip.video_path, clip.poster_path) if p]

    async def remove() -> None:
        for path in files:
            path.unlink(missing_ok=True)

    uow.after_commit(remove)


def window_start(now: datetime, window_s: int) -> datetime:
    """The start of the view window `now` falls in (windows are aligned on the epoch)."""
    stamp = int(now.timestamp())
    return datetime.fromtimestamp(stamp - stamp % window_s, UTC)


async def record_view(
    uow: UnitOfWork, clip: Clip, viewer_key: str, *, window_s: int, now: datetime | None = None
) -> bool:
    """Count a view of a public clip, once per viewer per window; True when this one counted."""
    if not is_public(clip) or not viewer_key:
        return False
    now = now or utcnow()
    start = window_start(now, window_s)
    seen = await uow.session.scalar(
        sa.select(ClipView.id).where(
            ClipView.clip_id == clip.id, ClipView.viewer_key == viewer_key, ClipView.window_start == start
        )
    )
    if seen is not None:
        return False
    try:
        async with uow.session.begin_nested():
            uow.session.add(
                ClipView(
                    clip_id=clip.id, viewer_key=viewer_key, window_start=start, viewed_at=now, is_demo=clip.is_demo
                )
            )
    except sa.exc.IntegrityError:  # the same viewer's other tab, at the same moment
        return False
    return True


# -- buying from a clip ----------------------------------------------------------------------------


async def checkout_from_clip(
    uow: UnitOfWork,
    gate: StockGate,
    provider: PaymentProvider,
    actor: User | None,
    clip: Clip,
    wanted: Sequence[Wanted],
    address_id: int,
    *,
    pay_minutes: int,
    coupon_claim_id: int | None = None,
) -> payments.Checkout:
    """The storefront checkout of the clip's product (any of its SKUs), and every order it
    placed attributed to the clip, in the same transaction."""
    if not is_public(clip):
        raise e.ClipNotReady(N_("This clip is not on sale."))
    product_id = await uow.session.scalar(sa.select(Sku.product_id).where(Sku.id == clip.sku_id))
    skus = set(await uow.session.scalars(sa.select(Sku.id).join(Product).where(Product.id == product_id)))
    if any(line.sku_id not in skus for line in wanted):
        raise e.BadClip(N_("Only this clip's product can be bought from it."), field="items")
    # The show has ended: no live price, the storefront's (session_id is dropped).
    storefront = [Wanted(line.sku_id, line.quantity, None) for line in wanted]
    done = await payments.checkout(
        uow,
        gate,
        provider,
        actor,
        storefront,
        address_id,
        pay_minutes=pay_minutes,
        is_demo=clip.is_demo,
        coupon_claim_id=coupon_claim_id,
    )
    for order in done.placed.orders:
        uow.session.add(ClipOrder(clip_id=clip.id, order_id=order.id))
    return done


# -- the cutter's steps ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CutJob:
    """A clip taken by a cutter, with what ffmpeg needs."""

    clip_id: int
    playlist: Path
    start_s: float
    end_s: float
    video_path: str
    poster_path: str


async def take_next(uow: UnitOfWork, hls_dir: Path, now: datetime | None = None) -> CutJob | None:
    """Lease the oldest clip waiting (or one whose cutter's lease ran out) to this cutter; None
    when there is none. The guarded UPDATE lets exactly one of several processes take it."""
    now = now or utcnow()
    waiting = sa.or_(
        Clip.state == ClipState.PENDING,
        sa.and_(Clip.state == ClipState.CUTTING, Clip.lease_until < now),
    )
    candidates = await uow.session.scalars(
        sa.select(Clip.id).where(waiting, Clip.deleted_at.is_(None)).order_by(Clip.id).limit(5)
    )
    for clip_id in list(candidates):
        taken = await uow.session.execute(
            sa.update(Clip)
            .where(Clip.id == clip_id, waiting)
            .values(state=ClipState.CUTTING, lease_until=now + timedelta(seconds=LEASE_S), attempts=Clip.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        if getattr(taken, "rowcount", 0) != 1:
            continue
        clip = await uow.session.get(Clip, clip_id, populate_existing=True)
        live = await live_queries.load_session(uow.session, clip.session_id) if clip else None
        if clip is None or live is None:
            continue
        name = f"{clip.id}-{clip.slug}"
        return CutJob(
            clip.id,
            hls_dir / "replay" / live.stream_name / PLAYLIST,
            clip.requested_start_s,
            clip.requested_end_s,
            f"{CLIPS_DIR}/{name}.mp4",
            f"{CLIPS_DIR}/{name}.jpg",
        )
    return None


async def cut_done(
    uow: UnitOfWork, job: CutJob, *, start_s: float | None = None, duration_s: float | None = None, error: str = ""
) -> Clip | None:
    """Record the cut: ready with its files and real start and length, or the error (tried again
    until CUT_ATTEMPTS_MAX, then failed for good)."""
    clip = await uow.session.get(Clip, job.clip_id, populate_existing=True)
    if clip is None:
        return None
    clip.lease_until = None
    if not error:
        clip.state = ClipState.READY
        clip.start_s, clip.duration_s = start_s, duration_s
        clip.video_path, clip.poster_path = job.video_path, job.poster_path
        clip.error = ""
    else:
        clip.error = error[:ERROR_MAX]
        clip.state = ClipState.FAILED if clip.attempts >= CUT_ATTEMPTS_MAX else ClipState.PENDING
    return clip
