"""Writes of lucky draws: create (announce), open, enter, draw and cancel.

Rules, from the issue and the stories (rigged draws and hired commenters are what they guard):
- Only the session's operators (its hosts, its organisation's owners and organisers, platform
  admins) create, open, draw or cancel. The terms (prize, declared value, number of winners,
  entry rule) are public from creation and cannot change; a draw can only be cancelled, with a
  reason, in the audit log and in the room.
- The top prize is declared at most 50,000 yuan (MAX_PRIZE_VALUE_FEN).
- Entry is by a chat comment containing the keyword, or by being present in the room. A purchase
  is never required, and there is deliberately no entry rule that could require one.
- The show's hosts, the organisation's members (any role) and platform admins cannot enter.
- The winners come from a committed seed and the published entrant list (verify.py), so anyone
  can check them. Entry and drawing lock the draw row, so no entry slips in while winners are
  picked: the published list is exactly the list the winners were drawn from.

Every action writes the audit log in the caller's transaction and publishes its room event after
commit."""

from __future__ import annotations

import secrets
import unicodedata
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.accounts.models import User
from fieldcast.accounts.permissions import require_user
from fieldcast.accounts.queries import roles_in_org
from fieldcast.catalog.claims import check_fields, hits_for_log
from fieldcast.catalog.errors import ClaimsNeedOverride
from fieldcast.db.audit import record_audit
from fieldcast.db.base import utcnow
from fieldcast.db.locks import lock_row
from fieldcast.db.uow import UnitOfWork
from fieldcast.draws import events as ev
from fieldcast.draws import schemas as s
from fieldcast.draws.errors import DrawWrongState, NotEligible
from fieldcast.draws.models import (
    MAX_DRAWS_PER_SESSION,
    MAX_PRIZE_VALUE_FEN,
    REASON_MAX,
    REASON_MIN,
    DrawEntrant,
    DrawState,
    DrawWinner,
    EntryRule,
    LuckyDraw,
)
from fieldcast.draws.verify import SEED_BYTES, pick_winners, seed_hash
from fieldcast.errors import Conflict, Invalid, NotFound
from fieldcast.i18n import N_
from fieldcast.live.actions import host_ids_of, require_open, require_session_operator
from fieldcast.live.follows import notify
from fieldcast.live.models import LiveSession, NotificationKind, SessionState
from fieldcast.live.queries import load_session


def audit_draw(
    uow: UnitOfWork,
    actor_id: int | None,
    action: str,
    draw: LuckyDraw,
    live: LiveSession,
    reason: str = "",
    **details: object,
) -> None:
    record_audit(
        uow,
        actor_id=actor_id,
        action=action,
        target_type="lucky_draw",
        target_id=draw.id,
        reason=reason,
        organisation_id=live.organisation_id,
        details={"session_id": live.id, **details},
    )


def mask_name(display_name: str) -> str:
    """The public label of an entrant: the first character and two stars (王** , A**)."""
    name = display_name.strip()
    return f"{name[0]}**" if name else "**"


def normalise(text: str) -> str:
    """Keyword matching ignores case and full-width/half-width differences (ＡＢＣ = abc)."""
    return unicodedata.normalize("NFKC", text).casefold()


async def _session_of(session: AsyncSession, draw: LuckyDraw) -> LiveSession:
    live = await load_session(session, draw.session_id)
    if live is None:  # the draw's session cascades away with it; only a race gets here
        raise NotFound(N_("No such session."))
    return live


async def _locked(session: AsyncSession, draw: LuckyDraw) -> LuckyDraw:
    """Re-read the draw with its row locked until commit (db/locks.py), so entering and drawing
    never interleave."""
    fresh = await lock_row(session, LuckyDraw, draw.id)
    if fresh is None:
        raise NotFound(N_("No such draw."))
    return fresh


def _require_state(draw: LuckyDraw, *allowed: DrawState) -> None:
    if draw.state not in allowed:
        messages = {
            DrawState.ANNOUNCED: N_("This draw has not opened yet."),
            DrawState.OPEN: N_("This draw is still open."),
            DrawState.DRAWN: N_("This draw has already been drawn."),
            DrawState.CANCELLED: N_("This draw was cancelled."),
        }
        raise DrawWrongState(messages[draw.state])


# -- the host's side ------------------------------------------------------------------------------


async def create_draw(uow: UnitOfWork, actor: User | None, live: LiveSession, data: s.DrawIn) -> LuckyDraw:
    """Announce a draw: its terms are public (and fixed) from now on."""
    user = await require_session_operator(uow.session, actor, live)
    require_open(live)
    if data.prize_value_fen > MAX_PRIZE_VALUE_FEN:
        raise Invalid(
            N_("The declared value of a prize may be at most %(yuan)s yuan."),
            field="prize_value_fen",
            yuan=f"{MAX_PRIZE_VALUE_FEN // 100:,}",
        )
    keyword = data.keyword if data.entry_rule is EntryRule.KEYWORD else ""
    if data.entry_rule is EntryRule.KEYWORD and not keyword:
        raise Invalid(N_("A keyword draw needs the keyword viewers comment to enter."), field="keyword")
    claims = check_fields({"prize_title": data.prize_title, "keyword": keyword, "terms": data.terms})
    override = data.claims_override_reason.strip() if claims else ""
    if claims and not override:
        field = next(iter(claims))
        raise ClaimsNeedOverride(
            N_(
                "This text has wording the Advertising Law forbids (%(terms)s). Fix it, or give a reason to use it "
                "anyway."
            ),
            field=field,
            terms="、".join(h.term for hits in claims.values() for h in hits),
        )
    count = await uow.session.scalar(sa.select(sa.func.count()).where(LuckyDraw.session_id == live.id))
    if (count or 0) >= MAX_DRAWS_PER_SESSION:
        raise Conflict(N_("A session may hold at most %(n)s draws."), n=MAX_DRAWS_PER_SESSION)
    draw = LuckyDraw(
        session_id=live.id,
        created_by_id=user.id,
        prize_title=data.prize_title,
        prize_value_fen=data.prize_value_fen,
        winners_count=data.winners_count,
        entry_rule=data.entry_rule,
        keyword=keyword,
        terms=data.terms,
        state=DrawState.ANNOUNCED,
    )
    uow.session.add(draw)
    await uow.session.flush()
    # Wording published past the claim checker: the reason is the entry's reason, the hits its details.
    audit_draw(
        uow,
        user.id,
        "draw.create",
        draw,
        live,
        override,
        prize_title=draw.prize_title,
        prize_value_fen=draw.prize_value_fen,
        winners_count=draw.winners_count,
        entry_rule=draw.entry_rule.value,
        keyword=draw.keyword,
        claims=hits_for_log(claims),
    )
    uow.emit(
        live.id,
        ev.DrawAnnounced(
            draw_id=draw.id,
            prize_title=draw.prize_title,
            prize_value_fen=draw.prize_value_fen,
            winners_count=draw.winners_count,
            entry_rule=draw.entry_rule.value,
            keyword=draw.keyword,
            terms=draw.terms,
        ),
    )
    return draw


async def open_draw(
    uow: UnitOfWork, actor: User | None, draw: LuckyDraw, *, duration_s: int | None = None
) -> LuckyDraw:
    """Open entries during the show. The seed is made now and only its hash is published."""
    live = await _session_of(uow.session, draw)
    user = await require_session_operator(uow.session, actor, live)
    draw = await _locked(uow.session, draw)
    _require_state(draw, DrawState.ANNOUNCED)
    if live.state is not SessionState.LIVE:
        raise DrawWrongState(N_("A draw opens only while the show is live."))
    seed = secrets.token_bytes(SEED_BYTES)
    now = utcnow()
    draw.state = DrawState.OPEN
    draw.seed = seed.hex()
    draw.seed_hash = seed_hash(seed)
    draw.opened_at = now
    draw.closes_at = now + timedelta(seconds=duration_s) if duration_s else None
    audit_draw(uow, user.id, "draw.open", draw, live, seed_hash=draw.seed_hash, duration_s=duration_s)
    uow.emit(live.id, ev.DrawOpened(draw_id=draw.id, seed_hash=draw.seed_hash, opened_at=now, closes_at=draw.closes_at))
    return draw


async def draw_winners(uow: UnitOfWork, actor: User | None, draw: LuckyDraw) -> LuckyDraw:
    """Freeze the entrant list, pick the winners from the seed, reveal the seed."""
    live = await _session_of(uow.session, draw)
    user = await require_session_operator(uow.session, actor, live)
    draw = await _locked(uow.session, draw)
    _require_state(draw, DrawState.OPEN)
    now = utcnow()
    if draw.closes_at is not None and now < draw.closes_at:
        raise DrawWrongState(N_("Entries are open until the announced time; draw after it."))
    if draw.seed is None:  # an open draw always has its seed; a broken row must not draw
        raise DrawWrongState(N_("This draw has no seed and cannot be drawn."))
    rows = (
        await uow.session.execute(
            sa.select(DrawEntrant.user_id, DrawEntrant.display_label)
            .where(DrawEntrant.draw_id == draw.id)
            .order_by(DrawEntrant.user_id)
        )
    ).all()
    labels = {row.user_id: row.display_label for row in rows}
    winner_ids = pick_winners(bytes.fromhex(draw.seed), draw.id, list(labels), draw.winners_count)
    for rank, user_id in enumerate(winner_ids, start=1):
        uow.session.add(DrawWinner(draw_id=draw.id, user_id=user_id, rank=rank, display_label=labels[user_id]))
    draw.state = DrawState.DRAWN
    draw.drawn_at = now
    audit_draw(uow, user.id, "draw.draw", draw, live, entrant_count=len(labels), winner_ids=winner_ids)
    # A winner who left the room still hears of the prize (the draw is drawn once: _require_state).
    notify(uow, winner_ids, NotificationKind.DRAW_WON, live.id)
    uow.emit(
        live.id,
        ev.DrawDrawn(
            draw_id=draw.id,
            seed=draw.seed,
            seed_hash=draw.seed_hash or "",
            entrant_count=len(labels),
            winners=[
                ev.DrawWinnerData(rank=rank, user_id=user_id, label=labels[user_id])
                for rank, user_id in enumerate(winner_ids, start=1)
            ],
        ),
    )
    return draw


async def cancel_draw(uow: UnitOfWork, actor: User | None, draw: LuckyDraw, reason: str) -> LuckyDraw:
    """Call a draw off before it is drawn. An opened draw's seed is revealed: anyone can then see
    who would have won, so a cancel cannot quietly dodge a result the host did not like."""
    live = await _session_of(uow.session, draw)
    user = await require_session_operator(uow.session, actor, live)
    draw = await _locked(uow.session, draw)
    _require_state(draw, DrawState.ANNOUNCED, DrawState.OPEN)
    draw.cancel_reason = _cancel_reason(reason)
    draw.state = DrawState.CANCELLED
    draw.cancelled_at = utcnow()
    audit_draw(uow, user.id, "draw.cancel", draw, live, reason=draw.cancel_reason, seed_hash=draw.seed_hash)
    uow.emit(live.id, ev.DrawCancelled(draw_id=draw.id, reason=draw.cancel_reason, seed=draw.seed))
    return draw


def _cancel_reason(reason: str) -> str:
    """The reason as the room will read it: trimmed, REASON_MIN to REASON_MAX characters."""
    reason = reason.strip()
    if len(reason) < REASON_MIN:
        raise Invalid(N_("Give a reason for cancelling the draw: it is shown in the room."), field="reason")
    if len(reason) > REASON_MAX:
        raise Invalid(N_("Must be at most %(max_length)s characters."), field="reason", max_length=REASON_MAX)
    return reason


# -- the viewer's side ----------------------------------------------------------------------------


async def _require_eligible(session: AsyncSession, user: User, live: LiveSession) -> None:
    """People who run the show, or work for the organisation behind it, cannot win its prizes."""
    if (
        user.is_platform_admin
        or user.id in await host_ids_of(session, live.id)
        or await roles_in_org(session, user.id, live.organisation_id)
    ):
        raise NotEligible(N_("The show's hosts and its organisation's members cannot enter its draws."))


async def enter_draw(
    uow: UnitOfWork,
    user: User | None,
    draw: LuckyDraw,
    *,
    comment_text: str | None = None,
    present: bool = True,
) -> tuple[DrawEntrant, bool]:
    """Enter a signed-in viewer. A keyword draw takes entries only from a chat comment containing
    the keyword (`comment_text`, see enter_by_comment); a presence draw from a viewer in the room.
    No purchase is ever asked for. Entering twice is a no-op: returns (entrant, created)."""
    viewer = require_user(user)
    live = await _session_of(uow.session, draw)
    draw = await _locked(uow.session, draw)
    _require_state(draw, DrawState.OPEN)
    if live.state is not SessionState.LIVE:
        raise DrawWrongState(N_("The show is not live; this draw takes no more entries."))
    now = utcnow()
    if draw.closes_at is not None and now >= draw.closes_at:
        raise DrawWrongState(N_("Entries to this draw have closed."))
    if draw.entry_rule is EntryRule.KEYWORD:
        if comment_text is None or normalise(draw.keyword) not in normalise(comment_text):
            raise NotEligible(N_("Comment the keyword “%(keyword)s” in the chat to enter."), keyword=draw.keyword)
    elif not present:
        raise NotEligible(N_("Only viewers in the room can enter this draw."))
    existing = await uow.session.scalar(
        sa.select(DrawEntrant).where(DrawEntrant.draw_id == draw.id, DrawEntrant.user_id == viewer.id)
    )
    if existing is not None:
        return existing, False
    await _require_eligible(uow.session, viewer, live)
    entrant = DrawEntrant(
        draw_id=draw.id, user_id=viewer.id, display_label=mask_name(viewer.display_name), entered_at=now
    )
    uow.session.add(entrant)
    await uow.session.flush()
    audit_draw(uow, viewer.id, "draw.enter", draw, live, rule=draw.entry_rule.value)
    return entrant, True


async def enter_by_comment(uow: UnitOfWork, user: User, session_id: int, text: str) -> list[int]:
    """Called by chat after a message is stored: enters the author into every open keyword draw of
    the session whose keyword the message contains. Never raises for an ineligible author (the
    chat message stands either way). Returns the ids of the draws newly entered.

    One query when no keyword draw is open, which is the common case on the chat hot path."""
    draws = list(
        await uow.session.scalars(
            sa.select(LuckyDraw)
            .where(
                LuckyDraw.session_id == session_id,
                LuckyDraw.state == DrawState.OPEN,
                LuckyDraw.entry_rule == EntryRule.KEYWORD,
            )
            .order_by(LuckyDraw.id)
        )
    )
    folded = normalise(text)
    entered: list[int] = []
    for draw in draws:
        if normalise(draw.keyword) not in folded:
            continue
        try:
            _, created = await enter_draw(uow, user, draw, comment_text=text)
        except (NotEligible, DrawWrongState):
            continue
        if created:
            entered.append(draw.id)
    return entered
