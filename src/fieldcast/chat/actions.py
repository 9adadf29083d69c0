"""Writes of room chat: post a comment, remove one, mute and unmute, keep banned-word lists.

Rules from the stories: only signed-in people post (no anonymous hired commenters), each within
a token bucket per room; banned words are refused, not masked, so the sender knows which word;
a host's message still posts when it has Advertising-Law wording, but the host gets a warning.
Removal and mutes need a reason and are written to the audit log with the original text and the
time, so criticism is never removed silently. Events go to the room after the commit."""

from __future__ import annotations

import unicodedata
from datetime import timedelta

from fieldcast.accounts.models import Role, User
from fieldcast.accounts.permissions import require_org_role, require_platform_admin, require_user
from fieldcast.accounts.queries import roles_in_org
from fieldcast.catalog.claims import check_claims, hits_for_log
from fieldcast.chat import errors as e
from fieldcast.chat import queries as q
from fieldcast.chat import schemas as s
from fieldcast.chat.events import MESSAGE_REMOVED, TOPIC_CHAT, ChatMuted, ChatPosted, ChatRemoved, ChatUnmuted
from fieldcast.chat.models import BODY_MAX, REASON_MAX, WORD_MAX, BannedWord, ChatMessage, ChatMute
from fieldcast.chat.ratelimit import RateLimiter, chat_key, retry_after_s
from fieldcast.db.audit import record_audit
from fieldcast.db.base import utcnow
from fieldcast.db.uow import UnitOfWork
from fieldcast.draws import actions as draws_actions
from fieldcast.errors import Conflict, Invalid, NotFound, TooManyRequests
from fieldcast.i18n import N_
from fieldcast.inputs import INVISIBLE, UnsafeText, clean_text
from fieldcast.live.actions import is_session_operator
from fieldcast.live.models import LiveSession, SessionState

WORD_LIST_MANAGERS = (Role.OWNER, Role.ORGANISER)


# -- text -----------------------------------------------------------------------------------------


def clean_body(text: str) -> str:
    """The comment as stored: line breaks and tabs become spaces, then inputs.clean_text (NFKC;
    UnsafeText for bidirectional controls, other control characters, or nothing visible), and the
    ends are stripped. It stays plain text: escaping is the renderer's job (Jinja autoescape,
    `textContent`), so what was typed is what is shown."""
    flat = "".join(" " if ch in "\r\n\t" else ch for ch in text)
    return clean_text(flat, one_line=True).strip()


def normalise_word(text: str) -> str:
    """The form banned words are stored and matched in: NFKC (full-width to half-width), case
    folded, without spaces or zero-width characters, so "刷 单" and "ＶＸ" do not slip through."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if not ch.isspace() and ch not in INVISIBLE)


def _banned_word_in(text: str, words: list[str]) -> str | None:
    matchable = normalise_word(text)
    return next((w for w in sorted(words) if w and w in matchable), None)


# -- who may moderate -----------------------------------------------------------------------------


async def is_moderator(uow: UnitOfWork, actor: User | None, live: LiveSession) -> bool:
    """The session's operators (hosts, its organisation's owners and organisers, platform admins)
    and the organisation's supervisors."""
    if actor is None or not actor.is_active:
        return False
    if await is_session_operator(uow.session, actor, live):
        return True
    return Role.SUPERVISOR in await roles_in_org(uow.session, actor.id, live.organisation_id)


async def require_moderator(uow: UnitOfWork, actor: User | None, live: LiveSession) -> User:
    user = require_user(actor)
    if not await is_moderator(uow, user, live):
        raise e.NotModerator(N_("Only this room's hosts, organisers and supervisors may moderate its chat."))
    return user


def _reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise Invalid(N_("Give a reason: it is shown in the moderation log."), field="reason")
    if len(reason) > REASON_MAX:
        raise Invalid(N_("Must be at most %(max_length)s characters."), field="reason", max_length=REASON_MAX)
    return reason


def _audit(uow: UnitOfWork, actor: User, action: str, live: LiveSession, reason: str, **details: object) -> None:
    record_audit(
        uow,
        actor_id=actor.id,
        action=action,
        target_type=q.AUDIT_TARGET,
        target_id=live.id,
        reason=reason,
        organisation_id=live.organisation_id,
        details=dict(details),
    )


# -- posting --------------------------------------------------------------------------------------


async def send_message(
    uow: UnitOfWork, limiter: RateLimiter, actor: User | None, live: LiveSession, text: str
) -> s.ChatPostedOut:
    """Post a comment. Viewers post while the show is live; its operators also before it starts
    (warming up the room). Operators are not rate-limited: the host answers comments one by one."""
    user = require_user(actor)
    operator = await is_session_operator(uow.session, user, live)
    if live.state != SessionState.LIVE and not (operator and live.state == SessionState.SCHEDULED):
        if live.state == SessionState.SCHEDULED:
            raise e.ChatClosed(N_("Chat opens when the show goes live."))
        raise e.ChatClosed(N_("This show has ended; its chat is closed."))
    if await q.active_mute(uow.session, user.id, live.id) is not None:
        raise e.Muted(N_("You have been muted in this room."))
    try:
        body = clean_body(text)
    except UnsafeText as exc:
        raise Invalid(exc.message, field="body") from None
    if not body:
        raise Invalid(N_("Write a message first."), field="body")
    if len(body) > BODY_MAX:
        raise Invalid(N_("Must be at most %(max_length)s characters."), field="body", max_length=BODY_MAX)
    if not operator:
        wait_s = await limiter.take(chat_key(live.id, user.id))
        if wait_s > 0:
            raise TooManyRequests(
                N_("You are sending messages too fast. Try again in %(retry_after_s)s s."),
                field="body",
                retry_after_s=retry_after_s(wait_s),
            )
    word = _banned_word_in(body, await q.banned_words_for(uow.session, live.organisation_id))
    if word is not None:
        raise e.BannedWordUsed(
            N_("Your message contains a word that is not allowed here: %(word)s."), field="body", word=word
        )
    now = utcnow()
    message = ChatMessage(
        session_id=live.id,
        user_id=user.id,
        body=body,
        is_host=operator,
        offset_s=(now - live.started_at).total_seconds() if live.started_at is not None else None,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(message)
    await uow.session.flush()
    # Commenting a draw's keyword is how viewers enter keyword draws (never a purchase).
    await draws_actions.enter_by_comment(uow, user, live.id, body)
    uow.emit(
        live.id,
        ChatPosted(id=message.id, user_id=user.id, display_name=user.display_name, body=body, is_host=operator, at=now),
    )
    # Hosts' words are checked against the Advertising Law. The room page checks a host's line
    # before sending it (POST /claims/check) and asks again; a line sent anyway stands, the host
    # sees the warnings, and the audit log keeps what was said and which rules it broke.
    hits = check_claims(body) if operator else []
    warnings = [s.ClaimWarning(term=h.term, rule=h.rule, article=h.article, suggestion=h.suggestion) for h in hits]
    if hits:
        claims = hits_for_log({"body": hits})
        _audit(uow, user, "chat.claims_sent", live, "", message_id=message.id, body=body, claims=claims)
    out = q.message_out(message, user.display_name, show_removed_text=False)
    return s.ChatPostedOut(**out.model_dump(), warnings=warnings)


# -- moderation -----------------------------------------------------------------------------------


async def delete_message(
    uow: UnitOfWork, actor: User | None, live: LiveSession, message: ChatMessage, reason: str
) -> ChatMessage:
    """Remove a comment from the room. The row and its text stay (moderators and the audit log
    see them); the public history shows that it was removed, when and why."""
    user = await require_moderator(uow, actor, live)
    reason = _reason(reason)
    if message.session_id != live.id:
        raise NotFound(N_("No such message."))
    if message.removed_at is not None:
        raise Conflict(N_("This message was already removed."))
    author = await uow.session.get(User, message.user_id) if message.user_id is not None else None
    now = utcnow()
    message.removed_at = now
    message.removed_by_id = user.id
    message.removal_reason = reason
    _audit(
        uow,
        user,
        "chat.remove",
        live,
        reason,
        message_id=message.id,
        author_id=message.user_id,
        author_name=author.display_name if author else "",
        body=message.body,
        posted_at=message.created_at.isoformat(),
        removed_at=now.isoformat(),
    )
    uow.emit(live.id, ChatRemoved(id=message.id, reason=reason))
    # Integrity (above chat) judges who removed what as soon as it happens, not only at the end.
    uow.publish(
        TOPIC_CHAT,
        str(live.id),
        MESSAGE_REMOVED,
        {"session_id": live.id, "message_id": message.id, "removed_by_id": user.id},
    )
    return message


async def _require_mutable(uow: UnitOfWork, live: LiveSession | None, user_id: int) -> User:
    target = await uow.session.get(User, user_id)
    if target is None:
        raise NotFound(N_("No such user."), field="user_id")
    if target.is_platform_admin or (live is not None and await is_moderator(uow, target, live)):
        raise e.CannotMuteModerator(N_("A host or moderator of this room cannot be muted."), field="user_id")
    return target


async def _lift(uow: UnitOfWork, actor: User, session_id: int | None, user_id: int) -> int:
    mutes = [m for m in await q.active_mutes(uow.session, session_id) if m.user_id == user_id]
    now = utcnow()
    for mute in mutes:
        mute.lifted_at = now
        mute.lifted_by_id = actor.id
    return len(mutes)


async def mute_user(
    uow: UnitOfWork, actor: User | None, live: LiveSession, user_id: int, reason: str, minutes: int | None
) -> ChatMute:
    """Stop a user posting in this room for `minutes` (None: the rest of the show). A new mute
    replaces one in force. Hosts and moderators cannot be muted."""
    user = await require_moderator(uow, actor, live)
    reason = _reason(reason)
    target = await _require_mutable(uow, live, user_id)
    await _lift(uow, user, live.id, target.id)
    until = utcnow() + timedelta(minutes=minutes) if minutes is not None else None
    mute = ChatMute(session_id=live.id, user_id=target.id, muted_by_id=user.id, reason=reason, until=until)
    uow.session.add(mute)
    await uow.session.flush()
    _audit(
        uow,
        user,
        "chat.mute",
        live,
        reason,
        user_id=target.id,
        user_name=target.display_name,
        minutes=minutes,
        until=until.isoformat() if until else None,
    )
    uow.emit(live.id, ChatMuted(user_id=target.id, until=until))
    return mute


async def unmute_user(uow: UnitOfWork, actor: User | None, live: LiveSession, user_id: int) -> None:
    user = await require_moderator(uow, actor, live)
    if not await _lift(uow, user, live.id, user_id):
        raise NotFound(N_("This user is not muted in this room."), field="user_id")
    _audit(uow, user, "chat.unmute", live, "", user_id=user_id)
    uow.emit(live.id, ChatUnmuted(user_id=user_id))


async def mute_platform_wide(
    uow: UnitOfWork, actor: User | None, user_id: int, reason: str, minutes: int | None
) -> ChatMute:
    """Platform admins: stop a user posting in every room (None: until lifted)."""
    admin = require_platform_admin(actor)
    reason = _reason(reason)
    target = await _require_mutable(uow, None, user_id)
    await _lift(uow, admin, None, target.id)
    until = utcnow() + timedelta(minutes=minutes) if minutes is not None else None
    mute = ChatMute(session_id=None, user_id=target.id, muted_by_id=admin.id, reason=reason, until=until)
    uow.session.add(mute)
    await uow.session.flush()
    record_audit(
        uow,
        actor_id=admin.id,
        action="chat.mute",
        target_type="user",
        target_id=target.id,
        reason=reason,
        details={"scope": "platform", "minutes": minutes, "until": until.isoformat() if until else None},
    )
    return mute


async def unmute_platform_wide(uow: UnitOfWork, actor: User | None, user_id: int) -> None:
    admin = require_platform_admin(actor)
    if not await _lift(uow, admin, None, user_id):
        raise NotFound(N_("This user is not muted platform-wide."), field="user_id")
    record_audit(
        uow,
        actor_id=admin.id,
        action="chat.unmute",
        target_type="user",
        target_id=user_id,
        details={"scope": "platform"},
    )


# -- banned-word lists ----------------------------------------------------------------------------


async def require_word_list_manager(uow: UnitOfWork, actor: User | None, organisation_id: int | None) -> User:
    """Platform admins keep the platform list; an organisation's owners and organisers its own."""
    if organisation_id is None:
        return require_platform_admin(actor)
    user = require_user(actor)
    await require_org_role(uow.session, user, organisation_id, *WORD_LIST_MANAGERS)
    return user


async def add_banned_word(uow: UnitOfWork, actor: User | None, data: s.BannedWordIn) -> BannedWord:
    user = await require_word_list_manager(uow, actor, data.organisation_id)
    word = normalise_word(data.word)
    if not word:
        raise Invalid(N_("Enter a word."), field="word")
    if len(word) > WORD_MAX:
        raise Invalid(N_("Must be at most %(max_length)s characters."), field="word", max_length=WORD_MAX)
    if word in {w.word for w in await q.list_banned_words(uow.session, data.organisation_id)}:
        raise Conflict(N_("This word is already on the list."), field="word")
    row = BannedWord(organisation_id=data.organisation_id, word=word, created_by_id=user.id)
    uow.session.add(row)
    await uow.session.flush()
    record_audit(
        uow,
        actor_id=user.id,
        action="chat.banned_word.add",
        target_type="chat_banned_word",
        target_id=row.id,
        organisation_id=data.organisation_id,
        details={"word": word},
    )
    return row


async def remove_banned_word(uow: UnitOfWork, actor: User | None, row: BannedWord) -> None:
    user = await require_word_list_manager(uow, actor, row.organisation_id)
    record_audit(
        uow,
        actor_id=user.id,
        action="chat.banned_word.remove",
        target_type="chat_banned_word",
        target_id=row.id,
        organisation_id=row.organisation_id,
        details={"word": row.word},
    )
    await uow.session.delete(row)
