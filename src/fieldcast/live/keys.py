"""Stream keys: one active key per session, shown once, kept only as a SHA-256, rotatable and
revoked when the show ends. The app's own relays (browser go-live, demo video) publish under a
signed internal name instead, so the app never needs to keep a host's key. A publisher sends the
session's public stream name with the key as a query argument (obs_stream_key), so the key is
never a stream name that nginx logs or writes into a path."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.db.base import utcnow
from fieldcast.db.uow import UnitOfWork
from fieldcast.live.models import StreamKey

KEY_PREFIX = "fck_"
INTERNAL_PREFIX = "app-"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def issue_key(uow: UnitOfWork, session_id: int, created_by_id: int | None) -> str:
    """Revoke the session's keys and return a new one (the only time it is seen in plain)."""
    await revoke_keys(uow, session_id)
    key = KEY_PREFIX + secrets.token_urlsafe(24)
    uow.session.add(
        StreamKey(session_id=session_id, key_hash=hash_key(key), prefix=key[:8], created_by_id=created_by_id)
    )
    await uow.session.flush()
    return key


async def revoke_keys(uow: UnitOfWork, session_id: int) -> None:
    await uow.session.execute(
        sa.update(StreamKey)
        .where(StreamKey.session_id == session_id, StreamKey.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def active_key(session: AsyncSession, session_id: int) -> StreamKey | None:
    return await session.scalar(
        sa.select(StreamKey).where(StreamKey.session_id == session_id, StreamKey.revoked_at.is_(None))
    )


async def unrevoked_key(session: AsyncSession, key: str) -> StreamKey | None:
    """The unrevoked key row of a key in plain, or None."""
    if not key.startswith(KEY_PREFIX):
        return None
    found: StreamKey | None = await session.scalar(
        sa.select(StreamKey).where(StreamKey.key_hash == hash_key(key), StreamKey.revoked_at.is_(None))
    )
    return found


async def session_id_for_key(session: AsyncSession, key: str) -> int | None:
    """The session an unrevoked key belongs to, or None."""
    row = await unrevoked_key(session, key)
    return row.session_id if row is not None else None


def internal_publish_name(secret: str, session_id: int) -> str:
    """The RTMP name the app itself publishes a session under (browser go-live, demo video)."""
    mac = hmac.new(secret.encode(), f"publish:{session_id}".encode(), hashlib.sha256).hexdigest()[:32]
    return f"{INTERNAL_PREFIX}{session_id}-{mac}"


def session_id_for_internal_name(secret: str, name: str) -> int | None:
    if not name.startswith(INTERNAL_PREFIX):
        return None
    raw_id, _, _mac = name[len(INTERNAL_PREFIX) :].partition("-")
    if not raw_id.isdigit():
        return None
    session_id = int(raw_id)
    return session_id if hmac.compare_digest(internal_publish_name(secret, session_id), name) else None


def obs_stream_key(stream_name: str, key: str) -> str:
    """What a host types into OBS's "Stream key" field (OBS appends it to the server URL)."""
    return f"{stream_name}?{urlencode({'key': key})}"


def publish_url(rtmp_url: str, stream_name: str, key: str) -> str:
    """The full RTMP URL a publisher uses for a session: its public name, the key as an argument."""
    return f"{rtmp_url.rstrip('/')}/{obs_stream_key(stream_name, key)}"
