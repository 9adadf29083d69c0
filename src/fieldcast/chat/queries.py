"""Reads of room chat: the history for the room and the replay, mutes, word lists and the
moderation log (taken from the audit log)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.accounts.models import User
from fieldcast.chat import schemas as s
from fieldcast.chat.models import BannedWord, ChatMessage, ChatMute
from fieldcast.db.audit import list_audit
from fieldcast.db.base import utcnow

# Audit entries of chat moderation are kept against this target (id = the session's id).
AUDIT_TARGET = "chat_room"
HISTORY_MAX = 200


async def load_message(session: AsyncSession, message_id: int) -> ChatMessage | None:
    return await session.get(ChatMessage, message_id)


def _active(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(ChatMute.lifted_at.is_(None), sa.or_(ChatMute.until.is_(None), ChatMute.until > now))


async def active_mute(session: AsyncSession, user_id: int, session_id: int) -> ChatMute | None:
    """The user's mute in this room or platform-wide that ends last (None = may post)."""
    stmt = (
        sa.select(ChatMute)
        .where(
            ChatMute.user_id == user_id,
            sa.or_(ChatMute.session_id == session_id, ChatMute.session_id.is_(None)),
            _active(utcnow()),
        )
        .order_by(ChatMute.until.is_(None).desc(), ChatMute.until.desc())
        .limit(1)
    )
    mute: ChatMute | None = await session.scalar(stmt)
    return mute


async def active_mutes(session: AsyncSession, session_id: int | None) -> Sequence[ChatMute]:
    """Mutes in force in one room (or, for None, platform-wide ones)."""
    where = ChatMute.session_id.is_(None) if session_id is None else ChatMute.session_id == session_id
    stmt = sa.select(ChatMute).where(where, _active(utcnow())).order_by(ChatMute.id)
    return (await session.scalars(stmt)).all()


async def banned_words_for(session: AsyncSession, organisation_id: int) -> list[str]:
    """The platform list and the organisation's list together, normalised."""
    stmt = sa.select(BannedWord.word).where(
        sa.or_(BannedWord.organisation_id.is_(None), BannedWord.organisation_id == organisation_id)
    )
    return list(await session.scalars(stmt))


async def list_banned_words(session: AsyncSession, organisation_id: int | None) -> Sequence[BannedWord]:
    where = (
        BannedWord.organisation_id.is_(None)
        if organisation_id is None
        else (BannedWord.organisation_id == organisation_id)
    )
    return (await session.scalars(sa.select(BannedWord).where(where).order_by(BannedWord.word))).all()


def message_out(message: ChatMessage, display_name: str, *, show_removed_text: bool) -> s.ChatMessageOut:
    removed = message.removed_at is not None
    return s.ChatMessageOut(
        id=message.id,
        session_id=message.session_id,
        user_id=message.user_id,
        display_name=display_name,
        body=None if removed and not show_removed_text else message.body,
        is_host=message.is_host,
        offset_s=message.offset_s,
        created_at=message.created_at,
        removed=removed,
        removed_at=message.removed_at,
        removal_reason=message.removal_reason,
    )


async def history(
    session: AsyncSession,
    session_id: int,
    *,
    after_id: int = 0,
    limit: int = 50,
    show_removed_text: bool = False,
) -> s.ChatHistory:
    """Comments in posting order after `after_id`, one query. Removed ones stay in place (shown as
    removed, with the reason) so nobody can make criticism vanish without a trace; their text is
    for moderators only."""
    stmt = (
        sa.select(ChatMessage, User.display_name)
        .outerjoin(User, User.id == ChatMessage.user_id)
        .where(ChatMessage.session_id == session_id, ChatMessage.id > after_id)
        .order_by(ChatMessage.id)
        .limit(limit + 1)
    )
    rows = (await session.execute(stmt)).all()
    more = len(rows) > limit
    items = [message_out(m, name or "", show_removed_text=show_removed_text) for m, name in rows[:limit]]
    return s.ChatHistory(items=items, next_after_id=items[-1].id if more and items else None)


async def recent(session: AsyncSession, session_id: int, count: int = 50) -> list[s.ChatMessageOut]:
    """The last `count` comments, oldest first, as the public sees them (for the room snapshot)."""
    stmt = (
        sa.select(ChatMessage, User.display_name)
        .outerjoin(User, User.id == ChatMessage.user_id)
        .where(ChatMessage.session_id == session_id)
        .order_by(ChatMessage.id.desc())
        .limit(count)
    )
    rows = (await session.execute(stmt)).all()
    return [message_out(m, name or "", show_removed_text=False) for m, name in reversed(rows)]


async def moderation_log(
    session: AsyncSession, session_id: int, *, limit: int = 50, offset: int = 0
) -> list[s.ModerationEntryOut]:
    """Removals and mutes in this room, newest first, from the audit log."""
    rows = await list_audit(session, target_type=AUDIT_TARGET, target_id=str(session_id), limit=limit, offset=offset)
    return [
        s.ModerationEntryOut(
            id=r.id, at=r.created_at, actor_id=r.actor_id, action=r.action, reason=r.reason, details=r.details
        )
        for r in rows
    ]


async def one_message(session: AsyncSession, message: ChatMessage, *, show_removed_text: bool) -> s.ChatMessageOut:
    author = await session.get(User, message.user_id) if message.user_id is not None else None
    return message_out(message, author.display_name if author else "", show_removed_text=show_removed_text)
