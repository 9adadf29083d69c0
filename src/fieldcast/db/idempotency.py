"""Idempotency keys, stored in the same transaction as the write they guard (Stripe's model).

A key is recorded with the response its request produced, by the commit that made the change:
either both are durable or neither is. So a retry after any failure — a crash between the commit
and the response included — finds the first response and never writes twice, and a request that
died before its commit left nothing behind and can be retried at once. Two requests with one key
at the same time take turns: the second waits on the key's lock (lock_key) until the first
commits, then finds its response; the unique key is the backstop. Old keys are removed by a
periodic task (purge)."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from fieldcast.db.base import Base, IdType, utcnow

KEEP_FOR = timedelta(hours=24)


class IdempotentRequest(Base):
    __tablename__ = "idempotent_requests"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    # SHA-256 of caller, method, path and key: a key is the caller's own, per endpoint.
    scope_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # SHA-256 of query and body: a key reused for a different request is refused.
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    status_code: Mapped[int] = mapped_column()
    content_type: Mapped[str] = mapped_column(sa.String(100), default="")
    body: Mapped[bytes] = mapped_column(sa.LargeBinary, default=b"")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


async def lock_key(session: AsyncSession, scope_hash: str) -> None:
    """Hold the key until this transaction ends, so that a concurrent request with the same key
    waits and then sees this one's outcome instead of repeating its work. PostgreSQL: a
    transaction-level advisory lock on the key's hash. SQLite: the write transaction (BEGIN
    IMMEDIATE, db/engine.py) already admits one writer at a time."""
    if session.get_bind().dialect.name == "postgresql":
        lock_id = int.from_bytes(bytes.fromhex(scope_hash[:16]), "big", signed=True)
        await session.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id})


async def find(session: AsyncSession, scope_hash: str) -> IdempotentRequest | None:
    """The recorded outcome of a key (of any age: see is_current)."""
    return await session.scalar(sa.select(IdempotentRequest).where(IdempotentRequest.scope_hash == scope_hash))


async def take_turn(session: AsyncSession, scope_hash: str) -> IdempotentRequest | None:
    """Hold the key (lock_key) and return its recorded outcome if it still counts; an expired
    one is forgotten here, so that this transaction may record the key afresh."""
    await lock_key(session, scope_hash)
    stored = await find(session, scope_hash)
    if stored is not None and is_current(stored):
        return stored
    if stored is not None:
        await session.delete(stored)
        await session.flush()
    return None


def is_current(stored: IdempotentRequest) -> bool:
    """Whether a recorded key still counts; an older one is forgotten (and replaced)."""
    return stored.created_at >= utcnow() - KEEP_FOR


def record(
    session: AsyncSession, scope_hash: str, request_hash: str, status_code: int, content_type: str, body: bytes
) -> None:
    """Add the key and its response to the request's own transaction (flushed at its commit)."""
    session.add(
        IdempotentRequest(
            scope_hash=scope_hash,
            request_hash=request_hash,
            status_code=status_code,
            content_type=content_type[:100],
            body=body,
        )
    )


async def purge(session: AsyncSession, older_than: timedelta = KEEP_FOR) -> int:
    """Delete keys older than `older_than` (a periodic task; returns how many)."""
    result = await session.execute(
        sa.delete(IdempotentRequest).where(IdempotentRequest.created_at < utcnow() - older_than)
    )
    return int(getattr(result, "rowcount", 0) or 0)
